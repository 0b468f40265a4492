"""Where a training step's time goes: decoding, augmentation, features (packing, log-mel, SpecAugment), forward,
backward, optimizer. Prints a table and audio seconds trained per wall second; not a timed test.

    python benchmarks/step_time.py --script train --steps 8                     # train.py's setup
    python benchmarks/step_time.py --script finetune --steps 8                  # finetune_hume.py's setup
    python benchmarks/step_time.py --script train --audio_cache_dir none        # decode at every use (before)
    python benchmarks/step_time.py --script train --bf16                        # bf16 autocast on forward/backward

Both scripts build their steps through the same `build_trainer` (Algorithm 1 packs, augmentation at p = 0.2,
SpecAugment), so the collator and the model are exactly what training runs. Stages run one after another here;
`--trainer` instead runs the real Trainer (its DataLoader, workers, clipping, scheduler, logging) for the same
number of steps and reports its own audio seconds per second. The first `--warmup` steps are not counted.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import TrainingArguments, WhisperFeatureExtractor  # noqa: E402

from modeling_emotion_whisper import WhisperForEmotionClassification  # noqa: E402
from modeling_emotion_whisper.packing import make_packs  # noqa: E402
from modeling_emotion_whisper.trainer import PackingArguments, build_trainer  # noqa: E402

HUME = ("Anger", "Boredom", "Calmness", "Concentration", "Determination", "Excitement", "Interest", "Sadness",
        "Tiredness")


def rows_for(args):
    from datasets import load_from_disk

    train = load_from_disk(args.dataset_path)["train"]
    if args.script == "finetune":  # finetune_hume.py: its own small table of rows, 9 targets in [0, 1], one domain
        pick = np.random.default_rng(0).choice(len(train), size=min(args.finetune_clips, len(train)), replace=False)
        train = train.select(sorted(pick.tolist()))
        rng = np.random.default_rng(1)
        train = train.map(lambda r: {"soft_label": rng.uniform(0, 1, len(HUME)).tolist(), "domain": 0})
    return train


def model_for(args, num_domains):
    if args.script == "finetune":
        return WhisperForEmotionClassification.from_whisper(
            args.model, id2label=dict(enumerate(HUME)), label2id={c: i for i, c in enumerate(HUME)},
            emotion_loss="sigmoid_mse", num_domains=0)
    return WhisperForEmotionClassification.from_whisper(args.model, num_domains=num_domains)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", choices=["train", "finetune"], default="train")
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--model", default="../shared/models/whisper-base-encoder")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--packs_per_batch", type=int, default=2)
    parser.add_argument("--finetune_clips", type=int, default=392, help="rows in the finetune setup")
    parser.add_argument("--audio_cache_dir", default="data/decoded-16k", help="'none': decode at every use")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for forward and backward")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--trainer", action="store_true", help="run the real Trainer instead of the staged loop")
    parser.add_argument("--dataloader_num_workers", type=int, default=0, help="with --trainer")
    parser.add_argument("--json", help="also write the row as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    rows = rows_for(args)
    vocabulary = json.loads(Path(args.dataset_path, "domains.json").read_text())
    model = model_for(args, len(vocabulary))
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True)
    packs_per_epoch = len(make_packs(rows["duration"], 42))
    total = args.steps + args.warmup
    packing = PackingArguments(packs_per_batch=args.packs_per_batch, accumulation_schedule="0:1",
                               num_epochs=total * args.packs_per_batch / packs_per_epoch,
                               audio_cache_dir=args.audio_cache_dir)
    out = tempfile.mkdtemp(prefix="step-time-")
    training_args = TrainingArguments(output_dir=out, use_cpu=True, report_to=[], logging_steps=1, save_strategy="no",
                                      learning_rate=5e-5, warmup_steps=0.1, seed=42, bf16=args.bf16,
                                      dataloader_num_workers=args.dataloader_num_workers, torch_compile=args.compile)
    start = time.perf_counter()
    trainer, _ = build_trainer(model, training_args, rows, extractor, packing)
    setup = time.perf_counter() - start
    collator, steps = trainer.data_collator, trainer.train_dataset

    if args.trainer:
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
        logs = [h for h in trainer.state.log_history if "audio_seconds_per_second" in h][args.warmup:]
        rate = float(np.mean([h["audio_seconds_per_second"] for h in logs]))
        row = {"script": args.script, "mode": "Trainer", "steps": trainer.state.global_step, "wall": round(wall, 1),
               "audio_seconds_per_second": round(rate, 2), "setup_seconds": round(setup, 1)}
        print(json.dumps(row))
        return row

    net = torch.compile(model) if args.compile else model
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5, weight_decay=0.01)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)
    times, audio, losses = {k: 0.0 for k in ("forward", "backward", "optimizer")}, 0.0, []
    net.train()
    for i in range(total):
        if i == args.warmup:
            collator.seconds.clear()
            times, audio = {k: 0.0 for k in times}, 0.0
        t0 = time.perf_counter()
        batch = collator([steps[i]])
        for micro in batch["micro_batches"]:
            padding = float(micro.pop("padding_fraction"))
            audio += micro["input_features"].shape[0] * 30.0 * (1 - padding)
            t1 = time.perf_counter()
            with autocast:
                loss = net(**micro).loss
            t2 = time.perf_counter()
            loss.backward()
            t3 = time.perf_counter()
            times["forward"] += t2 - t1
            times["backward"] += t3 - t2
            losses.append(float(loss.detach()))
        t4 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times["optimizer"] += time.perf_counter() - t4
        del t0
    stages = {**{k: collator.seconds.get(k, 0.0) for k in ("decode", "augment", "features")}, **times}
    wall = sum(stages.values())
    outside = wall - stages["forward"] - stages["backward"]
    print(f"| {args.script} | stage | s/step | share |\n|---|---|---|---|")
    for name, seconds in stages.items():
        print(f"| | {name} | {seconds / args.steps:.3f} | {100 * seconds / wall:.1f} % |")
    rate = audio / wall
    print(f"\n{args.steps} steps of {args.packs_per_batch} packs ({audio / args.steps:.1f} s of audio per step): "
          f"{rate:.2f} audio s/s; outside forward+backward {100 * outside / wall:.1f} %; "
          f"threads {torch.get_num_threads()}; losses {', '.join(f'{x:.3f}' for x in losses[-4:])}; setup {setup:.1f} s")
    row = {"script": args.script, "cache": args.audio_cache_dir, "bf16": args.bf16, "compile": args.compile,
           "threads": torch.get_num_threads(), "seconds_per_step": {k: round(v / args.steps, 4) for k, v in stages.items()},
           "audio_seconds_per_second": round(rate, 2), "outside_share": round(outside / wall, 4),
           "losses": [round(x, 4) for x in losses], "setup_seconds": round(setup, 1)}
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=1))
    return row


if __name__ == "__main__":
    main()

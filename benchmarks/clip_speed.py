"""Clip inference at speed: this project's path (each clip at its own length, sorted and batched) against the
naive padded pipeline (every clip padded to 30 s and computed in full, one at a time, as transformers' stock
audio-classification pipeline does with a Whisper feature extractor), on the same clips, with both micro-F1s.
A third row feeds the padded clips without their attention mask (the paper's evaluation protocol, "no masking
applied"): this model was trained with masked pooling, so that row shows what masking is worth, not a speed.

    python benchmarks/clip_speed.py --model checkpoints/emotion-whisper-base --dataset_path data/speaker-split \
        --split validation --clips 300
"""

import argparse
import time

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from modeling_emotion_whisper.audio import load_audio
from modeling_emotion_whisper.evaluation import corpus_label_sets, predict_logits, score
from modeling_emotion_whisper.features import label_names
from modeling_emotion_whisper.inference import load_model
from modeling_emotion_whisper.packing import ClipCollator


@torch.no_grad()
def padded_logits(model, rows, mask: bool):
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True)
    out = np.zeros((len(rows), model.config.num_labels), dtype=np.float32)
    for i, row in enumerate(rows):
        audio = load_audio(row["path"], offset=row.get("offset", 0.0), duration=row["duration"])[: 30 * 16000]
        features = extractor(audio, sampling_rate=16000, return_attention_mask=True, return_tensors="pt")  # 3000 frames
        out[i] = model(input_features=features["input_features"].to(model.dtype),
                       attention_mask=features["attention_mask"] if mask else None, trim_padding=False,
                       apply_logit_adjustment=False).logits[0].float().numpy()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--clips", type=int, default=300, help="seeded random sample of the split")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from datasets import load_from_disk

    data = load_from_disk(args.dataset_path)
    label_sets = corpus_label_sets(data)
    rows = data[args.split]
    rows = rows.shuffle(seed=args.seed).select(range(min(args.clips, len(rows))))
    model, _ = load_model(args.model)
    names = label_names(model)
    collator = ClipCollator(WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True))
    results = {}
    for name, run in (("unpadded, batched (this project)", lambda: predict_logits(model, rows, collator, args.batch_size)),
                      ("padded to 30 s, one by one (naive pipeline)", lambda: padded_logits(model, rows, True)),
                      ("padded to 30 s, no attention mask (paper protocol)", lambda: padded_logits(model, rows, False))):
        start = time.perf_counter()
        logits = run()
        elapsed = time.perf_counter() - start
        scores = score(logits, rows, names, model.config.label_prior, model.config.logit_adjustment_tau,
                       corpus_labels=label_sets)
        results[name] = (len(rows) / elapsed, scores["overall"]["micro_f1"], elapsed)
    audio = sum(rows["duration"])
    print(f"{len(rows)} clips ({audio:.0f} s of audio) of {args.dataset_path}[{args.split}], seed {args.seed}, "
          f"{torch.get_num_threads()} CPU threads; micro-F1 with label banning and logit adjustment\n")
    print("| path | clips/s | wall (s) | micro-F1 |\n|---|---|---|---|")
    for name, (rate, f1, elapsed) in results.items():
        print(f"| {name} | {rate:.2f} | {elapsed:.1f} | {100 * f1:.2f} |")


if __name__ == "__main__":
    main()

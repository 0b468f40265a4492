"""Does int8 agree with PyTorch? fp32, dynamic int8 and static (calibrated) int8 exports on the validation clips.

    python benchmarks/int8_agreement.py --model checkpoints/emotion-whisper-base --onnx /tmp/onnx-base \
        --dataset_path data/speaker-split-neutral [--max_clips 300] [--variants]

Exports the model first when --onnx lacks a file (emotion-whisper export-onnx --quantize int8 int8-static
--calibration DATASET_PATH: static int8 is calibrated on clips of the build's train split). Then scores the validation
clips (all of them by default; --max_clips: a seeded draw) with PyTorch and each ONNX graph, in chunks of 256 clips
decoded once and scored by every backend in turn (so that a busy machine slows them alike), and reports for each:
- same top emotion as PyTorch (% of clips, arg-max of the raw clip logits: the "same label" of issue 27) and the same
  decision (% of clips, after label banning and logit adjustment, as micro-F1 judges them);
- micro-F1, evaluate_model.py's protocol (each corpus judged on its label set in the whole build, logit adjustment by
  the training prior), and its difference from fp32;
- clips per second of scoring (predict_clips, batches of 8 at each clip's own length; decoding not counted);
- the mean and largest |logit difference| from PyTorch (--json: the logits too, in a .npz beside it).
Issue 27's target for static int8: >= 98 % same top emotion, micro-F1 within 0.5 points of fp32, faster than fp32.

--variants: also quantizes the fp32 graph with the other static recipes in VARIANTS (written beside it as
model_int8_static-NAME.onnx) and scores them alongside, to choose onnx_export.STATIC_INT8 (use a subset: --max_clips).
Graphs already in --onnx are used as they are: delete them after changing a recipe or the model.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Static int8 recipes tried: onnx_export.STATIC_INT8 (model_int8_static.onnx) with these keywords of
# onnx_export.quantize_static_int8 changed.
VARIANTS = {
    "fc2-int8": {"exclude": ("first", "last")},
    "edges-int8": {"exclude": ("fc2",)},
    "attention-too": {"weights_only": False},
    "attention-only": {"exclude": ("first", "last", "fc1", "fc2")},
    "percentile": {"method": "percentile"},  # histogram methods: calibrated on the clips end to end in 4 s pieces
    "fc2-dynamic": {"exclude": ("first", "last"), "dynamic": ("fc2",)},
    "calibration-256": {"calibration_clips": 256},
}
CHUNK = 256


def clip_rows(args):
    from datasets import load_from_disk

    from modeling_emotion_whisper.evaluation import corpus_label_sets

    data = load_from_disk(args.dataset_path)
    rows = data["validation"]
    if args.max_clips and len(rows) > args.max_clips:
        rows = rows.select(np.sort(np.random.default_rng(args.seed).permutation(len(rows))[: args.max_clips]))
    return rows, corpus_label_sets(data)


def make_exports(args):
    """The export under --onnx (made when a file is missing) and, with --variants, the other static recipes."""
    import torch

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.onnx_export import (STATIC_INT8_FILE, calibration_waves, export_onnx,
                                                      quantize_static_int8)

    onnx = Path(args.onnx)
    if not all((onnx / name).exists() for name in ("model.onnx", "model_int8.onnx", "config.json")):
        report = export_onnx(args.model, onnx, quantize="int8,int8-static", calibration=args.dataset_path)
        print("export check (generated audio):", json.dumps(report), flush=True)
    model = WhisperForEmotionClassification.from_pretrained(args.model, dtype=torch.float32).eval()
    waves = None
    wanted = {"onnx int8 static": (STATIC_INT8_FILE, {})}
    if args.variants:
        wanted.update({f"static {name}": (f"model_int8_static-{name}.onnx", settings)
                       for name, settings in VARIANTS.items()})
    files = {"onnx fp32": onnx / "model.onnx", "onnx int8 dynamic": onnx / "model_int8.onnx"}
    for label, (name, settings) in wanted.items():
        file = files[label] = onnx / name
        if file.exists():
            continue
        settings = dict(settings)
        clips = settings.pop("calibration_clips", None)
        if clips:
            calibration = calibration_waves(args.dataset_path, clips)
        else:
            waves = waves if waves is not None else calibration_waves(args.dataset_path)
            calibration = waves
        started = time.perf_counter()
        quantize_static_int8(onnx / "model.onnx", file, model, calibration, **settings)
        recipe = wanted[label][1] or "(onnx_export.STATIC_INT8)"
        print(f"{name} {recipe}: quantized in {time.perf_counter() - started:.0f} s", flush=True)
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="checkpoints/emotion-whisper-base")
    parser.add_argument("--onnx", default="/tmp/onnx-base", help="export folder (made when a file is missing)")
    parser.add_argument("--dataset_path", default="data/speaker-split-neutral",
                        help="a build of data_scripts.build: validation clips are scored, train clips calibrate")
    parser.add_argument("--max_clips", type=int, default=0, help="score a seeded draw of this many clips (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", action="store_true", help="also score the static recipes in VARIANTS")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    from modeling_emotion_whisper.audio import load_audio
    from modeling_emotion_whisper.evaluation import decided_logits, score
    from modeling_emotion_whisper.features import label_names
    from modeling_emotion_whisper.inference import load_model, predict_clips
    from modeling_emotion_whisper.onnx_backend import OnnxScorer

    files = make_exports(args)
    rows, label_sets = clip_rows(args)
    model, extractor = load_model(args.model)
    backends = {"pytorch": (model, extractor), **{name: (OnnxScorer(file), None) for name, file in files.items()}}
    seconds = dict.fromkeys(backends, 0.0)
    logits = {name: [] for name in backends}
    for start in range(0, len(rows), CHUNK):
        chunk = rows.select(range(start, min(start + CHUNK, len(rows))))
        waves = [load_audio(path) for path in chunk["path"]]
        for name, (scorer, features) in backends.items():
            begun = time.perf_counter()
            scored = predict_clips(scorer, features, waves, batch_size=8, return_raw=True)
            seconds[name] += time.perf_counter() - begun
            logits[name].append(np.stack([r["logits"] for r in scored]))
        print(f"{start + len(chunk)}/{len(rows)} clips", {k: round(v, 1) for k, v in seconds.items()}, flush=True)
    logits = {name: np.concatenate(parts) for name, parts in logits.items()}

    names, prior, tau = label_names(model), model.config.label_prior, model.config.logit_adjustment_tau
    decided = {name: decided_logits(x, rows, prior, tau, corpus_labels=label_sets).argmax(1)
               for name, x in logits.items()}
    reference = logits["pytorch"]
    results = {}
    for name, x in logits.items():
        results[name] = {
            "same_top_emotion": float(np.mean(x.argmax(1) == reference.argmax(1))),
            "same_decision": float(np.mean(decided[name] == decided["pytorch"])),
            "micro_f1": score(x, rows, names, prior, tau, corpus_labels=label_sets)["overall"]["micro_f1"],
            "clips_per_second": len(rows) / seconds[name],
            "max_logit_diff": float(np.abs(x - reference).max()),
            "mean_logit_diff": float(np.abs(x - reference).mean()),
        }
    fp32 = results["onnx fp32"]
    print(f"\n{len(rows)} validation clips of {args.dataset_path} ({sum(rows['duration']) / 3600:.2f} h), "
          f"{os.cpu_count()} CPU threads, model {args.model}, exports in {args.onnx}\n")
    print("| backend | same top emotion as PyTorch % | same decision % | micro-F1 | vs fp32 | clips/s | vs fp32 "
          "| mean / max abs logit diff |\n|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {100 * r['same_top_emotion']:.2f} | {100 * r['same_decision']:.2f} | "
              f"{100 * r['micro_f1']:.2f} | {100 * (r['micro_f1'] - fp32['micro_f1']):+.2f} | "
              f"{r['clips_per_second']:.1f} | {r['clips_per_second'] / fp32['clips_per_second']:.2f}x | "
              f"{r['mean_logit_diff']:.3f} / {r['max_logit_diff']:.2f} |")
    static = results["onnx int8 static"]
    met = (static["same_top_emotion"] >= 0.98 and abs(static["micro_f1"] - fp32["micro_f1"]) <= 0.005
           and static["clips_per_second"] > fp32["clips_per_second"])
    print(f"\nstatic int8 target (>= 98 % same top emotion, micro-F1 within 0.5 of fp32, faster than fp32): "
          f"{'met' if met else 'NOT met'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"clips": len(rows), "results": results}, indent=1))
        np.savez(Path(args.json).with_suffix(".npz"), paths=np.asarray(rows["path"]), **logits)


if __name__ == "__main__":
    main()

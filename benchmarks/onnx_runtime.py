"""PyTorch against onnxruntime fp32 and int8 on the same clips, in one run: speed, memory, start-up, agreement.

    python benchmarks/onnx_runtime.py --model checkpoints/emotion-whisper-base --onnx runs/onnx-base

Exports the model first when --onnx holds no export (emotion-whisper export-onnx --quantize int8). Then, for each
backend, in fresh processes (so that peak memory and start-up are the backend's own):
- clips: every validation clip of the built dataset (--dataset_path; speakers never trained on), batched (8) at
  their own length: clips per second of scoring, peak resident memory; the logits are kept for agreement;
- timeline: a 10-minute recording (validation clips end to end, written once) through `timeline`: real-time factor;
- cold start: `emotion-whisper predict ONE_CLIP` as a new process, wall time to the printed answer (median of 3);
- agreement with PyTorch: share of clips with the same top emotion, largest |logit difference|, and micro-F1 with
  label banning and logit adjustment per corpus (evaluate_model.py's protocol).
Prints a markdown table; run it on an idle machine (docs/results.md, "ONNX").
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BACKENDS = {"pytorch": ("torch", None), "onnx fp32": ("onnx", "model.onnx"), "onnx int8": ("onnx", "model_int8.onnx")}


def scorer_for(backend, args):
    from modeling_emotion_whisper.inference import load_model
    from modeling_emotion_whisper.onnx_backend import OnnxScorer

    kind, file = BACKENDS[backend]
    return load_model(args.model) if kind == "torch" else (OnnxScorer(Path(args.onnx) / file), None)


def worker(args):
    """One backend, one task, in this process; prints a JSON line."""
    from modeling_emotion_whisper.inference import predict_clips, timeline

    model, extractor = scorer_for(args.worker, args)
    result = {}
    if args.task == "clips":
        paths = json.loads(Path(args.work, "clips.json").read_text())["paths"]
        start = time.perf_counter()
        scored = predict_clips(model, extractor, paths, batch_size=8, return_raw=True)
        result["seconds"] = time.perf_counter() - start
        np.save(Path(args.work, f"logits-{args.worker.replace(' ', '-')}.npy"), np.stack([r["logits"] for r in scored]))
    else:
        start = time.perf_counter()
        line = timeline(model, extractor, Path(args.work, "long.flac"))
        result["seconds"] = time.perf_counter() - start
        result["duration"] = line.duration
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def run_worker(backend, task, args) -> dict:
    command = [sys.executable, __file__, "--worker", backend, "--task", task, "--model", args.model, "--onnx", args.onnx,
               "--work", args.work]
    run = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    if run.returncode or not lines:
        raise SystemExit(f"{backend} {task} failed:\n{run.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def cold_start(backend, args, clip) -> float:
    kind, file = BACKENDS[backend]
    model = args.model if kind == "torch" else str(Path(args.onnx) / file)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("emotion-whisper")), "predict", clip, "--model", model,
                        "--backend", kind], check=True, capture_output=True, cwd=REPO)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def prepare(args):
    """The validation clips and the 10-minute recording, written once into --work."""
    import soundfile as sf
    from datasets import load_from_disk

    from modeling_emotion_whisper.audio import load_audio
    from modeling_emotion_whisper.evaluation import corpus_label_sets

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = load_from_disk(args.dataset_path)
    rows = data["validation"]
    if args.max_clips and len(rows) > args.max_clips:
        rows = rows.shuffle(seed=0).select(range(args.max_clips))
    (work / "clips.json").write_text(json.dumps({"paths": list(rows["path"])}))
    if not (work / "long.flac").exists():
        waves, total, i = [], 0, 0
        order = np.random.default_rng(0).permutation(len(rows))
        while total < args.long_seconds * 16000:
            wave = load_audio(rows[int(order[i % len(order)])]["path"])
            waves.append(wave)
            total += wave.size
            i += 1
        sf.write(work / "long.flac", np.concatenate(waves)[: int(args.long_seconds * 16000)], 16000)
    return rows, corpus_label_sets(data)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="checkpoints/emotion-whisper-base")
    parser.add_argument("--onnx", default="runs/onnx-base", help="export folder (made when missing)")
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--max_clips", type=int, default=0, help="score at most this many validation clips (0: all)")
    parser.add_argument("--long_seconds", type=float, default=600.0)
    parser.add_argument("--work", default="runs/onnx-bench")
    parser.add_argument("--worker", choices=list(BACKENDS), help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=["clips", "timeline"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    from modeling_emotion_whisper.evaluation import score
    from modeling_emotion_whisper.features import label_names
    from modeling_emotion_whisper.inference import load_model

    if not (Path(args.onnx) / "model_int8.onnx").exists():
        from modeling_emotion_whisper.onnx_export import export_onnx

        print(json.dumps(export_onnx(args.model, args.onnx, quantize="int8"), indent=1))
    rows, label_sets = prepare(args)
    model, _ = load_model(args.model)
    names, prior = label_names(model), model.config.label_prior
    results = {}
    for backend in BACKENDS:
        clips = run_worker(backend, "clips", args)
        line = run_worker(backend, "timeline", args)
        logits = np.load(Path(args.work, f"logits-{backend.replace(' ', '-')}.npy"))
        results[backend] = {
            "clips_per_second": len(rows) / clips["seconds"], "clips_peak_mb": clips["peak_mb"],
            "timeline_rtf": line["seconds"] / line["duration"], "timeline_peak_mb": line["peak_mb"],
            "cold_start_s": cold_start(backend, args, rows[0]["path"]),
            "micro_f1": score(logits, rows, names, prior, model.config.logit_adjustment_tau,
                              corpus_labels=label_sets)["overall"]["micro_f1"],
            "logits": logits,
        }
        print(backend, {k: v for k, v in results[backend].items() if k != "logits"}, flush=True)
    reference = results["pytorch"]["logits"]
    header = ("| backend | clips/s | peak MB (clips) | timeline RTF (10 min) | peak MB (timeline) | cold start s "
              "| same top emotion % | max abs logit diff | micro-F1 |")
    print(f"\n{len(rows)} validation clips ({sum(rows['duration']) / 3600:.2f} h), {os.cpu_count()} CPU threads, "
          f"model {args.model}\n\n{header}\n|" + "---|" * 9)
    for backend, r in results.items():
        same = 100 * np.mean(r["logits"].argmax(1) == reference.argmax(1))
        diff = float(np.abs(r["logits"] - reference).max())
        print(f"| {backend} | {r['clips_per_second']:.1f} | {r['clips_peak_mb']:.0f} | {r['timeline_rtf']:.4f} | "
              f"{r['timeline_peak_mb']:.0f} | {r['cold_start_s']:.2f} | {same:.2f} | {diff:.2e} | "
              f"{100 * r['micro_f1']:.2f} |")
    summary = {b: {k: v for k, v in r.items() if k != "logits"} for b, r in results.items()}
    Path(args.work, "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

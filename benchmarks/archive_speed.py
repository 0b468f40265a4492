"""Clips per second of `emotion-whisper predict --out` over an archive, with 1 and 2 processes, on both backends.

    python benchmarks/archive_speed.py --onnx DIR [--max_clips 400] [--processes 1 2] [--json out.json]

The archive: --max_clips validation clips of the built dataset (--dataset_path, shuffled with a fixed seed, so that
lengths mix as in the split), saved with save_to_disk and scored as `predict --dataset DIR --out rows.jsonl`: their
audio is embedded FLAC, so decoding is part of the cost, as it is for a real archive. Each setting runs as its own
command, the way a user runs it: one process plainly, N under
`accelerate launch --multi_gpu --num_processes N -m modeling_emotion_whisper.cli` (gloo on CPU). OMP_NUM_THREADS is
left unset: one process uses every core, and torchrun gives each of N processes one thread (onnxruntime follows it).

Reported per setting: scoring clips/s (between the first and the last barrier, the command's own figure), wall
clips/s (the whole command: start-up, model load, merge), audio seconds scored per second, and agreement with the
one-process rows (same label, largest |score difference|). Without --onnx, the model is exported first
(export-onnx, fp32) into the work folder. Run it on an otherwise idle machine.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"(\d+) clips scored in ([\d.]+) s")


def build_archive(args, folder: Path) -> tuple[int, float]:
    from datasets import load_from_disk

    data = load_from_disk(args.dataset_path)[args.split].shuffle(seed=0)
    data = data.select(range(min(args.max_clips, len(data))))
    data.select_columns(["audio", "duration"]).flatten_indices().save_to_disk(str(folder))
    return len(data), float(sum(data["duration"]))


def run(command, env) -> tuple[float, float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    found = SUMMARY.findall(result.stderr)
    if not found:
        raise SystemExit(f"no summary line in the output of {' '.join(command)}:\n{result.stderr[-3000:]}")
    return wall, float(found[-1][1]), result.stderr


def rows(path):
    return [json.loads(line) for line in open(path)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "checkpoints" / "emotion-whisper-base"))
    parser.add_argument("--onnx", help="a folder written by export-onnx (default: export one into the work folder)")
    parser.add_argument("--dataset_path", default=str(REPO / "data" / "speaker-split-neutral"))
    parser.add_argument("--split", default="validation")
    parser.add_argument("--max_clips", type=int, default=400)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backends", nargs="+", choices=["torch", "onnx"], default=["torch", "onnx"])
    parser.add_argument("--work", help="work folder (default: a temporary one, removed at the end)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="archive-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["HF_HUB_OFFLINE"] = "1"
    try:
        clips, audio_seconds = build_archive(args, work / "clips")
        onnx = args.onnx
        if "onnx" in args.backends and not onnx:
            onnx = str(work / "onnx")
            subprocess.run([sys.executable, "-m", "modeling_emotion_whisper.cli", "export-onnx", "--model", args.model,
                            "--out", onnx], cwd=REPO, env=env, check=True)
        results, reference = [], {}
        for backend in args.backends:
            model = args.model if backend == "torch" else onnx
            for n in args.processes:
                out = work / f"{backend}-{n}.jsonl"
                out.unlink(missing_ok=True)
                predict = ["predict", "--dataset", str(work / "clips"), "--out", str(out), "--model", model,
                           "--backend", backend, "--batch-size", str(args.batch_size), "--no-progress"]
                if n == 1:
                    command = [sys.executable, "-m", "modeling_emotion_whisper.cli", *predict]
                else:
                    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                               str(n), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                               "-m", "modeling_emotion_whisper.cli", *predict]
                wall, scoring, _ = run(command, env)
                scored = rows(out)
                reference.setdefault(backend, scored)
                same = sum(a.get("label") == b.get("label") for a, b in zip(scored, reference[backend]))
                diff = max((abs(a["scores"][k] - b["scores"][k]) for a, b in zip(scored, reference[backend])
                            if "scores" in a and "scores" in b for k in a["scores"]), default=0.0)
                results.append({"backend": backend, "processes": n, "clips": clips, "scoring_s": scoring,
                                "clips_per_s": clips / scoring, "wall_s": wall, "wall_clips_per_s": clips / wall,
                                "audio_s_per_s": audio_seconds / scoring, "same_label": same / len(scored),
                                "max_score_diff": diff})
                print(f"{backend} x{n}: {clips / scoring:.2f} clips/s", file=sys.stderr)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n{clips} clips, {audio_seconds / 60:.1f} min of audio ({audio_seconds / clips:.2f} s a clip), "
          f"{os.cpu_count()} CPU cores, batch {args.batch_size}\n")
    print("| backend | processes | scoring s | clips/s | audio s/s | wall s | wall clips/s | same label | "
          "max score diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['backend']} | {r['processes']} | {r['scoring_s']:.1f} | {r['clips_per_s']:.2f} | "
              f"{r['audio_s_per_s']:.1f} | {r['wall_s']:.1f} | {r['wall_clips_per_s']:.2f} | "
              f"{100 * r['same_label']:.1f}% | {r['max_score_diff']:.1e} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"audio_seconds": audio_seconds, "results": results}, indent=1))


if __name__ == "__main__":
    main()

"""Hostile and long inputs through `emotion-whisper predict` (issue 31): exit code, wall time and peak memory.

    python benchmarks/input_bounds.py --minutes 60 --export          # both backends, a 1-hour file
    python benchmarks/input_bounds.py --minutes 2 --onnx runs/onnx-base --limit-gb 8

Writes into --work (a temporary folder by default):
- bomb.wav: 32 KB of 16-bit samples whose header says 1 Hz, i.e. 4.4 hours once resampled to 16 kHz (the old code
  resampled it, reached 4.8 GB (PyTorch) / 5.9 GB (ONNX), crashed and scored nothing);
- good.flac: 3 s of generated voiced audio;
- long.flac: --minutes of generated voiced audio (the old predict held every 30 s window of it at once: 5.3 GB for an
  hour on PyTorch; ONNX asked for 8.64 GB).
Then runs, each in a fresh process (so that its peak resident memory is its own), on the PyTorch backend and, with
--onnx DIR or --export, on the ONNX one:
- `predict bomb.wav good.flac --json out.json`: the bomb refused in one line, good.flac scored and written;
- `predict long.flac`: scored in 30 s windows, memory flat;
- with --timeline, `timeline long.flac` for comparison (it always read long files in windows).
Prints a markdown table: case, backend, exit code, seconds, peak RSS, and the first error line (or the last line of a
crash). --limit-gb caps every run's address space (RLIMIT_AS), as the machine of the issue did (8 GB). CPU-heavy for
long files: --threads sets OMP_NUM_THREADS of the runs (default 1, to leave the machine usable; onnxruntime takes
its own default, a thread per core). Run it from another checkout to measure older code the same way.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "checkpoints" / "emotion-whisper-base"
RATE = 16000


def voiced(seconds: float, seed: int) -> np.ndarray:
    """A vowel-like signal with vibrato and syllables, its pitch set by `seed` (a cheap stand-in for speech)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = (120 + 10 * (seed % 12)) * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.5 * (1 - np.cos(2 * np.pi * 3 * t))
    return (0.15 * wave + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def write_long(path: Path, minutes: float):
    """`minutes` of audio written 20 s at a time: this script's own memory stays small."""
    blocks = int(np.ceil(minutes * 3))
    with sf.SoundFile(path, "w", samplerate=RATE, channels=1, subtype="PCM_16") as handle:
        for i in range(blocks):
            handle.write(voiced(min(20.0, minutes * 60 - 20 * i), seed=i))


def write_inputs(work: Path, minutes: float) -> dict:
    paths = {"bomb": work / "bomb.wav", "good": work / "good.flac", "long": work / f"long-{minutes:g}min.flac"}
    samples = (3000 * np.random.default_rng(0).standard_normal(16000)).astype(np.int16)
    sf.write(paths["bomb"], samples, 1, subtype="PCM_16")  # 32 KB; the header says 1 Hz
    sf.write(paths["good"], voiced(3.0, seed=1), RATE)
    if not paths["long"].exists():
        write_long(paths["long"], minutes)
    return paths


# Runs the command as its only child and reports that child's peak RSS: RUSAGE_CHILDREN of a process with a single
# child is the child's own, where this script's would be the largest of every run so far.
WRAPPER = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(done.returncode)")


def run_measured(argv: list[str], threads: int, limit_gb: float | None) -> dict:
    """Run `argv` in a fresh process: its exit code, wall seconds, peak RSS (MB), stderr and first error line."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}

    def cap():
        if limit_gb:
            limit = int(limit_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, *argv], env=env, capture_output=True, text=True,
                          preexec_fn=cap, cwd=REPO)
    result = {"code": done.returncode, "seconds": time.perf_counter() - started}
    lines = done.stderr.strip().splitlines()
    result["peak_mb"] = int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else float("nan")
    result["err"] = "\n".join(lines[:-1])
    said = [line for line in lines[:-1] if line.startswith(("error:", "skipped"))]
    crashed = "Traceback (most recent call last):" in done.stderr
    result["error"] = f"crashed: {lines[-2]}" if crashed and len(lines) > 1 else (said[0] if said else "")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder for the PyTorch backend")
    parser.add_argument("--onnx", help="a folder written by `emotion-whisper export-onnx` (adds the ONNX backend)")
    parser.add_argument("--export", action="store_true",
                        help="export --model to WORK/onnx first when --onnx is not given")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the long file")
    parser.add_argument("--work", help="folder for the generated files (default: a temporary folder)")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of every run")
    parser.add_argument("--limit-gb", type=float, default=None, help="address-space cap of every run (RLIMIT_AS)")
    parser.add_argument("--timeline", action="store_true", help="also run `timeline` on the long file")
    args = parser.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="input-bounds-"))
    work.mkdir(parents=True, exist_ok=True)
    paths = write_inputs(work, args.minutes)
    cli = [sys.executable, "-m", "modeling_emotion_whisper.cli"]
    backends = {"torch": ["--model", args.model]}
    onnx = args.onnx
    if not onnx and args.export:
        onnx = str(work / "onnx")
        if not Path(onnx, "model.onnx").exists():
            done = subprocess.run([*cli, "export-onnx", "--model", args.model, "--out", onnx], cwd=REPO,
                                  env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
            if done.returncode:
                sys.exit(f"error: the export failed (exit {done.returncode})")
    if onnx:
        backends["onnx"] = ["--backend", "onnx", "--model", onnx]
    cases = {"bomb.wav + good.flac": ["predict", str(paths["bomb"]), str(paths["good"]), "--json",
                                      str(work / "out.json")],
             f"predict {args.minutes:g} min": ["predict", str(paths["long"])]}
    if args.timeline:
        cases[f"timeline {args.minutes:g} min"] = ["timeline", str(paths["long"])]
    print(f"inputs in {work}; {args.threads} thread(s)"
          + (f"; address space capped at {args.limit_gb:g} GB" if args.limit_gb else ""))
    rows = []
    for case, command in cases.items():
        for backend, options in backends.items():
            argv = [*cli, *command, *options]
            result = run_measured(argv, args.threads, args.limit_gb)
            rows.append((case, backend, result["code"], f"{result['seconds']:.1f}", f"{result['peak_mb']:.0f}",
                         result["error"][:110].replace("|", "/")))
            print(f"  {case} [{backend}]: exit {result['code']}, {result['seconds']:.1f} s, "
                  f"{result['peak_mb']:.0f} MB  ({' '.join(command[:1] + options)})", file=sys.stderr)
    print("\n| case | backend | exit | seconds | peak RSS (MB) | first error line |\n|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


if __name__ == "__main__":
    main()

"""Timeline speed and memory on long recordings: real-time factor and peak memory for files of 10 and 60 minutes
(corpus clips concatenated in a fixed order), each measured in a fresh process, against a process that only loads
the model. Memory should not grow with the recording: the file is decoded block by block.

    python benchmarks/timeline_speed.py --model checkpoints/emotion-whisper-base --minutes 10 60
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

RUN = r"""
import json, resource, sys, time
from modeling_emotion_whisper.inference import load_model, timeline
model, extractor = load_model(sys.argv[1] or None)
start = time.perf_counter()
result = timeline(model, extractor, sys.argv[2]) if sys.argv[2] != "-" else None
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "segments": len(result.segments) if result else 0, "duration": result.duration if result else 0}))
"""


def build_file(path: Path, minutes: float, dataset_path: str):
    """Clips of the built corpus, in order, written block by block until `minutes` of audio."""
    from datasets import load_from_disk

    from modeling_emotion_whisper.audio import load_audio

    data = load_from_disk(dataset_path)["validation"]
    target = int(minutes * 60 * 16000)
    written = 0
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, subtype="PCM_16") as handle:
        i = 0
        while written < target:
            row = data[i % len(data)]
            wave = load_audio(row["path"], offset=row.get("offset", 0.0), duration=row["duration"])
            wave = wave[: target - written]
            handle.write(np.clip(wave, -1, 1))
            written += wave.size
            i += 1


def measure(model, audio):
    out = subprocess.run([sys.executable, "-c", RUN, model or "", str(audio)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    args = parser.parse_args()
    baseline = measure(args.model, "-")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = Path(tmp, f"long-{minutes:g}min.wav")
            build_file(path, minutes, args.dataset_path)
            result = measure(args.model, path)
            rows.append((minutes, result))
            path.unlink()
    print(f"model {args.model or 'checkpoints/emotion-whisper-base'}; each row a fresh process; defaults "
          "(30 s windows, stride 20 s, batch 4)\n")
    print("| recording | wall (s) | real-time factor | peak RSS (MB) | over model-only process (MB) | segments |")
    print("|---|---|---|---|---|---|")
    print(f"| (model only) | - | - | {baseline['peak_mb']:.0f} | 0 | - |")
    for minutes, result in rows:
        print(f"| {minutes:g} min | {result['seconds']:.1f} | {result['seconds'] / result['duration']:.4f} | "
              f"{result['peak_mb']:.0f} | {result['peak_mb'] - baseline['peak_mb']:.0f} | {result['segments']} |")


if __name__ == "__main__":
    main()

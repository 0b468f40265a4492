"""Median time of one whisper-base forward on a 3 s clip: unpadded (this model) against padded to 30 s (what
transformers' Whisper encoder and the paper's evaluation protocol do), measured in one process, interleaved.

    python benchmarks/forward_speed.py [--model ../shared/models/whisper-base-encoder] [--repeats 30]
"""

import argparse
import statistics
import time

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from modeling_emotion_whisper import WhisperForEmotionClassification


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="../shared/models/whisper-base-encoder", help="a Whisper checkpoint")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = WhisperForEmotionClassification.from_whisper(args.model).eval()
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    wave = np.random.default_rng(0).normal(0, 0.1, int(args.seconds * 16000)).astype(np.float32)
    short = extractor(wave, sampling_rate=16000, padding="longest", return_tensors="pt")["input_features"]
    padded = extractor(wave, sampling_rate=16000, return_tensors="pt")["input_features"]  # 3000 frames
    times = {"unpadded": [], "padded to 30 s": []}
    with torch.no_grad():
        for features in (short, padded):  # warm-up
            model(input_features=features)
        for _ in range(args.repeats):
            for name, features in (("unpadded", short), ("padded to 30 s", padded)):
                start = time.perf_counter()
                model(input_features=features)
                times[name].append(time.perf_counter() - start)
    print(f"whisper-base encoder + heads, {args.seconds:g} s clip, {args.repeats} runs, "
          f"{torch.get_num_threads()} threads\n")
    print("| input | mel frames | median (s) | speed-up |\n|---|---|---|---|")
    base = statistics.median(times["padded to 30 s"])
    for name, features in (("unpadded", short), ("padded to 30 s", padded)):
        median = statistics.median(times[name])
        print(f"| {name} | {features.shape[-1]} | {median:.4f} | {base / median:.1f}x |")


if __name__ == "__main__":
    main()

"""How close the live stream's frames come to the offline timeline, by hop / context / lookahead (issue 27).

    python benchmarks/stream_settings.py          # about 10 min on 2 cores; prints one line per sequence and setting
    python benchmarks/stream_settings.py --model runs/release3-stacked/final --settings 0.5/4/0 0.5/8/0.5

No real-time feed and no CLI (benchmarks/live_latency.py measures latency that way): the same PCM is fed to
`streaming.EmotionStream` in 20 ms blocks in this process, for six seeded 60 s sequences of
live_latency.build_audio (one validation speaker's clips in runs of about 10 s of one emotion; seeds 0 to 5: RAVDESS
actor 20, ASED speaker 60, RAVDESS actors 20, 19, 16 and 10), with PyTorch and the shipped model (or --model). A
model with a stream head (config.stream_head) scores the stream through it at lookahead 0, as EmotionStream does by
default (--stream_head on / off: always / never), with each window's clip logits pooled in at the stream's default
weight (--clip_weight W ...: each weight at each setting; 0: the frames' own); the timeline reads the frame head.
Reported per setting (mean over the sequences): the stream's frame accuracy (top emotion = the clip's label, on the
timeline's speech frames), the timeline's, their agreement, and the stream's compute seconds over the 60 s of the
sequence (its 1 s of leading silence, also fed, not counted): about the share of the machine a live stream needs
(docs/results.md's tables were run with OMP_NUM_THREADS=2 on 2 cores). A second table pools the frames of all the
sequences by the time since the clip label last changed from one emotion to another (the first run, after the lead-in
silence, is no change and is left out): how fast the stream follows a change. --seeds 6 7 8 9 10
11: six other sequences (ASED speaker 55, TESS OAF, RAVDESS actor 16, ASED speaker 55, RAVDESS actor 17, ASED
speaker 14), the check of a choice made on the first six. Lookahead holds each hop's output back until that many
seconds of audio after it are in, so it adds to the latency one for one.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

SETTINGS = [(0.5, 4, 0), (0.5, 8, 0), (0.5, 4, 0.5), (0.5, 8, 0.5), (0.5, 4, 1.0), (0.5, 12, 0)]  # hop, context, lookahead
SEEDS = (0, 1, 2, 3, 4, 5)
HEADS = {"auto": None, "on": True, "off": False}  # EmotionStream's stream_head
SINCE_CHANGE = (0.0, 1.0, 2.0, 4.0)  # seconds since the clip label last changed: how fast the stream follows a change


def by_since_change(top, reference, truth, lead_frames: int, rate: float):
    """Right frames and frames (per SINCE_CHANGE bin) on the frames `live_latency.frame_scores` counts, once the
    label has changed from one emotion to another: the first run after the lead-in silence starts speech, not a
    change, so its frames are in no bin (they are in the accuracy table)."""
    n = min(len(top), len(reference), len(truth))
    top, reference, truth = top[:n], reference[:n], truth[:n]
    starts = np.flatnonzero(np.r_[True, truth[1:] != truth[:-1]])  # where each run of one label starts
    changes = starts[(starts > 0) & (truth[np.maximum(starts - 1, 0)] >= 0) & (truth[starts] >= 0)]
    last = np.searchsorted(changes, np.arange(n), side="right") - 1  # the last change at or before each frame
    since = np.where(last >= 0, np.arange(n) - changes[np.maximum(last, 0)], -1) / rate
    use = (reference >= 0) & (np.arange(n) >= lead_frames) & (since >= 0)
    bins = np.digitize(since, SINCE_CHANGE) - 1
    return np.array([[np.sum((top == truth) & use & (bins == b)), np.sum(use & (bins == b))]
                     for b in range(len(SINCE_CHANGE))])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "checkpoints" / "emotion-whisper-base"))
    parser.add_argument("--settings", nargs="+", default=[f"{h:g}/{c:g}/{a:g}" for h, c, a in SETTINGS],
                        help="HOP/CONTEXT/LOOKAHEAD in seconds")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--clip_weight", type=float, nargs="+",
                        help="weights of the window's clip logits pooled into the frames (default: the stream's, "
                             "streaming.CLIP_WEIGHT; 0: the frames' own)")
    parser.add_argument("--stream_head", choices=sorted(HEADS), default="auto",
                        help="the stream head: at lookahead 0 when the model has one (auto), always (on), never (off)")
    args = parser.parse_args(argv)
    settings = [tuple(float(x) for x in setting.split("/")) for setting in args.settings]
    import soundfile as sf

    import live_latency as L
    from modeling_emotion_whisper.inference import load_model, timeline
    from modeling_emotion_whisper.streaming import CLIP_WEIGHT, EmotionStream

    weights = args.clip_weight or [CLIP_WEIGHT]
    settings = [(*setting, weight) for setting in settings for weight in weights]

    path = Path(args.model)
    model = load_model(str(path))
    names = {int(k): v for k, v in json.loads(Path(path, "config.json").read_text())["id2label"].items()}
    results, heads = {s: [] for s in settings}, {}
    lags = {s: 0 for s in [*settings, "timeline"]}  # (right, frames) per SINCE_CHANGE bin, summed over sequences
    for seed in args.seeds:
        pcm, truth, story = L.build_audio(str(REPO / "data" / "speaker-split-neutral"), 60, seed, names)
        with tempfile.TemporaryDirectory() as work:
            wav = Path(work, "a.wav")
            sf.write(wav, pcm, 16000, subtype="PCM_16")
            line = timeline(*model, wav)
        reference = np.where(line.speech, np.nan_to_num(line.probabilities, nan=-1).argmax(1), -1)
        lead = int(L.LEAD * L.FRAME_RATE)
        lags["timeline"] = lags["timeline"] + by_since_change(reference, reference, truth, lead, L.FRAME_RATE)
        for setting in settings:
            hop, context, lookahead, weight = setting
            stream = EmotionStream(*model, hop=hop, context=context, lookahead=lookahead,
                                   stream_head=HEADS[args.stream_head], clip_weight=weight)
            head = "stream" if stream.stream_head else "frame"
            start, outputs, data = time.perf_counter(), [], pcm.tobytes()
            for at in range(0, len(data), 640):  # 20 ms of s16le
                outputs += stream.feed(data[at:at + 640])
            outputs += stream.finish()
            elapsed = time.perf_counter() - start
            probabilities = np.concatenate([o.probabilities for o in outputs])
            speech = np.concatenate([o.speech for o in outputs])
            top = np.where(speech, np.nan_to_num(probabilities, nan=-1).argmax(1), -1)
            scores = L.frame_scores(top, reference, truth)
            heads[setting] = head
            lags[setting] = lags[setting] + by_since_change(top, reference, truth, lead, L.FRAME_RATE)
            results[setting].append((scores["accuracy"], scores["timeline_accuracy"], scores["agree"], elapsed / 60))
            print(seed, story[:60], hop, context, lookahead, weight, head,
                  {k: round(v, 3) for k, v in scores.items()}, f"compute/audio {elapsed / 60:.3f}", flush=True)
    print("\n| hop s | context s | lookahead s | clip weight | head | stream accuracy % | timeline accuracy % | "
          "stream = timeline % | compute s per audio s |\n|---|---|---|---|---|---|---|---|---|")
    for (hop, context, lookahead, weight), values in results.items():
        v = np.array(values)
        print(f"| {hop:g} | {context:g} | {lookahead:g} | {weight:g} | {heads[hop, context, lookahead, weight]} | "
              f"{100 * v[:, 0].mean():.1f} | {100 * v[:, 1].mean():.1f} | "
              f"{100 * v[:, 2].mean():.1f} | {v[:, 3].mean():.3f} |")
    edges = [f"{a:g} to {b:g} s" for a, b in zip(SINCE_CHANGE, SINCE_CHANGE[1:])] + [f"{SINCE_CHANGE[-1]:g} s on"]
    counts = lags["timeline"][:, 1]
    print("\nAccuracy % by time since the clip label last changed (frames of all sequences; frames per bin: "
          f"{', '.join(str(int(c)) for c in counts)}):\n\n| frames of | " + " | ".join(edges) + " | all |\n"
          + "|---" * (len(edges) + 2) + "|")
    for key, lag in lags.items():
        name = key if key == "timeline" else "{:g}/{:g}/{:g}, clip weight {:g}".format(*key)
        print(f"| {name} | " + " | ".join(f"{100 * r / max(c, 1):.1f}" for r, c in lag)
              + f" | {100 * lag[:, 0].sum() / max(lag[:, 1].sum(), 1):.1f} |")


if __name__ == "__main__":
    main()

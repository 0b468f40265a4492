"""How close the live stream's frames come to the offline timeline, by hop / context / lookahead (issue 27).

    python benchmarks/stream_settings.py          # about 10 min on 2 cores; prints one line per sequence and setting
    python benchmarks/stream_settings.py --model runs/release3-stacked/final --settings 0.5/4/0 0.5/8/0.5

No real-time feed and no CLI (benchmarks/live_latency.py measures latency that way): the same PCM is fed to
`streaming.EmotionStream` in 20 ms blocks in this process, for six seeded 60 s sequences of
live_latency.build_audio (one validation speaker's clips in runs of about 10 s of one emotion; seeds 0 to 5: RAVDESS
actor 20, ASED speaker 60, RAVDESS actors 20, 19, 16 and 10), with PyTorch and the shipped model (or --model). A
model with a stream head (config.stream_head) scores the stream through it at lookahead 0, as EmotionStream does by
default (--stream_head on / off: always / never); the timeline reads the frame head. Reported per setting (mean over
the sequences): the stream's frame accuracy (top emotion = the clip's label, on the timeline's speech frames), the
timeline's, their agreement, and the stream's compute seconds over the 60 s of the sequence (its 1 s of leading
silence, also fed, not counted): about the share of the machine a live stream needs (docs/results.md's tables were
run with OMP_NUM_THREADS=2 on 2 cores). Lookahead holds each hop's output back until that many seconds of audio
after it are in, so it adds to the latency one for one.
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "checkpoints" / "emotion-whisper-base"))
    parser.add_argument("--settings", nargs="+", default=[f"{h:g}/{c:g}/{a:g}" for h, c, a in SETTINGS],
                        help="HOP/CONTEXT/LOOKAHEAD in seconds")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--stream_head", choices=sorted(HEADS), default="auto",
                        help="the stream head: at lookahead 0 when the model has one (auto), always (on), never (off)")
    args = parser.parse_args(argv)
    settings = [tuple(float(x) for x in setting.split("/")) for setting in args.settings]
    import soundfile as sf

    import live_latency as L
    from modeling_emotion_whisper.inference import load_model, timeline
    from modeling_emotion_whisper.streaming import EmotionStream

    path = Path(args.model)
    model = load_model(str(path))
    names = {int(k): v for k, v in json.loads(Path(path, "config.json").read_text())["id2label"].items()}
    results, heads = {s: [] for s in settings}, {}
    for seed in args.seeds:
        pcm, truth, story = L.build_audio(str(REPO / "data" / "speaker-split-neutral"), 60, seed, names)
        with tempfile.TemporaryDirectory() as work:
            wav = Path(work, "a.wav")
            sf.write(wav, pcm, 16000, subtype="PCM_16")
            line = timeline(*model, wav)
        reference = np.where(line.speech, np.nan_to_num(line.probabilities, nan=-1).argmax(1), -1)
        for hop, context, lookahead in settings:
            stream = EmotionStream(*model, hop=hop, context=context, lookahead=lookahead,
                                   stream_head=HEADS[args.stream_head])
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
            heads[hop, context, lookahead] = head
            results[hop, context, lookahead].append((scores["accuracy"], scores["timeline_accuracy"], scores["agree"],
                                                     elapsed / 60))
            print(seed, story[:60], hop, context, lookahead, head, {k: round(v, 3) for k, v in scores.items()},
                  f"compute/audio {elapsed / 60:.3f}", flush=True)
    print("\n| hop s | context s | lookahead s | head | stream accuracy % | timeline accuracy % | "
          "stream = timeline % | compute s per 60 s sequence s |\n|---|---|---|---|---|---|---|---|")
    for (hop, context, lookahead), values in results.items():
        v = np.array(values)
        print(f"| {hop:g} | {context:g} | {lookahead:g} | {heads[hop, context, lookahead]} | {100 * v[:, 0].mean():.1f} | {100 * v[:, 1].mean():.1f} | "
              f"{100 * v[:, 2].mean():.1f} | {v[:, 3].mean():.3f} |")


if __name__ == "__main__":
    main()

"""Temporal benchmark: does the timeline find emotion changes? (beyond the paper, which has no such test)

From each corpus's held-out clips (speakers never seen in training), build seeded concatenations with known
changes: 2 to 8 clips (more for corpora of very short clips, until 10 s), adjacent clips of different emotions,
10 to 60 s. The reference of each clip is its speech span (the clip trimmed of leading and trailing silence, frames
within 40 dB of the clip's loudest; acted clips hold up to a second of silence at each end, where no emotion can be
heard). Run the timeline on each and compare:
- frame accuracy: arg-max of the frame probabilities on reference speech frames (20 ms frames, labels banned to
  the corpus's set; frames the timeline calls no speech take the label before them),
- segment micro-F1: a predicted segment counts when it has the label of a reference segment it overlaps with
  IoU >= 0.5 (one-to-one),
- change-point F1: predicted changes within 0.5 s of a true change (one-to-one); a change between two segments
  separated by a pause is placed in the middle of the pause, for the reference and the prediction alike,
- EDER, emotion diarization error rate (as SpeechBrain's ZED recipe): (missed + false alarm + confused duration) /
  reference speech duration, on the final segments.

    python benchmarks/temporal.py --model checkpoints/emotion-whisper-base --dataset_path data/speaker-split \
        --split validation --per_corpus 40 [--single_emotion] [--adapt_to_recording]

--single_emotion builds recordings of one speaker and one emotion instead (where standardizing a recording on its
own statistics can collapse); --adapt_to_recording standardizes each recording's features on its own 2 s chunks
before the timeline (the question of whether `timeline` should do so by default).
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from modeling_emotion_whisper.audio import load_audio
from modeling_emotion_whisper.configuration_emotion_whisper import EMOTIONS
from modeling_emotion_whisper.inference import load_model, segments_from_frames, timeline

RATE = 50  # frames per second of the comparison


def speech_span(wave, silence_db: float = 40.0):
    """(start, end) in seconds of the frames within `silence_db` of the clip's loudest 20 ms frame."""
    frame = 16000 // RATE
    n = max(1, wave.size // frame)
    energy = 10 * np.log10(np.mean(wave[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(energy > energy.max() - silence_db)
    return loud[0] / RATE, (loud[-1] + 1) / RATE


def make_concatenation(rows, rng, min_seconds=10.0, max_seconds=60.0, max_clips=8, hard_cap=16):
    """Indices of clips with adjacent labels differing, 2..max_clips long (up to hard_cap to reach min_seconds)."""
    labels = np.asarray(rows["label"])
    durations = np.asarray(rows["duration"])
    wanted = int(rng.integers(2, max_clips + 1))
    chosen, total = [], 0.0
    while len(chosen) < hard_cap:
        allowed = np.flatnonzero(labels != labels[chosen[-1]]) if chosen else np.arange(len(labels))
        allowed = allowed[durations[allowed] + total <= max_seconds]
        if len(allowed) == 0:
            break
        pick = int(rng.choice(allowed))
        chosen.append(pick)
        total += durations[pick]
        if len(chosen) >= wanted and total >= min_seconds:
            break
    return chosen


def match_count(predicted, reference, ok):
    used, hits = set(), 0
    for p in predicted:
        for j, r in enumerate(reference):
            if j not in used and ok(p, r):
                used.add(j)
                hits += 1
                break
    return hits


def f1(hits, n_predicted, n_reference):
    precision, recall = hits / max(1, n_predicted), hits / max(1, n_reference)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def evaluate_one(result, reference, allowed, smoothing, min_segment):
    """reference: [(start, end, label index)]; result: a Timeline at RATE frames per second."""
    probs = np.nan_to_num(result.probabilities, nan=0.0).copy()
    banned = np.setdiff1d(np.arange(probs.shape[1]), allowed)
    probs[:, banned] = 0.0
    n = len(probs)
    truth = np.full(n, -1)
    for start, end, label in reference:
        truth[int(round(start * RATE)) : int(round(end * RATE))] = label
    raw = np.where(result.speech, probs.argmax(1), -1)
    # frames the model scored (speech) and silent frames alike: the raw temporal output, gaps as the last label
    filled = raw.copy()
    for i in range(1, n):
        if filled[i] < 0:
            filled[i] = filled[i - 1]
    valid = truth >= 0
    frame_accuracy = float((filled[valid] == truth[valid]).mean())
    names = list(EMOTIONS)
    segments = segments_from_frames(probs, result.speech, RATE, names, smoothing, min_segment)
    hyp = [(s.start, s.end, names.index(s.emotion)) for s in segments]
    seg_hits = match_count(hyp, reference, lambda p, r: p[2] == r[2] and iou(p, r) >= 0.5)
    true_changes = [(a[1] + b[0]) / 2 for a, b in zip(reference, reference[1:])]
    hyp_changes = [(a[1] + b[0]) / 2 for a, b in zip(hyp, hyp[1:]) if a[2] != b[2]]
    change_hits = match_count(hyp_changes, true_changes, lambda p, r: abs(p - r) <= 0.5)
    hyp_frames = np.full(n, -1)
    for start, end, label in hyp:
        hyp_frames[int(round(start * RATE)) : int(round(end * RATE))] = label
    missed = np.sum(valid & (hyp_frames < 0))
    confused = np.sum(valid & (hyp_frames >= 0) & (hyp_frames != truth))
    false_alarm = np.sum(~valid & (hyp_frames >= 0))
    return {"frame_accuracy": frame_accuracy, "segments": (seg_hits, len(hyp), len(reference)),
            "changes": (change_hits, len(hyp_changes), len(true_changes)),
            "eder": float((missed + confused + false_alarm) / max(1, valid.sum()))}


def make_single_emotion(rows, rng, min_seconds=10.0, max_seconds=60.0, max_clips=8, hard_cap=16):
    """Indices of clips of one speaker and one emotion (a recording that holds a single emotion throughout)."""
    labels, speakers = np.asarray(rows["label"]), np.asarray(rows["speaker"])
    durations = np.asarray(rows["duration"])
    first = int(rng.integers(len(labels)))
    pool = rng.permutation(np.flatnonzero((labels == labels[first]) & (speakers == speakers[first])))
    wanted, chosen, total = int(rng.integers(2, max_clips + 1)), [], 0.0
    for pick in pool[:hard_cap]:
        if total + durations[pick] > max_seconds:
            break
        chosen.append(int(pick))
        total += durations[pick]
        if len(chosen) >= wanted and total >= min_seconds:
            break
    return chosen


def recording_adaptation(model, extractor, wave, chunk_seconds: float = 2.0) -> dict:
    """Feature standardization estimated on the recording itself: the pooled features of its 2 s chunks."""
    from modeling_emotion_whisper.adaptation import feature_standardization, source_statistics
    from modeling_emotion_whisper.inference import predict_clips

    step = int(chunk_seconds * 16000)
    chunks = [wave[i : i + step] for i in range(0, wave.size, step) if wave[i : i + step].size >= 400]
    features = np.stack([r["features"] for r in predict_clips(model, extractor, chunks, return_raw=True)])
    return feature_standardization(features, *source_statistics(model.config))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--per_corpus", type=int, default=40, help="concatenations per corpus")
    parser.add_argument("--smoothing", type=float, default=0.5)
    parser.add_argument("--min_segment", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single_emotion", action="store_true",
                        help="recordings of one speaker and one emotion instead of emotion changes")
    parser.add_argument("--adapt_to_recording", action="store_true",
                        help="standardize each recording's features on its own 2 s chunks (labels unused)")
    parser.add_argument("--no_logit_adjustment", action="store_true",
                        help="raw frame logits (the default of a model saved with apply_logit_adjustment false) "
                             "instead of the adjusted ones this benchmark has always scored")
    args = parser.parse_args()
    from datasets import load_from_disk

    from modeling_emotion_whisper.evaluation import corpus_label_sets

    build = load_from_disk(args.dataset_path)
    data, label_sets = build[args.split], corpus_label_sets(build)
    model, extractor = load_model(args.model)
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for corpus in sorted(set(data["dataset"])):
            rows = data.filter(lambda d: d == corpus, input_columns="dataset")
            allowed = label_sets[corpus]
            rng = np.random.default_rng([args.seed, len(corpus)])
            scores, durations = [], []
            for i in range(args.per_corpus):
                chosen = (make_single_emotion if args.single_emotion else make_concatenation)(rows, rng)
                waves, reference, t = [], [], 0.0
                for k in chosen:
                    row = rows[k]
                    wave = load_audio(row["path"], offset=row.get("offset", 0.0), duration=row["duration"])
                    waves.append(wave)
                    start, end = speech_span(wave)
                    reference.append((t + start, t + end, row["label"]))
                    t += wave.size / 16000
                path = Path(tmp, f"{corpus}-{i}.flac")
                sf.write(path, np.concatenate(waves), 16000)
                if args.adapt_to_recording:
                    model.set_adaptation(recording_adaptation(model, extractor, np.concatenate(waves)))
                result = timeline(model, extractor, path, output_rate=RATE, smoothing=args.smoothing,
                                  min_segment=args.min_segment, logit_adjustment=not args.no_logit_adjustment)
                model.set_adaptation(None)
                scores.append(evaluate_one(result, reference, allowed, args.smoothing, args.min_segment))
                durations.append(t)
            total = lambda key: tuple(map(sum, zip(*[s[key] for s in scores])))  # noqa: E731
            table[corpus] = {
                "concatenations": len(scores), "seconds": f"{min(durations):.0f}-{max(durations):.0f}",
                "frame accuracy": 100 * np.mean([s["frame_accuracy"] for s in scores]),
                "segment micro-F1": 100 * f1(*total("segments")),
                "change-point F1 (0.5 s)": 100 * f1(*total("changes")),
                "EDER": 100 * np.mean([s["eder"] for s in scores]),
            }
    keys = ["concatenations", "seconds", "frame accuracy", "segment micro-F1", "change-point F1 (0.5 s)", "EDER"]
    print(f"model {args.model or 'checkpoints/emotion-whisper-base'}, {args.dataset_path}[{args.split}], "
          f"{'single-emotion recordings' if args.single_emotion else 'emotion changes'}, "
          f"{'standardized on each recording' if args.adapt_to_recording else 'plain'}, seed {args.seed}, smoothing {args.smoothing} s, minimum segment {args.min_segment} s, logit adjustment {'off' if args.no_logit_adjustment else 'on'}, "
          "labels banned per corpus; percentages (EDER: lower is better)\n")
    print("| corpus | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for corpus, row in table.items():
        cells = [f"{row[k]:.1f}" if isinstance(row[k], float) else str(row[k]) for k in keys]
        print(f"| {corpus} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

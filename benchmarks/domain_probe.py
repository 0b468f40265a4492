"""How much corpus and speaker a model's pooled features still carry: what the adversarial domain head is for
(issue 26). Linear probes on the features every head reads, before fine-tuning (the pretrained Whisper encoder)
and after (any number of models), on the same clips.

    python benchmarks/domain_probe.py --model ../shared/models/whisper-base-encoder \
        --model checkpoints/emotion-whisper-base --model runs/release3/final --dataset_path data/speaker-split-neutral

Every model is read in one layout, the refit's (`head_fit.probe_layout`: the mean over valid frames of every hidden
state side by side), so the probes see the same kind of vector whatever head the model ships. Clips: up to
--clips_per_speaker of every speaker, training speakers to fit each probe, validation speakers (never in any model's
training) to score it. Features z-scored with the fit clips' statistics. Reported per model:
- corpus from unseen speakers: a class-balanced logistic regression (head_fit's, C = --C) fitted on the training
  speakers' clips; UA (mean recall over corpora) and the mean cross-entropy of the true corpus (nats; ln 6 = 1.79 is
  knowing nothing), which still moves when accuracy is at its ceiling;
- corpus share of variance: per feature, the variance of the corpus means over the total variance, averaged over
  features (0: corpus says nothing about a feature; 1: a feature is constant within each corpus);
- speaker among training speakers: a probe fitted on half of each speaker's clips, accuracy on the other half;
- emotion from unseen speakers (the same probe on hard labels, banned to each corpus's own emotions): micro-F1, so
  that forgetting the domain is not bought by forgetting the emotion.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def sample(rows, per_speaker: int, seed: int) -> list[int]:
    """Up to `per_speaker` clip indices of every speaker, seeded."""
    rng = np.random.default_rng(seed)
    speakers = np.asarray(rows["speaker"])
    chosen = []
    for speaker in sorted(set(speakers)):
        index = np.flatnonzero(speakers == speaker)
        chosen.extend(sorted(rng.choice(index, min(per_speaker, len(index)), replace=False).tolist()))
    return chosen


def load_any(path: str):
    """Our saved model, or a Whisper checkpoint (its encoder, new heads), in the refit's all-layers layout."""
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.head_fit import probe_layout

    if (Path(path) / "config.json").exists() and "emotion_whisper" in (Path(path) / "config.json").read_text():
        model = WhisperForEmotionClassification.from_pretrained(path, dtype=torch.float32)
    else:
        model = WhisperForEmotionClassification.from_whisper(path, num_domains=1)
    return probe_layout(model, "corpus", keep_frame_head=False).eval()


def probe(x_fit, y_fit, x_test, C: float):
    """Logits of a class-balanced logistic regression fitted on (x_fit, y_fit), on x_test; classes as in y_fit."""
    from modeling_emotion_whisper.head_fit import fit_logistic_regression

    classes = np.unique(y_fit)
    weight, bias = fit_logistic_regression(x_fit, y_fit, int(classes.max()) + 1, C=C)[:2]
    return x_test @ np.asarray(weight, dtype=np.float64).T + np.asarray(bias, dtype=np.float64)


def measure(features_fit, features_test, fit_rows, test_rows, label_sets, names, C: float) -> dict:
    from modeling_emotion_whisper.evaluation import score

    mean, std = features_fit.mean(0), features_fit.std(0) + 1e-5
    fit, test = (features_fit - mean) / std, (features_test - mean) / std
    corpora = sorted(set(fit_rows["dataset"]))
    y_fit = np.searchsorted(corpora, np.asarray(fit_rows["dataset"]))
    y_test = np.searchsorted(corpora, np.asarray(test_rows["dataset"]))
    logits = probe(fit, y_fit, test, C)
    logits = logits[:, : len(corpora)]
    predicted = logits.argmax(1)
    log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    out = {"corpus UA (unseen speakers)": 100 * np.mean([(predicted[y_test == k] == k).mean()
                                                         for k in range(len(corpora))]),
           "corpus cross-entropy (nats)": float(-log_probs[np.arange(len(y_test)), y_test].mean())}
    # the corpus share of each feature's variance, over the fit and test clips together (z-scored: total var ~ 1)
    every = np.concatenate([fit, test])
    labels = np.concatenate([y_fit, y_test])
    between = sum((labels == k).mean() * (every[labels == k].mean(0) - every.mean(0)) ** 2
                  for k in range(len(corpora)))
    out["corpus share of variance"] = float(np.mean(between / (every.var(0) + 1e-12)))
    # speakers: half of each training speaker's clips fit, the other half score
    speakers = np.asarray(fit_rows["speaker"])
    ids = np.unique(speakers, return_inverse=True)[1]
    half = np.zeros(len(ids), dtype=bool)
    for k in np.unique(ids):
        where = np.flatnonzero(ids == k)
        half[where[: (len(where) + 1) // 2]] = True
    speaker_logits = probe(fit[half], ids[half], fit[~half], C)
    out["speaker accuracy (training speakers)"] = 100 * float((speaker_logits.argmax(1) == ids[~half]).mean())
    out["speakers"] = int(len(np.unique(ids)))
    emotion_logits = probe(fit, np.asarray(fit_rows["label"]), test, C)
    emotion = np.full((len(test), len(names)), -1e9)
    emotion[:, : emotion_logits.shape[1]] = emotion_logits
    out["emotion micro-F1 (unseen speakers)"] = 100 * score(emotion, test_rows, names, corpus_labels=label_sets)[
        "overall"]["micro_f1"]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="a saved model or a Whisper checkpoint; "
                        "repeat to compare")
    parser.add_argument("--dataset_path", default="data/speaker-split-neutral")
    parser.add_argument("--clips_per_speaker", type=int, default=12)
    parser.add_argument("--C", type=float, default=1e-4, help="the probes' inverse L2 strength (the refit's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from datasets import load_from_disk
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper.adaptation import pooled_features
    from modeling_emotion_whisper.evaluation import corpus_label_sets
    from modeling_emotion_whisper.packing import ClipCollator

    data = load_from_disk(args.dataset_path)
    for split in ("train", "validation"):
        if split not in data:
            raise SystemExit(f"{args.dataset_path} has no {split!r} split: build it with --split speaker")
    fit_rows = data["train"].select(sample(data["train"], args.clips_per_speaker, args.seed))
    test_rows = data["validation"].select(sample(data["validation"], args.clips_per_speaker, args.seed))
    label_sets = corpus_label_sets(data)
    print(f"{len(fit_rows)} clips of {len(set(fit_rows['speaker']))} training speakers fit the probes, "
          f"{len(test_rows)} of {len(set(test_rows['speaker']))} validation speakers score them", flush=True)
    results = {}
    for path in args.model:
        started = time.time()
        model = load_any(path)
        collator = ClipCollator(WhisperFeatureExtractor(feature_size=model.config.num_mel_bins,
                                                        return_attention_mask=True))
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        features = [pooled_features(model, rows, collator, bf16=True, desc=Path(path).name).astype(np.float64)
                    for rows in (fit_rows, test_rows)]
        results[path] = measure(*features, fit_rows, test_rows, label_sets, names, args.C)
        print(f"{path}: {time.time() - started:.0f} s", flush=True)
    keys = list(next(iter(results.values())))
    print("\n| model | " + " | ".join(keys) + " |\n|" + "---|" * (len(keys) + 1))
    for path, row in results.items():
        print(f"| {path} | " + " | ".join(f"{row[k]:.3f}" if isinstance(row[k], float) and row[k] < 10
                                           else f"{row[k]:.1f}" if isinstance(row[k], float) else str(row[k])
                                           for k in keys) + " |")


if __name__ == "__main__":
    main()

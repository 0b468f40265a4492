"""The floor every recipe must clear: a frozen Whisper encoder, pooled hidden states, a linear probe, leave one
corpus out. Prints the table of docs/results.md ("The probe baseline").

    python benchmarks/probe_baseline.py --dataset_path data/speaker-split --out runs/probe

Protocol (the generalization issue's): the frozen encoder; each clip unpadded (clips over 30 s: the first 30 s);
features = masked mean over the clip's valid frames of each hidden state (input embedding + every layer; whisper-base:
7 x 512 = 3584 numbers; the last is the encoder's output before its final layer norm); each feature z-scored within
a group of clips using only that group's clips, no labels (the training set as a whole, each corpus, or each
speaker); scikit-learn LogisticRegression(C=0.5, class_weight="balanced", max_iter=300) trained on the other corpora
over their (harmonized, hard) emotions; on the target corpus the arg-max is banned to its own emotions; micro-F1
(= accuracy). Features are computed once into OUT/features.npz and reused.

Each target is also scored skewed, as real recordings are (`skew`): seeded, each speaker keeps the clips of only one
or two of the corpus's emotions (more where a corpus has too few speakers to cover its emotions otherwise: TESS's 2
speakers keep 4 of 7 each), the corpus as a whole still holding all of them. Standardization statistics of the target
then come from the skewed clips only, which is where per-speaker statistics can collapse.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from modeling_emotion_whisper.evaluation import skew  # noqa: E402  (the one skewing rule of the evaluations)

SETTINGS = [("last layer", "train"), ("all layers", "train"), ("all layers", "corpus"), ("all layers", "speaker")]


@torch.no_grad()
def extract(args, rows) -> np.ndarray:
    from transformers import WhisperFeatureExtractor
    from tqdm.auto import tqdm

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.audio import load_audio
    from modeling_emotion_whisper.features import mel_features

    model = WhisperForEmotionClassification.from_whisper(args.model).eval()
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True)
    order = np.argsort(np.asarray(rows["duration"]), kind="stable")
    paths, offsets = rows["path"], rows["offset"]
    out = None
    for start in tqdm(range(0, len(order), args.batch_size), desc="frozen encoder"):
        index = order[start : start + args.batch_size]
        waves = [load_audio(paths[i], offset=offsets[i])[: 30 * 16000] for i in index]
        features, mask = mel_features(extractor, waves)
        result = model(input_features=features, attention_mask=mask, output_hidden_states=True)
        weights = result.frame_mask.float()[..., None]
        pooled = torch.stack([(h * weights).sum(1) / weights.sum(1) for h in result.hidden_states], 1)
        if out is None:
            out = np.zeros((len(rows), *pooled.shape[1:]), dtype=np.float32)
        out[index] = pooled.numpy()
    return out


def standardize(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for group in np.unique(groups):
        member = groups == group
        out[member] = (x[member] - x[member].mean(0)) / (x[member].std(0) + 1e-6)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--model", default="../shared/models/whisper-base-encoder")
    parser.add_argument("--out", default="runs/probe")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--corpora", default="", help="comma-separated LOCO targets (default: every corpus)")
    args = parser.parse_args(argv)
    from datasets import concatenate_datasets, load_from_disk
    from sklearn.linear_model import LogisticRegression

    data = load_from_disk(args.dataset_path)
    rows = concatenate_datasets([data["train"], data["validation"]])  # LOCO uses every clip of every corpus
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "features.npz"
    if cache.exists() and len(np.load(cache)["features"]) == len(rows):
        features = np.load(cache)["features"]
    else:
        started = time.time()
        features = extract(args, rows)
        np.savez(cache, features=features)
        print(f"features of {len(rows)} clips in {time.time() - started:.0f} s")
    labels = np.asarray(rows["label"])
    datasets = np.asarray(rows["dataset"])
    speakers = np.asarray(rows["speaker"])
    corpora = [c for c in sorted(set(datasets)) if not args.corpora or c in args.corpora.split(",")]
    table = {}
    for layers, level in SETTINGS:
        x = features[:, -1] if layers == "last layer" else features.reshape(len(features), -1)
        for target in corpora:
            train, test = datasets != target, datasets == target
            kept = np.zeros(len(rows), dtype=bool)
            kept[test] = skew(speakers[test], labels[test])
            for variant, target_rows in (("balanced", test), ("skewed", kept)):
                if level == "train":  # the training set's statistics, applied to the target too
                    mean, std = x[train].mean(0), x[train].std(0) + 1e-6
                    z = (x - mean) / std
                else:  # every group by its own clips; the target's groups by the clips it keeps
                    chosen = train | target_rows
                    z = np.zeros_like(x)
                    z[chosen] = standardize(x[chosen], (datasets if level == "corpus" else speakers)[chosen])
                if variant == "balanced":
                    started = time.time()
                    probe = LogisticRegression(C=0.5, class_weight="balanced", max_iter=300)
                    probe.fit(z[train], labels[train])
                    seconds = time.time() - started
                scores = probe.decision_function(z[target_rows])
                allowed = np.isin(probe.classes_, np.unique(labels[target_rows]))
                predicted = probe.classes_[np.where(allowed, scores, -np.inf).argmax(1)]
                table[(layers, level, target, variant)] = 100 * float((predicted == labels[target_rows]).mean())
            print(f"{layers} / {level} / {target}: {table[(layers, level, target, 'balanced')]:.1f} balanced, "
                  f"{table[(layers, level, target, 'skewed')]:.1f} skewed ({int(kept.sum())} clips; fit {seconds:.0f} s)",
                  flush=True)
    names = {"train": "the training set", "corpus": "each corpus", "speaker": "each speaker"}
    lines = []
    for variant in ("balanced", "skewed"):
        lines += [f"\n{variant} targets\n", "| features | standardized within | " + " | ".join(corpora) + " | mean |",
                  "|---|---|" + "---|" * (len(corpora) + 1)]
        for layers, level in SETTINGS:
            values = [table[(layers, level, c, variant)] for c in corpora]
            lines.append(f"| {layers} | {names[level]} | " + " | ".join(f"{v:.1f}" for v in values)
                         + f" | {np.mean(values):.1f} |")
    print("\n".join(lines))
    (out / "probe_baseline.md").write_text("\n".join(lines) + "\n")
    (out / "probe_baseline.json").write_text(json.dumps({"|".join(k): v for k, v in table.items()}, indent=1))


if __name__ == "__main__":
    main()

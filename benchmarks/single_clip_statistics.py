"""Which statistics should a standardizing model use for a single clip, whose group is unknown?

    python benchmarks/single_clip_statistics.py --model runs/whisper-base-six-5p/final \
        [--targets runs/generalization/ased-refit-corpus/eval/outputs.npz] [--max_clips 200]

A model whose head was fitted on features z-scored within each training corpus (or speaker) must z-score a lone clip
with some fallback statistics. train.py stores the pooled mean and std of held-out clips of all training corpora
("pooled"): their spread includes the differences between corpora, which the head never saw, so a lone clip reaches
the head shrunk and shifted. The alternative ("within groups") is what a typical group's statistics would be: the
mean of the group means and the root mean of the group variances, groups being the model's standardization level.
Both are measured on the validation speakers of the model's training corpora (each clip alone, no adaptation) and,
with --targets, on corpora it never heard (outputs.npz of evaluate_model.py --save_outputs); micro-F1 with label
banning and logit adjustment, as evaluate_model.py.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def within_group_statistics(features, groups):
    """Mean of the group means and root mean of the group variances, each group weighted equally."""
    groups = np.asarray(groups)
    names = np.unique(groups)
    means = np.stack([features[groups == g].mean(0) for g in names])
    variances = np.stack([features[groups == g].var(0) for g in names])
    return means.mean(0), np.sqrt(variances.mean(0))


def markdown_rows(first: str, rows: dict) -> str:
    """A markdown table: one row per key of `rows` ({column: value}), the columns of the first row."""
    columns = list(next(iter(rows.values())))
    lines = [f"| {first} | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {label} | " + " | ".join(f"{cells[c]:.2f}" for c in columns) + " |" for label, cells in rows.items()]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A saved model with feature_standardization corpus|speaker.")
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--targets", default="", help="Comma-separated outputs.npz files of never-heard corpora.")
    parser.add_argument("--max_clips", type=int, default=0, help="Validation clips per corpus (0: all; seeded).")
    parser.add_argument("--batch_size", type=int, default=8)
    args = parser.parse_args(argv)

    import torch
    from datasets import concatenate_datasets, load_from_disk
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.adaptation import pooled_features
    from modeling_emotion_whisper.evaluation import corpus_label_sets, score
    from modeling_emotion_whisper.features import label_names
    from modeling_emotion_whisper.packing import ClipCollator

    model = WhisperForEmotionClassification.from_pretrained(args.model, dtype=torch.float32).eval()
    level = model.config.feature_standardization
    if level == "none":
        raise SystemExit(f"{args.model} does not standardize its features: nothing to compare")
    names = label_names(model)
    weight = model.emotion_head.weight.detach().numpy().astype(np.float64)
    bias = model.emotion_head.bias.detach().numpy().astype(np.float64)
    prior, tau = model.config.label_prior, model.config.logit_adjustment_tau

    def f1(features, rows, mean, std):
        logits = ((features - mean) / np.maximum(std, 1e-5)) @ weight.T + bias  # the model clamps std so
        result = score(logits, rows, names, prior, tau, corpus_labels=label_sets)
        return {name: 100 * m["micro_f1"] for name, m in result["per_corpus"].items()}

    data = load_from_disk(args.dataset_path)
    label_sets = corpus_label_sets(data)
    corpora = sorted(model.config.training_corpora or set(data["validation"].unique("dataset")))
    validation = data["validation"].filter(lambda d: d in corpora, input_columns="dataset")
    if args.max_clips:
        rng = np.random.default_rng(0)
        datasets = np.asarray(validation["dataset"])
        keep = [rng.permutation(np.flatnonzero(datasets == c))[: args.max_clips] for c in corpora]
        validation = validation.select(np.sort(np.concatenate(keep)))
    collator = ClipCollator(WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True))
    features = pooled_features(model, validation, collator, args.batch_size).astype(np.float64)
    groups = np.asarray(validation["dataset"] if level == "corpus" else validation["domain"])
    stored = np.asarray(model.config.source_feature_mean), np.asarray(model.config.source_feature_std)
    candidates = {"stored in the config (as shipped)": stored,
                  "pooled over these clips": (features.mean(0), features.std(0)),
                  f"within {level} groups": within_group_statistics(features, groups)}

    targets = []
    everything = concatenate_datasets([data[s] for s in data])
    by_path = {p: i for i, p in enumerate(everything["path"])}
    for path in filter(None, args.targets.split(",")):
        saved = np.load(path)
        targets.append((everything.select([by_path[str(p)] for p in saved["paths"]]), saved["features"].astype(float)))

    results = {label: f1(features, validation, *stats) for label, stats in candidates.items()}
    for label, stats in candidates.items():
        for rows, target_features in targets:
            results[label].update({f"Z-{k}": v for k, v in f1(target_features, rows, *stats).items()})
    print(f"{args.model}: {len(validation)} validation clips, single clips, micro-F1\n")
    print(markdown_rows("statistics", results))


if __name__ == "__main__":
    main()

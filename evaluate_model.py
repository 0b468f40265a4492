"""Evaluate a model on a built corpus as the paper does (3.1, Table 2). (Not named evaluate.py: that would shadow
the `evaluate` package for every script run from the repository root.)

    python evaluate_model.py --model runs/whisper-base-all/final --dataset_path data/speaker-split --split validation \
        --out runs/eval-validation [--corpora tess] [--zero_shot] [--random_baseline]

Steps: 1 arguments; 2 the clips (one split, or `all` for a corpus never trained on: zero-shot, Table 2's Z- columns);
3 the model, and with --random_baseline the same encoder with a freshly initialized head (the paper's Random F1);
4 logits of every clip alone; 5 micro-F1, macro-F1, UA, WA, per-emotion F1 with label banning (to each corpus's
emotions in the whole build, every split) and logit adjustment (not under a prior adaptation, which sets the prior
itself: modeling_emotion_whisper.adaptation); 6 results.md, results.json and one confusion-matrix PNG per corpus in
--out.
"""

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import HfArgumentParser, WhisperFeatureExtractor

from modeling_emotion_whisper import WhisperForEmotionClassification
from modeling_emotion_whisper.adaptation import adapt_logits, load_adaptation, replaces_prior
from modeling_emotion_whisper.evaluation import (corpus_label_sets, predict_logits, score, single_clip_logits,
                                                 skewed_subset)
from modeling_emotion_whisper.features import label_names as model_label_names
from modeling_emotion_whisper.metrics import markdown_table
from modeling_emotion_whisper.packing import ClipCollator

logger = logging.getLogger("evaluate")


@dataclass
class EvalArguments:
    model: str = field(default="checkpoints/emotion-whisper-base", metadata={"help": "A saved emotion-whisper model."})
    dataset_path: str = field(default="data/speaker-split", metadata={"help": "Output folder of data_scripts.build."})
    split: str = field(default="validation", metadata={"help": "train, validation, or all (both: zero-shot use)."})
    corpora: str = field(default="", metadata={"help": "Comma-separated corpora to score; empty: all in the split."})
    zero_shot: bool = field(default=False, metadata={"help": "Label the columns Z-<corpus> (never seen in training)."})
    random_baseline: bool = field(default=False, metadata={"help": "Also score the encoder with a random head."})
    no_logit_adjustment: bool = field(default=False, metadata={"help": "Do not adjust logits by the training prior."})
    adaptation: str = field(default="", metadata={
        "help": "Unsupervised adaptation estimated on each evaluated corpus itself, labels unused: feature, logit, "
                "prior or speaker (see modeling_emotion_whisper.adaptation). A comma-separated list (none for "
                "plain) scores each from one pass over the audio, into OUT/<adaptation>/."})
    skewed_seed: int = field(default=-1, metadata={
        "help": "Also score a skewed version of the clips (each speaker keeps one or two emotions, each corpus all "
                "of them; seeded), into OUT/<adaptation>-skewed/. -1: no."})
    adaptation_json: str = field(default="", metadata={"help": "Apply a saved adaptation (emotion-whisper adapt)."})
    batch_size: int = field(default=8, metadata={"help": "Clips per forward pass."})
    save_source_statistics: bool = field(default=False, metadata={
        "help": "These clips are held-out speakers of the training domains: store their pooled-feature mean/std "
                "in the model's config.json, for unsupervised adaptation (train.py does this for new runs)."})
    seed: int = field(default=0, metadata={"help": "Seed of the random head."})
    save_outputs: bool = field(default=False, metadata={
        "help": "Also write OUT/outputs.npz: raw clip logits and pooled features (benchmarks/adaptation_min_clips.py)."})
    out: str = field(default="runs/eval", metadata={"help": "Folder for results.md, results.json and PNGs."})


def load_rows(args):
    """The clips to score, and each corpus's label set in the whole build (what banning keeps)."""
    from datasets import concatenate_datasets, load_from_disk

    path = Path(args.dataset_path)
    if not (path / "dataset_dict.json").exists():
        raise SystemExit(f"{path} is not a dataset built by data_scripts.build (no dataset_dict.json)")
    data = load_from_disk(str(path))
    if args.split == "all":
        rows = concatenate_datasets([data[s] for s in data])
    elif args.split in data:
        rows = data[args.split]
    else:
        raise SystemExit(f"--split {args.split}: {path} has {', '.join(data)} (or use 'all')")
    wanted = {c.strip() for c in args.corpora.split(",") if c.strip()}
    missing = wanted - set(rows.unique("dataset"))
    if missing:
        raise SystemExit(f"corpus {', '.join(sorted(missing))} is not in {path}[{args.split}]")
    label_sets = corpus_label_sets(data)
    return (rows.filter(lambda d: d in wanted, input_columns="dataset") if wanted else rows), label_sets


def plot_confusion(matrix, names, title, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    keep = np.flatnonzero(matrix.sum(0) + matrix.sum(1) > 0)
    matrix = matrix[np.ix_(keep, keep)]
    labels = [names[i] for i in keep]
    fig, ax = plt.subplots(figsize=(1 + 0.8 * len(labels), 1 + 0.7 * len(labels)))
    ax.imshow(matrix / np.maximum(1, matrix.sum(1, keepdims=True)), cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    # 1. Arguments.
    (args,) = HfArgumentParser(EvalArguments).parse_args_into_dataclasses(args=sys.argv[1:] if argv is None else argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 2. Clips.
    rows, label_sets = load_rows(args)

    # 3. Model(s).
    if not Path(args.model, "config.json").exists():
        raise SystemExit(f"{args.model} has no config.json: pass a folder saved by train.py or save_pretrained")
    model = WhisperForEmotionClassification.from_pretrained(args.model, dtype=torch.float32).eval()
    collator = ClipCollator(WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True))
    label_names = model_label_names(model)
    prior = None if args.no_logit_adjustment else model.config.label_prior

    # 4-5. Logits (adapted on request) and scores.
    loaded = load_adaptation(args.adaptation_json) if args.adaptation_json else None
    if loaded is not None:
        model.set_adaptation(loaded)
    logits, features = predict_logits(model, rows, collator, args.batch_size, return_features=True)
    if args.save_source_statistics:
        if args.adaptation or args.adaptation_json or args.zero_shot:
            raise SystemExit("--save_source_statistics needs unadapted, in-domain clips")
        config_path = Path(args.model, "config.json")
        config = json.loads(config_path.read_text())
        config.update(source_feature_mean=[float(x) for x in features.mean(0)],
                      source_feature_std=[float(x) for x in features.std(0)])
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        if model.config.feature_standardization != "none":  # its single clips now use these: score it as saved
            model.config.source_feature_mean = config["source_feature_mean"]
            model.config.source_feature_std = config["source_feature_std"]
            logits = single_clip_logits(model, features)
    if args.save_outputs:
        np.savez(out / "outputs.npz", logits=logits, features=features, paths=np.asarray(rows["path"]))
    adaptations = [a.strip() for a in args.adaptation.split(",") if a.strip()] or ["none"]
    subsets = [("", np.arange(len(rows)))]
    if args.skewed_seed >= 0:
        subsets.append(("-skewed", skewed_subset(rows, args.skewed_seed)))
    variants = [(adaptation, suffix, index) for suffix, index in subsets for adaptation in adaptations]
    results = {}
    for adaptation, suffix, index in variants:
        where = out / f"{adaptation}{suffix}" if len(variants) > 1 else out
        subset = rows.select(index)
        # a prior adaptation has set the decision's prior itself: no logit adjustment on top (adaptation.py)
        own_prior = None if adaptation == "prior" or replaces_prior(loaded) else prior
        results[adaptation + suffix] = report(args, model, subset, adapt(adaptation, model, subset, logits[index],
                                              features[index]), features[index], label_names, own_prior, where,
                                              adaptation + suffix, label_sets)
    return results if len(variants) > 1 else results[variants[0][0] + variants[0][1]]


def adapt(adaptation, model, rows, logits, features):
    """Logits adapted on each corpus of `rows` separately (labels unused)."""
    if adaptation == "none":
        return logits
    logits = logits.copy()
    corpora, speakers = np.asarray(rows["dataset"]), np.asarray(rows["speaker"])
    for name in sorted(set(corpora)):  # each corpus is its own target domain
        mask = corpora == name
        logits[mask] = adapt_logits(adaptation, model, logits[mask], features[mask], speakers[mask])
    return logits


def report(args, model, rows, logits, features, label_names, prior, out, adapted, label_sets):
    """Step 6: scores, results.md, results.json and confusion plots in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    results = score(logits, rows, label_names, prior, model.config.logit_adjustment_tau, corpus_labels=label_sets)
    if args.random_baseline:
        torch.manual_seed(args.seed)  # a fresh head of the same shape; the pooled features are raw, so no new pass
        head = torch.nn.Linear(model.head_input_size, model.config.num_labels)
        with torch.no_grad():
            random_logits = head(torch.from_numpy(features)).numpy()
        results["random_head"] = score(random_logits, rows, label_names, corpus_labels=label_sets)["per_corpus"]

    prefix = "Z-" if args.zero_shot else ""
    columns = {f"{prefix}{name}": metrics for name, metrics in results["per_corpus"].items()}
    table = markdown_table(columns, label_names)
    if args.random_baseline:
        cells = [f"{100 * results['random_head'][name]['micro_f1']:.2f}" for name in results["per_corpus"]]
        table += "\n| Random F1 | " + " | ".join(cells) + " |"
    if args.adaptation_json:
        adapted = f"from {args.adaptation_json}"
    if prior is not None:
        adjustment = "on"
    elif args.no_logit_adjustment:
        adjustment = "off"
    else:
        adjustment = "off (the prior adaptation sets the prior)"
    header = (f"model `{args.model}`, data `{args.dataset_path}` split `{args.split}`, logit adjustment {adjustment}, "
              f"label banning per corpus (its emotions in the whole build), adaptation {adapted}\n\n")
    (out / "results.md").write_text(header + table + "\n")
    results.update(model=args.model, dataset=args.dataset_path, split=args.split, zero_shot=args.zero_shot,
                   adaptation=adapted, logit_adjustment=prior is not None)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    for name, metrics in results["per_corpus"].items():
        plot_confusion(metrics["confusion_matrix"], label_names, f"{prefix}{name}", out / f"confusion-{name}.png")
    print(header + table)
    return results


if __name__ == "__main__":
    main()

"""The refit head's regularization, judged by leave-one-corpus-out transfer, offline.

    python benchmarks/loco_head_variants.py runs/generalization/*-eqn-refit-corpus --C 0.05,0.1,0.25,0.5,1,2

For each run of benchmarks/generalization_runs.sh made with `--refit_head` (its target scored with --save_outputs):
the pooled features of its training clips are extracted once (bf16, as the refit reads them; cached in the run as
head_features.npz), and the head is refitted for each C exactly as train.py step 6b fits it (head_fit.fit_head:
z-scored within each training corpus, class-balanced logistic regression, tau * log(prior) in the bias). Each head
scores the target's saved raw features as evaluate_model.py does: plain (the stored source statistics), standardized
per corpus and per speaker (labels unused), on all clips and on the skewed target (seed 0). Micro-F1; the row with
the run's own C reproduces its evaluation, which the script checks. --running adds inference.RunningAdapter's
numbers (a stream of single clips, adapted from the 20th on; see running_scores); --levels the stacked refit.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS = ("plain", "per corpus", "per speaker", "skewed: plain", "per corpus", "per speaker")


def single_clip_inputs(x, config, statistics=None):
    """Features of clips scored alone, as the model standardizes them: with the stored source statistics, or with
    `statistics` (mean, std) instead."""
    mean, std = statistics or (config.source_feature_mean, config.source_feature_std)
    return (x - np.asarray(mean)) / np.maximum(np.asarray(std), 1e-5)


PLAIN_STATISTICS = ("stored", "training", "corpora", "validation")


def plain_statistics(kind: str, train_features, train_rows, validation_features=None):
    """(mean, std) for single clips: None for the model's stored ones, the training clips pooled as one group (what
    the refit's "all" level z-scores with, and what train.py stores since docs/history.md 6f), the mean over
    training corpora of their means and variances, or the run's validation clips pooled (what it stored before)."""
    if kind == "stored":
        return None
    if kind == "validation":
        return validation_features.mean(0), validation_features.std(0)
    x = np.asarray(train_features, dtype=np.float64)
    if kind == "training":
        return x.mean(0), x.std(0)
    corpora = np.asarray(train_rows["dataset"])
    means = np.stack([x[corpora == c].mean(0) for c in np.unique(corpora)])
    variances = np.stack([x[corpora == c].var(0) for c in np.unique(corpora)])
    return means.mean(0), np.sqrt(variances.mean(0))


def target_scores(features, rows, weight, bias, config, names, label_sets, unweighted=None, statistics=None,
                  adjust=True):
    """Micro-F1 (%) of one head on the target, in the six variants of the ablation table (UA appended to
    `unweighted` when given); banning to the target's label set in `label_sets`; logit adjustment by the training
    prior unless `adjust` is false."""
    unweighted = [] if unweighted is None else unweighted
    from modeling_emotion_whisper.adaptation import feature_standardization, speaker_standardize
    from modeling_emotion_whisper.evaluation import score, skewed_subset

    out = []
    for index in (np.arange(len(rows)), skewed_subset(rows, 0)):
        x, subset = features[index], rows.select(index)
        stats = feature_standardization(x, 0.0, 1.0)
        inputs = [single_clip_inputs(x, config, statistics),
                  x * np.asarray(stats["feature_scale"]) + np.asarray(stats["feature_shift"]),
                  speaker_standardize(x, subset["speaker"], 0.0, 1.0)]
        for z in inputs:
            result = score(z @ weight.T + bias, subset, names, config.label_prior if adjust else None,
                           config.logit_adjustment_tau, corpus_labels=label_sets)
            out.append(100 * result["overall"]["micro_f1"])
            unweighted.append(100 * result["overall"]["ua"])
    return out


def running_inputs(x, order, config, min_clips=20):
    """What inference.RunningAdapter feeds the head for clips `x` arriving in `order`, row by row in arrival order:
    the first min_clips - 1 z-scored with the stored source statistics (a clip alone), every later one standardized
    on the mean and deviation of the clips so far, itself included, by the adapter's own adaptation.moments_map
    (as `adapt_to_inputs` on that prefix; tests/test_running_adapter.py checks both ways agree)."""
    from modeling_emotion_whisper.adaptation import moments_map, source_statistics

    x = np.asarray(x, dtype=np.float64)[order]
    z = single_clip_inputs(x, config)
    late = np.arange(min_clips - 1, len(x))
    seen = np.arange(1, len(x) + 1)[:, None]
    mapped = moments_map(seen[late], np.cumsum(x, 0)[late], np.cumsum(x * x, 0)[late], *source_statistics(config))
    z[late] = x[late] * np.asarray(mapped["feature_scale"]) + np.asarray(mapped["feature_shift"])
    return z


def running_scores(features, rows, weight, bias, config, names, label_sets, min_clips=20, orders=5):
    """Micro-F1 (%) of inference.RunningAdapter on the target, all clips and skewed: the clips arrive one at a time in
    a random order (mean over `orders` seeded orders), scored as `running_inputs` says."""
    from modeling_emotion_whisper.evaluation import score, skewed_subset

    out = []
    for index in (np.arange(len(rows)), skewed_subset(rows, 0)):
        x, subset, values = features[index], rows.select(index), []
        for seed in range(orders):
            order = np.random.default_rng(seed).permutation(len(x))
            logits = np.empty((len(x), weight.shape[0]))
            logits[order] = running_inputs(x, order, config, min_clips) @ weight.T + bias
            result = score(logits, subset, names, config.label_prior, config.logit_adjustment_tau,
                           corpus_labels=label_sets)
            values.append(100 * result["overall"]["micro_f1"])
        out.append(float(np.mean(values)))
    return out


def validation_rows(data, resolved):
    """The validation clips train.py scored in step 7 (load_splits' filter, then --max_eval_clips drawn with the
    run's seed)."""
    corpora = set((resolved["data"].get("eval_corpora") or "").split(",")) - {""}
    rows = data["validation"]
    if corpora:
        rows = rows.filter(lambda d: d in corpora, input_columns="dataset")
    limit = resolved["data"].get("max_eval_clips")
    if limit and len(rows) > limit:
        rows = rows.shuffle(seed=resolved["training"]["seed"]).select(range(limit))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="runs/generalization/TARGET-NAME folders (refit, --save_outputs)")
    parser.add_argument("--C", default="0.1,0.25,0.5,1", help="Comma-separated inverse regularization strengths.")
    parser.add_argument("--levels", default="", help="Comma-separated groupings the training clips are z-scored "
                        "within and stacked (speaker, corpus, all; train.py --refit_head_levels); default: the "
                        "--refit_head level alone (the per-corpus head), whatever levels the run itself used")
    parser.add_argument("--plain_statistics", choices=PLAIN_STATISTICS, default="stored",
                        help="what z-scores a single clip (plain) for the refitted heads: the model's stored source "
                             "statistics, the training clips pooled, the mean over training corpora, or the run's "
                             "validation clips pooled (what train.py stored before docs/history.md 6f)")
    parser.add_argument("--own_head", action="store_true",
                        help="score each run's own head instead of refitting one per C (with --plain_statistics: "
                             "the same head under other single-clip statistics; no training features unless the "
                             "statistics need them)")
    parser.add_argument("--no_logit_adjustment", action="store_true",
                        help="score the heads without logit adjustment (the run's own evaluation, checked first, "
                             "has it)")
    parser.add_argument("--running", action="store_true", help="also score inference.RunningAdapter (clips one at "
                        "a time in random orders, adapted from the 20th on), all clips and skewed")
    args = parser.parse_args(argv)
    if args.running and args.no_logit_adjustment:
        parser.error("--running scores with logit adjustment only; leave out --no_logit_adjustment")

    import torch
    from datasets import concatenate_datasets, load_from_disk
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.adaptation import pooled_features
    from modeling_emotion_whisper.evaluation import corpus_label_sets
    from modeling_emotion_whisper.features import label_names
    from modeling_emotion_whisper.head_fit import fit_head
    from modeling_emotion_whisper.packing import ClipCollator

    Cs = ["own"] if args.own_head else [float(c) for c in args.C.split(",")]
    table, ua, running = {C: [] for C in Cs}, {C: [] for C in Cs}, {C: [] for C in Cs}
    for run in map(Path, args.runs):
        resolved = json.loads((run / "run_config.json").read_text())
        fitted = json.loads((run / "refit_head.json").read_text())
        model = WhisperForEmotionClassification.from_pretrained(run / "final", dtype=torch.float32).eval()
        config, names = model.config, label_names(model)
        data = load_from_disk(resolved["data"]["dataset_path"])
        corpora = set(resolved["data"]["train_corpora"].split(","))
        train = data["train"].filter(lambda d: d in corpora, input_columns="dataset")
        if len(train) != fitted["clips"]:
            raise SystemExit(f"{run}: {len(train)} training clips here, the refit had {fitted['clips']}")
        cache = run / "head_features.npz"
        train_features = None
        if args.own_head and args.plain_statistics in ("stored", "validation"):
            pass  # neither a refit nor these statistics read the training clips
        elif cache.exists():
            train_features = np.load(cache)["train"]
        else:
            collator = ClipCollator(WhisperFeatureExtractor(feature_size=config.num_mel_bins, return_attention_mask=True))
            train_features = pooled_features(model, train, collator, bf16=True, desc=f"{run.name}: training clips")
            np.savez(cache, train=train_features)
        validation_features = None
        if args.plain_statistics == "validation":  # the clips train.py step 7 scored, as it drew them (fp32)
            validation = validation_rows(data, resolved)
            cache = run / "validation_features.npz"
            if cache.exists():
                validation_features = np.load(cache)["validation"].astype(np.float64)
            else:
                collator = ClipCollator(WhisperFeatureExtractor(feature_size=config.num_mel_bins,
                                                                return_attention_mask=True))
                validation_features = pooled_features(model, validation, collator, desc=f"{run.name}: validation")
                np.savez(cache, validation=validation_features)
                validation_features = validation_features.astype(np.float64)
        saved = np.load(run / "eval" / "outputs.npz")
        every = concatenate_datasets([data["train"], data["validation"]])
        where = {path: i for i, path in enumerate(every["path"])}
        missing = [p for p in saved["paths"] if p not in where]
        if missing:
            raise SystemExit(f"{run}/eval/outputs.npz scores {len(missing)} clips that {resolved['data']['dataset_path']} "
                             f"does not hold, e.g. {missing[0]}")
        rows = every.select([where[p] for p in saved["paths"]])  # the target's clips, in the order they were scored
        # the run's own head first: the offline scoring must give back its evaluation
        label_sets = corpus_label_sets(data)
        own = target_scores(saved["features"], rows, model.emotion_head.weight.detach().numpy(),
                            model.emotion_head.bias.detach().numpy(), config, names, label_sets)
        recorded = [100 * json.loads((run / "eval" / v / "results.json").read_text())["overall"]["micro_f1"]
                    for v in ("none", "feature", "speaker", "none-skewed", "feature-skewed", "speaker-skewed")]
        if not np.allclose(own, recorded, atol=0.01):
            raise SystemExit(f"{run}: offline scoring {np.round(own, 2)} differs from its evaluation {recorded}")
        for C in Cs:
            if C == "own":
                weight, bias = model.emotion_head.weight.detach().numpy(), model.emotion_head.bias.detach().numpy()
            else:
                weight, bias, _ = fit_head(train_features, train, config, C=C,
                                           levels=[level for level in args.levels.split(",") if level] or None)
            table[C].append(target_scores(saved["features"], rows, weight, bias, config, names, label_sets, ua[C],
                                          plain_statistics(args.plain_statistics, train_features, train,
                                                           validation_features), not args.no_logit_adjustment))
            if args.running:
                running[C].append(running_scores(saved["features"], rows, weight, bias, config, names, label_sets))
        print(f"{run.name}: checked against its evaluation; {len(train)} training clips", flush=True)

    targets = [Path(r).name.split("-")[0] for r in args.runs]  # generalization_runs.sh names runs TARGET-NAME
    print("\nMicro-F1, mean over " + ", ".join(targets) + " (the refit head fitted with each C)\n")
    print("| C | " + " | ".join(VARIANTS) + " |\n|" + "---|" * (len(VARIANTS) + 1))
    for C in Cs:
        print(f"| {C} | " + " | ".join(f"{m:.2f}" for m in np.mean(table[C], axis=0)) + " |")
    print("\nUA, the same means\n")
    print("| C | " + " | ".join(VARIANTS) + " |\n|" + "---|" * (len(VARIANTS) + 1))
    for C in Cs:
        print(f"| {C} | " + " | ".join(f"{m:.2f}" for m in np.mean(np.reshape(ua[C], (len(targets), -1)), axis=0))
              + " |")
    if args.running:
        print("\nRunningAdapter (clips one at a time, random order, mean of 5 orders), micro-F1: all clips / skewed\n")
        for C in Cs:
            print(f"- C {C}: mean " + " / ".join(f"{m:.2f}" for m in np.mean(running[C], axis=0)) + "; "
                  + "; ".join(f"{t} {a:.1f} / {b:.1f}" for t, (a, b) in zip(targets, running[C])))
    print("\nPer target (plain / per corpus / per speaker; skewed the same):\n")
    for C in Cs:
        cells = [f"{t} " + " / ".join(f"{v:.1f}" for v in s[:3]) + "; " + " / ".join(f"{v:.1f}" for v in s[3:])
                 for t, s in zip(targets, table[C])]
        print(f"- C {C}: " + "; ".join(cells))
        if any(s[4] < s[3] for s in table[C]):  # the condition on the default adaptation (per corpus)
            print(f"  C {C}: per corpus below plain on a skewed target: "
                  + ", ".join(t for t, s in zip(targets, table[C]) if s[4] < s[3]))


if __name__ == "__main__":
    main()

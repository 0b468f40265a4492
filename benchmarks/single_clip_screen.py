"""A cheap screen for single-clip transfer (issue 26, part 2) on the frozen encoder, leave one corpus out.

    python benchmarks/single_clip_screen.py --dataset_path data/speaker-split --out runs/single-clip-screen

Why a screen: the yardstick is leave-one-corpus-out over fine-tuned recipe runs (2 h of training for six targets);
the ideas that only change what the head reads can be ranked first on the frozen Whisper encoder in minutes, and the
ones that help there are then run through the recipe. The protocol is benchmarks/probe_baseline.py's (every clip of
every corpus, each target never in training, the head fitted on the five others, arg-max banned to the target's own
emotions, micro-F1), with the refit's head (head_fit.fit_logistic_regression, class-balanced, C as configured).

Features per clip, from every hidden state (input embedding and each layer) over its valid frames: the mean (what
the recipe's head reads) and the standard deviation over time (how much each dimension moves within the clip).

Variants (what the head reads; how training clips are standardized; how a target clip is standardized):
- mean / corpus / source: the recipe (each training corpus z-scored on itself; a single target clip with the
  training clips' pooled statistics, as a shipped model does);
- mean / corpus / utterance: each clip's vector of each hidden state normalized across its own dimensions, then the
  recipe (statistics a clip computes from itself: they remove a clip's overall offset and gain per layer);
- mean+std: the same two with standard-deviation pooling added;
- mean / multi-level: the training clips z-scored at several levels at once (per corpus, per speaker, with the
  training set's statistics) and stacked, so the head cannot rely on one kind of statistics; targets as the recipe.
- std / source and std / multi-level: the standard deviation over time alone, which no offset a clip's frames share
  can move (each hidden state normalized over the clip's own frames, then pooled); mean+std / multi-level;
- mean / multi-level+NAPk (--nap K...): the stacked head with the k directions along which the training speakers'
  means spread most projected out of every input (nuisance attribute projection).
- mean / multi-level+shrinkR (--shrink R...): the stacked head; a single target clip's speaker mean predicted from
  the clip itself and subtracted (ridge regression of each training clip's speaker mean on the clip, on the
  source-standardized features, ridge R x the mean variance): it removes the directions along which speakers differ
  more than one speaker's clips do, and keeps the ones emotion moves within a speaker.
--variants picks some of these by name ("mean/multi-level,std/source").
Each is also scored per corpus (the target z-scored on its own clips) and per speaker, on all clips and skewed.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from modeling_emotion_whisper.evaluation import skew  # noqa: E402
from modeling_emotion_whisper.head_fit import fit_logistic_regression  # noqa: E402

POOLINGS = ("mean", "mean+std")
LEVELS = ("plain", "per corpus", "per speaker")


@torch.no_grad()
def extract(model_path, rows, batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over valid frames of every hidden state: two arrays (clips, states, d_model)."""
    from tqdm.auto import tqdm
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.audio import load_audio
    from modeling_emotion_whisper.features import mel_features

    model = WhisperForEmotionClassification.from_whisper(model_path).eval()
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True)
    order = np.argsort(np.asarray(rows["duration"]), kind="stable")
    paths, offsets = rows["path"], rows["offset"]
    mean = std = None
    for start in tqdm(range(0, len(order), batch_size), desc="frozen encoder"):
        index = order[start : start + batch_size]
        waves = [load_audio(paths[i], offset=offsets[i])[: 30 * 16000] for i in index]
        features, mask = mel_features(extractor, waves)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            result = model(input_features=features, attention_mask=mask, output_hidden_states=True)
        w = result.frame_mask.float()[..., None]
        n = w.sum(1)
        states = [h.float() for h in result.hidden_states]
        m = torch.stack([(h * w).sum(1) / n for h in states], 1)
        s = torch.stack([(((h - mu[:, None]) ** 2) * w).sum(1) / n for h, mu in zip(states, m.unbind(1))], 1).sqrt()
        if mean is None:
            mean = np.zeros((len(rows), *m.shape[1:]), dtype=np.float32)
            std = np.zeros_like(mean)
        mean[index], std[index] = m.numpy(), s.numpy()
    return mean, std


def utterance_normalize(x: np.ndarray) -> np.ndarray:
    """Each clip's vector of each hidden state (clips, states, dim) onto mean 0, std 1 across its dimensions."""
    return (x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + 1e-6)


def zscore(x, groups):
    out = np.empty_like(x)
    for g in np.unique(groups):
        member = groups == g
        out[member] = (x[member] - x[member].mean(0)) / (x[member].std(0) + 1e-5)
    return out


def group_average_statistics(x, groups):
    """The mean over training groups of their means and variances: the screen's default statistics for a single
    clip (a model stored its validation clips' pooled statistics until history.md 6f, its training clips' since;
    --plain_statistics)."""
    means = np.stack([x[groups == g].mean(0) for g in np.unique(groups)])
    variances = np.stack([x[groups == g].var(0) for g in np.unique(groups)])
    return means.mean(0), np.sqrt(variances.mean(0)) + 1e-5


def nuisance_basis(x_source, groups, k: int) -> np.ndarray:
    """The k directions along which the training groups' means spread most (d, k): nuisance attribute projection
    (NAP, from speaker recognition). Acted corpora give every speaker every emotion, so a speaker's mean is who and
    where they were recorded, not what they felt; a head kept orthogonal to these directions cannot read an unseen
    corpus's offset along them."""
    means = np.stack([x_source[groups == g].mean(0) for g in np.unique(groups)])
    means -= means.mean(0)
    _, _, vt = np.linalg.svd(means, full_matrices=False)
    return vt[:k].T


def speaker_mean_regression(u_source, groups, ratio: float):
    """(centre, A): a clip u's predicted group mean is centre + (u - centre) @ A, the ridge regression of each clip's
    group mean on the clip: A = (S_total + ratio * mean variance * I)^-1 S_between (scatter matrices of u_source)."""
    centre = u_source.mean(0)
    c = u_source - centre
    total = c.T @ c
    members = {g: c[groups == g].mean(0) for g in np.unique(groups)}
    between = np.stack([members[g] for g in groups]).T @ c
    ridge = ratio * np.trace(total) / len(total)
    return centre, np.linalg.solve(total + ridge * np.eye(len(total)), between)


def project_out(z, basis):
    return z - (z @ basis) @ basis.T if basis is not None else z


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--model", default="../shared/models/whisper-base-encoder")
    parser.add_argument("--out", default="runs/single-clip-screen")
    parser.add_argument("--C", type=float, default=1e-4, help="the refit's inverse L2 strength (configs/cpu-whisper-base.yaml)")
    parser.add_argument("--corpora", default="", help="comma-separated targets (default: every corpus)")
    parser.add_argument("--nap", type=int, nargs="*", default=[],
                        help="also screen the stacked head with the top K directions of the training speakers' "
                             "means projected out of every input (one variant per K)")
    parser.add_argument("--shrink", type=float, nargs="*", default=[],
                        help="also screen the stacked head with each single target clip's speaker mean predicted "
                             "from the clip and subtracted, at these ridge ratios (one variant per ratio)")
    parser.add_argument("--plain_statistics", choices=("groups", "training", "validation"), default="groups",
                        help="what z-scores a single target clip (plain): the mean over training corpora of their "
                             "means and variances (groups), the training corpora's clips pooled (training: what the "
                             "refit's 'all' level fits on and, since history.md 6f, what a refitted model stores), "
                             "or their validation speakers' clips pooled (validation: what models stored before)")
    parser.add_argument("--variants", default="",
                        help="comma-separated 'pooling/standardized' variants to run (default: all)")
    args = parser.parse_args(argv)
    from datasets import concatenate_datasets, load_from_disk

    data = load_from_disk(args.dataset_path)
    rows = concatenate_datasets([data["train"], data["validation"]])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "features.npz"
    if cache.exists() and len(np.load(cache)["mean"]) == len(rows):
        stored = np.load(cache)
        mean, std = stored["mean"], stored["std"]
    else:
        started = time.time()
        mean, std = extract(args.model, rows)
        np.savez(cache, mean=mean, std=std)
        print(f"features of {len(rows)} clips in {time.time() - started:.0f} s", flush=True)
    labels, datasets, speakers = (np.asarray(rows[c]) for c in ("label", "dataset", "speaker"))
    n = len(labels)
    validation_split = np.arange(n) >= len(data["train"])
    inputs = {
        ("mean", "source"): mean.reshape(n, -1),
        ("mean", "utterance"): utterance_normalize(mean).reshape(n, -1),
        ("mean+std", "source"): np.concatenate([mean, std], 1).reshape(n, -1),
        ("mean+std", "utterance"): np.concatenate([utterance_normalize(mean), utterance_normalize(std)], 1).reshape(n, -1),
        ("mean", "multi-level"): mean.reshape(n, -1),
        ("std", "source"): std.reshape(n, -1),
        ("std", "multi-level"): std.reshape(n, -1),
        ("mean+std", "multi-level"): np.concatenate([mean, std], 1).reshape(n, -1),
        **{("mean", f"multi-level+NAP{k}"): mean.reshape(n, -1) for k in args.nap},
        **{("mean", f"multi-level+shrink{r:g}"): mean.reshape(n, -1) for r in args.shrink},
    }
    if args.variants:
        inputs = {key: x for key, x in inputs.items() if "/".join(key) in args.variants.split(",")}
    corpora = [c for c in sorted(set(datasets)) if not args.corpora or c in args.corpora.split(",")]
    table = {}
    for (pooling, variant), x in inputs.items():
        for target in corpora:
            train, test = datasets != target, datasets == target
            source_mean, source_std = group_average_statistics(x[train], datasets[train])
            if args.plain_statistics != "groups":
                pooled = x[train & validation_split] if args.plain_statistics == "validation" else x[train]
                source_mean, source_std = pooled.mean(0), pooled.std(0) + 1e-5
            basis = None
            if "NAP" in variant:
                basis = nuisance_basis((x[train] - source_mean) / source_std, speakers[train], int(variant.split("NAP")[-1]))
            shrink = None
            if "shrink" in variant:
                shrink = speaker_mean_regression((x[train] - source_mean) / source_std, speakers[train],
                                                 float(variant.split("shrink")[-1]))
            if variant.startswith("multi-level"):  # the same clips three times, each standardized another way
                z_train = np.concatenate([zscore(x[train], datasets[train]), zscore(x[train], speakers[train]),
                                          zscore(x[train], np.zeros(int(train.sum())))])
                y_train = np.tile(labels[train], 3)
            else:
                z_train, y_train = zscore(x[train], datasets[train]), labels[train]
            started = time.time()
            z_train = project_out(z_train, basis)
            weight, bias = fit_logistic_regression(z_train.astype(np.float64), y_train, 8, C=args.C)
            seconds = time.time() - started
            kept = np.zeros(n, dtype=bool)
            kept[test] = skew(speakers[test], labels[test])
            for subset_name, subset in (("all", test), ("skewed", kept)):
                xs, ys = x[subset], labels[subset]
                allowed = np.isin(np.arange(8), np.unique(labels[test]))
                for level in LEVELS:
                    if level == "plain":
                        z = (xs - source_mean) / source_std
                        if shrink is not None:
                            centre, A = shrink
                            z = z - (centre + (z - centre) @ A)
                    else:
                        z = zscore(xs, np.zeros(len(ys)) if level == "per corpus" else speakers[subset])
                    logits = np.where(allowed, project_out(z, basis) @ weight.T + bias, -np.inf)
                    table[(pooling, variant, target, subset_name, level)] = 100 * float((logits.argmax(1) == ys).mean())
            print(f"{pooling} / {variant} / {target}: " + ", ".join(
                f"{level} {table[(pooling, variant, target, 'all', level)]:.1f}" for level in LEVELS)
                + f" (fit {seconds:.0f} s)", flush=True)
    lines = []
    for subset_name in ("all", "skewed"):
        lines += [f"\n{subset_name} clips of each target: micro-F1, mean over {len(corpora)} targets "
                  f"(plain / per corpus / per speaker), then plain per target\n",
                  "| head reads | standardized | plain | per corpus | per speaker | " + " | ".join(corpora) + " |",
                  "|---|---|---|---|---|" + "---|" * len(corpora)]
        for pooling, variant in inputs:
            means = [np.mean([table[(pooling, variant, c, subset_name, level)] for c in corpora]) for level in LEVELS]
            per_target = [table[(pooling, variant, c, subset_name, "plain")] for c in corpora]
            lines.append(f"| {pooling} | {variant} | " + " | ".join(f"{v:.2f}" for v in means) + " | "
                         + " | ".join(f"{v:.1f}" for v in per_target) + " |")
    print("\n".join(lines))
    (out / "screen.md").write_text("\n".join(lines) + "\n")
    (out / "screen.json").write_text(json.dumps({"|".join(k): v for k, v in table.items()}, indent=1))


if __name__ == "__main__":
    main()

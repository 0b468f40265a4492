"""Clip-level evaluation of a model on a built corpus split, as in the paper's Table 2.

Every clip is scored alone at its own length (identical to padding it to 30 s, since the model masks padding);
clips longer than 30 s as frame-weighted 30 s windows, exactly as the pipeline and `predict_clips` score them.
Per corpus: label banning restricts the arg-max to the emotions that corpus has in the whole build (every split;
`corpus_label_sets`), never to those that happen to be among the scored clips; logit adjustment uses the training
prior stored in the model config. Also reported without adjustment, so its effect is visible.
"""

import numpy as np

from .adaptation import pooled_features
from .batch import predict_logits  # noqa: F401  (evaluation's public API since the start; it lives below adaptation)
from .features import label_names
from .metrics import decision_logits, evaluate_logits


def corpus_label_sets(splits) -> dict[str, list[int]]:
    """The hard labels of each corpus anywhere in a build: `splits` is the DatasetDict data_scripts.build wrote (or
    one dataset, or a list of them), with columns dataset and label. These are the emotions a corpus is judged on.
    The clips being scored are no guide: a validation speaker who never acted two of the corpus's emotions, or a
    random --max_eval_clips draw, would ban those emotions and hand the model free eliminations (a TurEV-DB split
    scored 86.0 instead of 59.3, issue 30.5)."""
    if hasattr(splits, "column_names") and not hasattr(splits, "values"):
        splits = [splits]
    found = {}
    for data in (splits.values() if hasattr(splits, "values") else splits):
        corpora, labels = np.asarray(data["dataset"]), np.asarray(data["label"], dtype=np.int64)
        for corpus in np.unique(corpora):
            found.setdefault(str(corpus), set()).update(int(x) for x in np.unique(labels[corpora == corpus]))
    return {corpus: sorted(labels) for corpus, labels in sorted(found.items())}


def allowed_labels(corpus, corpus_labels, hard_labels=()) -> list[int]:
    """The emotions `corpus` can be judged on: its label set in `corpus_labels` (`corpus_label_sets` of the build).
    `hard_labels`, the scored clips' labels, must lie within it: one outside means the sets describe another build."""
    if corpus not in corpus_labels:
        raise ValueError(f"no label set for corpus {corpus!r}: pass corpus_labels=corpus_label_sets(build) of the "
                         "build the scored clips come from")
    allowed = sorted(int(x) for x in corpus_labels[corpus])
    stray = sorted({int(x) for x in hard_labels} - set(allowed))
    if stray:
        raise ValueError(f"clips of {corpus!r} have labels {stray} outside its label set {allowed}: the label sets "
                         "come from another build")
    return allowed


def decided_logits(logits, rows, prior=None, tau: float = 1.0, *, corpus_labels) -> np.ndarray:
    """The logits each clip is decided by (arg-max): emotions its corpus lacks banned (`corpus_labels`, see
    `corpus_label_sets`), logit adjustment applied."""
    labels, datasets = np.asarray(rows["label"]), np.asarray(rows["dataset"])
    decided = np.array(logits, dtype=np.float64, copy=True)
    for name in set(datasets):
        mask = datasets == name
        decided[mask] = decision_logits(logits[mask], allowed_labels(name, corpus_labels, labels[mask]), prior, tau)
    return decided


def score(logits, rows, label_names, prior=None, tau: float = 1.0, *, corpus_labels) -> dict:
    """Metrics overall and per corpus, with banning per corpus (its label set in `corpus_labels`, see
    `corpus_label_sets`), with and without logit adjustment."""
    labels = np.asarray(rows["label"])
    datasets = np.asarray(rows["dataset"])
    results = {"per_corpus": {}, "per_corpus_no_adjustment": {}, "label_sets": {}}
    for name in sorted(set(datasets)):
        mask = datasets == name
        allowed = results["label_sets"][str(name)] = allowed_labels(name, corpus_labels, labels[mask])
        results["per_corpus"][name] = evaluate_logits(logits[mask], labels[mask], label_names, allowed, prior, tau)
        results["per_corpus_no_adjustment"][name] = evaluate_logits(logits[mask], labels[mask], label_names, allowed)
    results["overall"] = evaluate_logits(decided_logits(logits, rows, prior, tau, corpus_labels=corpus_labels),
                                         labels, label_names)
    return results


def single_clip_logits(model, features: np.ndarray) -> np.ndarray:
    """Raw clip logits of a standardizing model from pooled `features` (n, head_input_size), as its forward scores a
    single clip: z-scored with `standardization_statistics` (the config's source statistics), then the emotion head.
    Rescores clips offline after their statistics change, instead of another pass over the audio."""
    mean, std = (t.float().cpu().numpy() for t in model.standardization_statistics())
    head = model.emotion_head
    return ((np.asarray(features) - mean) / std) @ head.weight.detach().float().cpu().numpy().T + \
        head.bias.detach().float().cpu().numpy()


def evaluate_model(model, rows, collator, batch_size: int = 8, logit_adjustment: bool = True,
                   store_source_statistics: bool = False, *, corpus_labels) -> dict:
    """Scores of `model` on `rows`, each corpus judged on its label set in `corpus_labels` (`corpus_label_sets` of
    the build `rows` come from). With `store_source_statistics` (rows from the training domains, unseen
    speakers), the mean and std of the pooled features are kept in the model config for later adaptation."""
    standardizing = store_source_statistics and model.config.feature_standardization != "none"
    if standardizing:  # its single-clip statistics are what is measured here: read the features as they come
        features = pooled_features(model, rows, collator, batch_size, desc="evaluating")
    else:
        logits, features = predict_logits(model, rows, collator, batch_size, return_features=True)
    if store_source_statistics:
        model.config.source_feature_mean = [float(x) for x in features.mean(0)]
        model.config.source_feature_std = [float(x) for x in features.std(0)]
    if standardizing:  # scored as a single clip will be from now on: z-scored with the statistics just stored
        logits = single_clip_logits(model, features)
    prior = model.config.label_prior if logit_adjustment else None
    names = label_names(model)
    results = score(logits, rows, names, prior, model.config.logit_adjustment_tau, corpus_labels=corpus_labels)
    results["label_names"] = names
    return results


def skew(speakers, labels, seed: int = 0) -> np.ndarray:
    """A boolean mask over one corpus's clips, as real recordings are: each speaker keeps one or two emotions (at least
    ceil(emotions / speakers), so that together they still cover every emotion of the corpus); seeded."""
    speakers, labels = np.asarray(speakers), np.asarray(labels)
    rng = np.random.default_rng(seed)
    people, emotions = sorted(set(speakers)), sorted(set(labels))
    has = {p: sorted(set(labels[speakers == p])) for p in people}
    minimum = -(-len(emotions) // len(people))
    chosen = {p: set() for p in people}
    for emotion in rng.permutation(emotions):  # cover every emotion first, with a speaker who has it
        candidates = [p for p in people if emotion in has[p] and len(chosen[p]) < max(2, minimum)] or \
                     [p for p in people if emotion in has[p]]
        chosen[candidates[int(rng.integers(len(candidates)))]].add(emotion)
    for p in people:  # then top every speaker up to its own draw of 1 or 2 (or the minimum)
        want = max(minimum, int(rng.integers(1, 3)))
        spare = [e for e in rng.permutation(has[p]) if e not in chosen[p]]
        chosen[p].update(spare[: max(0, want - len(chosen[p]))])
    return np.array([labels[i] in chosen[speakers[i]] for i in range(len(labels))], dtype=bool)


def skewed_subset(rows, seed: int = 0) -> np.ndarray:
    """Indices of the skewed version (`skew`) of every corpus in `rows` (columns label, dataset, speaker)."""
    labels, datasets, speakers = (np.asarray(rows[c]) for c in ("label", "dataset", "speaker"))
    keep = np.zeros(len(labels), dtype=bool)
    for corpus in sorted(set(datasets)):
        in_corpus = datasets == corpus
        keep[in_corpus] = skew(speakers[in_corpus], labels[in_corpus], seed)
    return np.flatnonzero(keep)

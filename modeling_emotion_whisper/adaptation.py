"""Adapting a trained model to a new domain (a corpus, a speaker, a call centre).

Unsupervised, from unlabeled target audio (each method returns a small dict that `model.set_adaptation` applies
and `save_adaptation` writes as JSON):
- "feature": per-domain standardization of the pooled encoder features: map the target's mean/std per dimension
  onto the source's (stored in the model config after training), before the heads; for a model trained with
  feature_standardization, z-score them with the target's own statistics, as in training.
- "logit": centre the target's clip logits per class on the logits the source mean feature would give.
- "prior": re-estimate the target label prior by EM (Saerens, Latinne, Decaestecker 2002) and shift the logits by
  log(target prior) - log(training prior).
- per-speaker standardization (`speaker_standardize`), when speaker ids are known: "feature" per speaker.
Few-shot: `few_shot_finetune` trains the head (and optionally the top encoder layers) on k labelled clips per class.

Prior adaptation and logit adjustment, one rule: the raw logits carry the training prior s. Logit adjustment
replaces s by a uniform prior (logits - tau * log s); a "prior" adaptation replaces s by the target prior t that EM
estimated (logits + log t - log s, its full `logit_shift`, marked by its `target_prior`). Both choose the prior the
decision is made under, so they do not stack: wherever a prior adaptation is active (`replaces_prior`), logit
adjustment is not applied, whether asked for or not (the model's forward, evaluate_model.py, `emotion-whisper
predict --adaptation ... --logit-adjustment`, the pipeline, benchmarks/adaptation.py). Stacking them subtracted
log s twice and pushed decisions away from the training's frequent emotions (issue 30.3).
"""

import json
from pathlib import Path

import numpy as np

METHODS = ("feature", "logit", "prior")


def source_statistics(config):
    """What a target's features are mapped onto: a model that standardizes per domain was trained on z-scores
    (mean 0, std 1); any other onto the source-domain statistics measured after training."""
    if config.feature_standardization != "none":
        if config.source_feature_mean is not None:
            width = len(config.source_feature_mean)
        else:  # configuration_emotion_whisper.head_input_size, without importing transformers (the onnx backend)
            width = config.d_model * (config.encoder_layers + 1 if getattr(config, "layer_concatenation", False) else 1)
        return np.zeros(width), np.ones(width)
    if config.source_feature_mean is None or config.source_feature_std is None:
        raise ValueError("the model config has no source feature statistics (source_feature_mean/std); "
                         "train.py stores them; for an older model run evaluate_model.py --save_source_statistics on held-out "
                         "clips of its training corpora")
    return np.asarray(config.source_feature_mean), np.asarray(config.source_feature_std)


def feature_standardization(target_features: np.ndarray, source_mean, source_std, eps: float = 1e-5) -> dict:
    """Affine map of features so that the target's per-dimension mean/std become the source's."""
    return standardization_map(target_features.mean(0), target_features.std(0), source_mean, source_std, eps)


def standardization_map(target_mean, target_std, source_mean, source_std, eps: float = 1e-5) -> dict:
    """The affine map of `feature_standardization` from the target's statistics themselves (e.g. running ones)."""
    scale = np.asarray(source_std) / (np.asarray(target_std) + eps)
    return {"feature_scale": scale.tolist(), "feature_shift": (np.asarray(source_mean) - target_mean * scale).tolist()}


def moments_map(count, total, squares, source_mean, source_std) -> dict:
    """The map of `standardization_map` from running sums: `count` clips whose features sum to `total` and whose
    squares sum to `squares` (population deviation, as `feature_standardization`). Arrays broadcast: rows of
    cumulative sums give one map per prefix."""
    mean = np.asarray(total) / count
    std = np.sqrt(np.maximum(np.asarray(squares) / count - mean * mean, 0.0))
    return standardization_map(mean, std, source_mean, source_std)


def logit_centering(target_logits: np.ndarray, head_weight: np.ndarray, head_bias: np.ndarray, source_mean) -> dict:
    """Shift each class's logits so that the target's mean logit equals the source mean feature's logit."""
    source_logits = head_weight @ np.asarray(source_mean) + head_bias
    return {"logit_shift": (source_logits - target_logits.mean(0)).tolist()}


def em_prior(probabilities: np.ndarray, source_prior, iterations: int = 200, tol: float = 1e-8) -> np.ndarray:
    """Saerens et al. (2002): EM estimate of the target label prior from posteriors computed under `source_prior`."""
    source = np.asarray(source_prior, dtype=np.float64)
    source = source / source.sum()
    active = source > 0
    target = source.copy()
    for _ in range(iterations):
        weighted = probabilities[:, active] * (target[active] / source[active])
        posterior = weighted / weighted.sum(1, keepdims=True)
        updated = np.zeros_like(target)
        updated[active] = posterior.mean(0)
        if np.abs(updated - target).max() < tol:
            target = updated
            break
        target = updated
    return target


def replaces_prior(adaptation) -> bool:
    """Whether `adaptation` (a dict, as estimated or loaded) sets the decision's label prior itself, so that logit
    adjustment must be left out (the module docstring's rule)."""
    return adaptation is not None and "target_prior" in adaptation


def prior_shift(target_prior, source_prior) -> dict:
    target, source = np.asarray(target_prior, float), np.asarray(source_prior, float)
    source = source / source.sum()
    shift = np.where((source > 0) & (target > 0), np.log(np.maximum(target, 1e-12)) - np.log(np.maximum(source, 1e-12)),
                     np.where(source > 0, -30.0, 0.0))
    return {"logit_shift": shift.tolist()}


def estimate(method: str, model, logits: np.ndarray, features: np.ndarray) -> dict:
    """The adaptation dict of one method, from the target's raw clip logits and pooled features (no labels)."""
    if method == "feature":
        return {"method": method, **feature_standardization(features, *source_statistics(model.config))}
    if method == "logit":
        weight = model.emotion_head.weight.detach().float().cpu().numpy()
        bias = model.emotion_head.bias.detach().float().cpu().numpy()
        return {"method": method, **logit_centering(logits, weight, bias, source_statistics(model.config)[0])}
    if method == "prior":
        if model.config.label_prior is None:
            raise ValueError("prior adaptation needs config.label_prior (the training label distribution)")
        shifted = logits - logits.max(1, keepdims=True)
        probabilities = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
        target = em_prior(probabilities, model.config.label_prior)
        return {"method": method, "target_prior": target.tolist(), **prior_shift(target, model.config.label_prior)}
    raise ValueError(f"unknown adaptation method {method!r}; choose from {METHODS}")


def apply_offline(adaptation: dict, logits: np.ndarray, features: np.ndarray, head_weight, head_bias) -> np.ndarray:
    """What the adapted model's clip logits would be, computed from cached raw logits and features."""
    if "feature_scale" in adaptation:
        features = features * np.asarray(adaptation["feature_scale"]) + np.asarray(adaptation["feature_shift"])
        logits = features @ np.asarray(head_weight).T + np.asarray(head_bias)
    if "logit_shift" in adaptation:
        logits = logits + np.asarray(adaptation["logit_shift"])
    return logits


def adapt_logits(method: str, model, logits: np.ndarray, features: np.ndarray, speakers=None) -> np.ndarray:
    """Transductive, unsupervised: estimate `method` on these clips (one target domain) and return adapted logits.
    "speaker" standardizes the features of each speaker separately."""
    weight = model.emotion_head.weight.detach().float().cpu().numpy()
    bias = model.emotion_head.bias.detach().float().cpu().numpy()
    if method == "speaker":
        if speakers is None:
            raise ValueError("per-speaker adaptation needs speaker ids")
        return speaker_standardize(features, speakers, *source_statistics(model.config)) @ weight.T + bias
    return apply_offline(estimate(method, model, logits, features), logits, features, weight, bias)


def speaker_standardize(features: np.ndarray, speakers, source_mean, source_std) -> np.ndarray:
    """Per-speaker feature standardization onto the source statistics."""
    speakers = np.asarray(speakers)
    out = np.empty_like(features)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        stats = feature_standardization(features[rows], source_mean, source_std)
        out[rows] = features[rows] * np.asarray(stats["feature_scale"]) + np.asarray(stats["feature_shift"])
    return out


def training_groups(rows, level: str, num_domains: int):
    """Group of each training clip and of each domain id for per-domain standardization in training: "speaker" is
    the domain itself (corpus x speaker x language), "corpus" the clip's corpus. Returns (clip_groups,
    group_of_domain); domain ids no training clip has map to group 0 (never looked up)."""
    domains = np.asarray(rows["domain"], dtype=np.int64)
    keys = domains if level == "speaker" else np.asarray(rows["dataset"])
    _, clip_groups = np.unique(keys, return_inverse=True)
    group_of_domain = np.zeros(max(num_domains, int(domains.max()) + 1), dtype=np.int64)
    group_of_domain[domains] = clip_groups
    return clip_groups, group_of_domain


def pooled_features(model, rows, collator, batch_size: int = 8, bf16: bool = False, desc: str = "pooled features"):
    """The pooled head input (n, head_input_size) of each clip alone, as the model reads it before any standardization
    or adaptation (an identity adaptation stands in, so a standardizing model needs no statistics for this)."""
    from .batch import predict_logits  # torch: adaptation itself serves the ONNX backend without it

    saved = model.adaptation
    width = model.head_input_size
    model.set_adaptation({"feature_scale": [1.0] * width, "feature_shift": [0.0] * width})
    try:
        return predict_logits(model, rows, collator, batch_size, desc=desc, return_features=True, bf16=bf16)[1]
    finally:
        model.adaptation = saved


def group_statistics(model, rows, collator, clip_groups, max_clips: int = 64, seed: int = 0, batch_size: int = 8,
                     bf16: bool = False):
    """Mean and variance (groups, head_input_size) of the pooled features of up to `max_clips` clips per group
    (seeded choice), each clip alone, without augmentation: the starting point of per-domain standardization in
    training."""
    rng = np.random.default_rng(seed)
    clip_groups = np.asarray(clip_groups)
    chosen = np.sort(np.concatenate([rng.permutation(np.flatnonzero(clip_groups == g))[:max_clips]
                                     for g in np.unique(clip_groups)]))
    features = pooled_features(model, rows.select(chosen), collator, batch_size, bf16, desc="group statistics")
    groups = clip_groups[chosen]
    count = np.bincount(groups, minlength=int(clip_groups.max()) + 1)[:, None]
    mean = np.zeros((count.shape[0], features.shape[1]))
    np.add.at(mean, groups, features)
    mean /= np.maximum(count, 1)
    var = np.zeros_like(mean)
    np.add.at(var, groups, (features - mean[groups]) ** 2)
    return mean, var / np.maximum(count, 1)


def save_adaptation(adaptation: dict, path):
    Path(path).write_text(json.dumps(adaptation, indent=1))


def load_adaptation(path) -> dict:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not ({"feature_scale", "logit_shift"} & set(data)):
        raise ValueError(f"{path} is not an adaptation file (no feature_scale or logit_shift)")
    return data


def few_shot_finetune(model, support_rows, collator, train_layers: int = 0, steps: int = 60, lr: float = 1e-3,
                      batch_size: int = 16, seed: int = 0):
    """Fine-tune the emotion head (with the frame head, when frames have one of their own) and the top `train_layers`
    encoder layers on a few labelled clips (rows with path, duration and soft_label), each clip alone at its own
    length, with the model's own loss; everything else stays frozen.

    Every head trains on exactly what `forward` feeds it when the saved model serves: head only, the clips' pooled
    features are computed once and mapped by `model.head_input` (the model's standardization or the adaptation it
    holds), and the frame head reads the pooled final layer; with encoder layers, every step runs `forward` itself.
    A stream head (config.stream_head) is kept when the encoder stays as it is and dropped when its top layers train:
    it was fitted to frames of the encoder before (train.py --fit_stream_head fits a new one)."""
    import torch

    from .batch import predict_logits

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    heads = [model.emotion_head] + ([model.frame_head] if model.frame_head is not None else [])
    trainable = [p for head in heads for p in head.parameters()]
    top = list(model.encoder.layers)[len(model.encoder.layers) - train_layers:] if train_layers else []
    for module in top + ([model.encoder.layer_norm] if top else []):
        trainable += list(module.parameters())
    if top and getattr(model, "stream_head", None) is not None:
        model.stream_head, model.config.stream_head = None, False
    for parameter in trainable:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01)
    targets = torch.tensor(np.asarray(support_rows["soft_label"]), dtype=torch.float32)
    # The pooled final layer (the frame head's input) is the last block of the pooled features unless a layer
    # weighting mixed the layers: a frame head there trains through forward.
    cached = not top and (model.frame_head is None or model.layer_weights is None)
    if cached:
        _, pooled = predict_logits(model, support_rows, collator, return_features=True, desc="support set")
        pooled = torch.from_numpy(pooled).to(model.emotion_head.weight)
        with torch.no_grad():
            inputs = [model.head_input(pooled), pooled[:, -model.config.d_model:]]
    model.train()
    for _ in range(steps):
        chosen = np.sort(rng.choice(len(targets), size=min(batch_size, len(targets)), replace=False))
        if cached:
            loss = sum(model.emotion_loss_fn(head(x[chosen]), targets[chosen]) for head, x in zip(heads, inputs))
        else:
            batch = collator([support_rows[int(i)] for i in chosen])
            loss = model(input_features=batch["input_features"], attention_mask=batch["attention_mask"],
                         window_counts=batch.get("window_counts"), labels=targets[chosen]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model

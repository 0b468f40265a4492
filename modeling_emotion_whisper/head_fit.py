"""Refit the emotion head as a linear probe on the trained encoder: the probe baseline's recipe inside the model.

Fine-tuning trains the head through packed 30 s windows, soft labels and augmentation, a few hundred steps; a linear
probe on the same encoder's pooled features, fitted to convergence, transfers better to corpora never heard (the
generalization issue; docs/history.md, "Ablations for generalization"). `refit_head` does that fit and writes the
result into the model's own emotion head, so the pipeline, `predict`, `timeline` and the ONNX export serve it as
they serve any model (train.py --refit_head speaker|corpus: `probe_layout`, then `refit_head`):

1. every training clip alone, no augmentation: the pooled head input (with `layer_concatenation`, every hidden
   state side by side, as the probe reads them);
2. each clip z-scored with its group's own statistics (`config.feature_standardization`: speaker or corpus), by
   `adaptation.speaker_standardize`, the rule the model applies at inference to a group of inputs;
3. multinomial logistic regression with scikit-learn's objective, 0.5 ||W||^2 + C sum_i w_i CE_i with "balanced"
   class weights, solved by L-BFGS in torch (float64);
4. the weights become the emotion head. Classes without a training clip (e.g. "other") get a zero row and a bias
   far below the others: never predicted. The class-balanced fit has no prior in it; tau * log(prior) is added to
   its bias so that the model's logit adjustment (applied in evaluation) returns exactly the balanced fit, and raw
   logits carry the training prior as every other head of this project does.

Frames: the probe is fitted on clip means, and its large weights applied to single frames turn frame-to-frame noise
into label flicker (timeline frame accuracy fell from about 50 % to 20 to 36 % in docs/history.md). `probe_layout`
therefore keeps the fine-tuned per-frame head as `frame_head`, which scores frames (timelines) while the refitted
head scores clips.
"""

import copy
import time

import numpy as np
import torch

from .adaptation import pooled_features, speaker_standardize, training_groups

ABSENT_CLASS_MARGIN = 30.0  # nats below the lowest fitted bias: a class no training clip had is never predicted


def fit_logistic_regression(x: np.ndarray, y: np.ndarray, num_classes: int, C: float = 0.5, max_iter: int = 300,
                            sample_weight=None):
    """Weights (num_classes, dim) and bias (num_classes,) minimizing 0.5 ||W||^2 + C sum_i w_i CE(x_i W^T + b, y_i),
    w_i = n / (classes * count(y_i)) (scikit-learn's LogisticRegression(C, class_weight="balanced"), intercept not
    penalized) unless `sample_weight` gives them. Only the classes present in `y` are fitted."""
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(f"refitting the head needs clips of at least two emotions; the training clips have "
                         f"{len(present)}")
    index = np.searchsorted(present, y)
    counts = np.bincount(index, minlength=len(present))
    features = torch.as_tensor(x, dtype=torch.float64)
    targets = torch.as_tensor(index)
    if sample_weight is None:
        sample_weight = len(y) / (len(present) * counts[index])
    elif len(sample_weight) != len(y):
        raise ValueError(f"sample_weight has {len(sample_weight)} values for {len(y)} clips: give one per clip")
    sample_weight = torch.as_tensor(sample_weight, dtype=torch.float64)
    weight = torch.zeros(len(present), x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(len(present), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-10,
                                  history_size=20, line_search_fn="strong_wolfe")
    n = len(y)

    def objective():  # sklearn's objective divided by C * n, the same minimizer on a friendlier scale
        optimizer.zero_grad()
        losses = torch.nn.functional.cross_entropy(features @ weight.T + bias, targets, reduction="none")
        loss = (sample_weight * losses).sum() / n + (weight * weight).sum() / (2 * C * n)
        loss.backward()
        return loss

    optimizer.step(objective)
    full_weight = np.zeros((num_classes, x.shape[1]))
    fitted_bias = bias.detach().numpy()
    full_bias = np.full(num_classes, fitted_bias.min() - ABSENT_CLASS_MARGIN)
    full_weight[present] = weight.detach().numpy()
    full_bias[present] = fitted_bias
    return full_weight, full_bias


def per_frame_head(model):
    """The trained linear head that scores each frame of the final layer: `frame_head` once the head was refitted,
    the emotion head in the paper's layout (final output, unstandardized), otherwise None."""
    config = model.config
    if config.frame_head:
        return model.frame_head
    paper_layout = not (config.layer_weighting or config.layer_concatenation or config.feature_standardization != "none")
    return model.emotion_head if paper_layout else None


def probe_layout(model, level: str, keep_frame_head: bool = True):
    """The same encoder (a copy) with new heads that read every hidden state side by side, standardized per `level`
    ("speaker" or "corpus"): the layout `refit_head` fits. With `keep_frame_head` (the head was trained), the emotion
    head becomes the frame head if it read the final output unstandardized, and a frame head already there stays;
    otherwise frames are scored by the refitted head. `refit_head` stores the source statistics again."""
    config = copy.deepcopy(model.config)
    frames_from = per_frame_head(model)
    keeps_frames = keep_frame_head and frames_from is not None
    config.layer_concatenation, config.layer_weighting, config.feature_standardization = True, False, level
    config.source_feature_mean = config.source_feature_std = None
    config.frame_head = keeps_frames
    config.stream_head = False  # fitted on the frames of the encoder's final output: fit_stream_head again after this
    probe = type(model)(config)
    probe.encoder.load_state_dict(model.encoder.state_dict())
    if keeps_frames:
        probe.frame_head.load_state_dict(frames_from.state_dict())
    parameter = next(model.parameters())
    return probe.to(parameter.device, parameter.dtype)


def refit_head(model, rows, collator, C: float = 0.5, max_iter: int = 300, batch_size: int = 8,
               bf16: bool = False, levels=None) -> dict:
    """Steps 1 to 4 above on `rows` (the training clips: columns path, duration, label, dataset, domain); changes the
    model's emotion head in place, and stores the training clips' pooled mean and std as the statistics a single
    clip is z-scored with (config.source_feature_mean/std): the statistics the "all" level fits the head on, from
    the clips the head was fitted on. (They were once those of the validation clips, measured after the fit: other
    speakers in another corpus mix than the head saw; on nEMO held out that cost 3.6 points of single-clip
    micro-F1, docs/history.md 6f.) Returns a summary for the run's log."""
    level = model.config.feature_standardization
    if level == "none":
        raise ValueError("refitting the head needs feature_standardization 'speaker' or 'corpus' (the probe's "
                         "z-scoring by group); set --feature_standardization")
    started = time.time()
    features = pooled_features(model, rows, collator, batch_size, bf16, desc="refitting the head: features")
    extracted = time.time()
    weight, bias, summary = fit_head(features, rows, model.config, C=C, max_iter=max_iter, levels=levels)
    head = model.emotion_head
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
    features = np.asarray(features, dtype=np.float64)
    model.config.source_feature_mean = [float(v) for v in features.mean(0)]
    model.config.source_feature_std = [float(v) for v in features.std(0)]
    return {**summary, "feature_seconds": round(extracted - started, 1), "fit_seconds": round(time.time() - extracted, 1)}


REFIT_LEVELS = ("speaker", "corpus", "all")


def fit_head(features, rows, config, C: float = 0.5, max_iter: int = 300, sample_weight=None, levels=None):
    """Steps 2 to 4 on pooled `features` of `rows`, for a model with `config`, without touching a model: the head's
    weight and bias (tau * log(prior) included) and a summary. benchmarks/refit_variants.py calls it on cached
    features.

    `levels` (default: the model's standardization level alone): the training clips are z-scored within each of these
    groupings ("speaker", "corpus", or "all": the training set as one group) and the copies stacked, so that the head
    does not learn to rely on one kind of statistics. A single clip is served z-scored with pooled training
    statistics, closest to "all"; a group of inputs with its own, closest to "corpus" (docs/history.md, "Single
    clips that transfer": on the frozen encoder, stacking all three raised leave-one-corpus-out plain micro-F1 from
    43.8 to 46.3 and per corpus from 54.5 to 55.6)."""
    levels = tuple(levels or (config.feature_standardization,))
    unknown = [level for level in levels if level not in REFIT_LEVELS]
    if unknown:
        raise ValueError(f"refit levels must be among {REFIT_LEVELS}, got {unknown}")
    features = np.asarray(features, dtype=np.float64)
    copies, groups = [], {}
    for level in levels:
        clip_groups = (np.zeros(len(features), dtype=np.int64) if level == "all"
                       else training_groups(rows, level, config.num_domains)[0])
        groups[level] = int(clip_groups.max()) + 1
        copies.append(speaker_standardize(features, clip_groups, 0.0, 1.0))  # each group onto mean 0, std 1
    z = np.concatenate(copies)
    labels = np.tile(np.asarray(rows["label"], dtype=np.int64), len(levels))
    if sample_weight is not None:
        sample_weight = np.tile(np.asarray(sample_weight), len(levels))
    weight, bias = fit_logistic_regression(z, labels, config.num_labels, C=C, max_iter=max_iter,
                                           sample_weight=sample_weight)
    predicted = (z @ weight.T + bias).argmax(1)
    if config.label_prior is not None:  # so that logit adjustment gives back the balanced fit, see 4.
        prior = np.asarray(config.label_prior, dtype=np.float64)
        prior = prior / prior.sum()
        bias = bias + config.logit_adjustment_tau * np.log(np.where(prior > 0, prior, 1.0))
    level = config.feature_standardization
    own = groups[level] if level in groups else int(training_groups(rows, level, config.num_domains)[0].max()) + 1
    return weight, bias, {"clips": len(labels) // len(levels), "level": level, "groups": own, "levels": groups, "C": C,
                          "train_accuracy": float((predicted == labels).mean())}


# ---- the stream head (config.stream_head)
#
# The live stream (streaming.EmotionStream) scores the newest `hop` s of a `context` s window with nothing heard after
# them; `frame_head` was trained on frames inside packed 30 s windows, seconds of audio on both sides. Read at the
# window's end it named the clip's emotion on 41.3 % of the frames of six 60 s validation sequences, against the
# offline timeline's 52.7 % on the same audio (docs/results.md, "The stream head"). The stream head is the frame head
# refitted on frames placed as the stream places them: the final encoder output of the last `hop` s of windows cut
# from one training speaker's clips strung together, each frame labelled with its clip's soft label. By default a
# window's string of clips has a random length and the window a random end in it, so the windows mix a stream's
# first, shorter windows (56 % of them at the recipe's 4 s context and 0.5 s hop) with full `context` s ones.
# Drawing them as a stream meets them (`start_share` 0.1: 10 % first windows, 90 % full) fitted a head that did worse
# on the six validation sequences (47.5 % against 49.4 %, docs/results.md "The stream head"). The stream also reads
# frames a `lookahead` before the window's end; the head is fitted for lookahead 0.

STREAM_HEAD_L2 = (0.1, 0.01, 0.001)  # strengths of the pull towards the frame head, chosen by speaker cross-validation
STREAM_HEAD_COLUMNS = ("path", "offset", "duration", "soft_label", "speaker")  # of the training clips
MIN_END_SECONDS = 1.0  # a window holds at least this much audio before its last `hop`
STRING_EXTRA_SECONDS = (1.5, 4.0)  # random-length windows: the string of clips is hop + 1.5 to context + 4 s long
FULL_SPAN_SECONDS = 4.0  # with start_share: a full window ends anywhere in this many seconds after the first `context`
DECODED_CLIPS = 1024  # clips kept decoded while windows are cut (a speaker's clips recur)
LBFGS_ITERATIONS = 200  # of each stream head fit (the fit is smooth and small: d_model x labels)
WINDOW_BATCH = 16  # windows through the encoder at once (each featurized alone, padding masked: as one by one)


def stream_windows(rows, count: int, context: float, hop: float, seed: int = 0, start_share: float | None = None):
    """`count` windows as the stream sees them (seeded): a training speaker's clips, drawn with replacement and strung
    together, cut at a frame boundary to the last `context` s before an end. `start_share` None: the string has a
    random length (hop + 1.5 to context + 4 s, to the next clip boundary) and the end falls anywhere in it after
    hop + 1 s; a float: with that probability the end falls in the first `context` s (a stream's first windows),
    otherwise in the `FULL_SPAN_SECONDS` after them (a full window). Yields (wave, soft labels of the last `hop` s of
    encoder frames (frames, labels), speaker)."""
    from functools import lru_cache

    from .audio import SAMPLING_RATE, load_audio

    speakers = np.asarray(rows["speaker"])
    soft = np.asarray(rows["soft_label"], dtype=np.float32)
    paths, offsets, durations = rows["path"], rows["offset"], rows["duration"]
    load = lru_cache(maxsize=DECODED_CLIPS)(lambda i: load_audio(paths[i], offset=offsets[i], duration=durations[i]))
    rng = np.random.default_rng(seed)
    names = sorted(set(speakers))
    frame = SAMPLING_RATE // 50  # samples per encoder frame
    tail = int(round(hop * 50))
    for _ in range(count):
        speaker = names[int(rng.integers(len(names)))]
        mine = np.flatnonzero(speakers == speaker)
        if start_share is None:
            length, lowest = rng.uniform(hop + STRING_EXTRA_SECONDS[0], context + STRING_EXTRA_SECONDS[1]), None
        else:
            starting = rng.random() < start_share
            lowest, highest = ((hop + MIN_END_SECONDS, context) if starting
                               else (context, context + FULL_SPAN_SECONDS))
            length = highest
        waves, owners = [], []
        while sum(w.size for w in waves) < length * SAMPLING_RATE:
            i = int(mine[int(rng.integers(len(mine)))])
            waves.append(load(i))
            owners.append(np.full(waves[-1].size, i))
        wave, owner = np.concatenate(waves), np.concatenate(owners)
        if lowest is None:
            lowest, highest = hop + MIN_END_SECONDS, wave.size / SAMPLING_RATE
        end = int(rng.uniform(lowest, highest) * SAMPLING_RATE) // frame * frame
        begin = max(0, end - int(round(context * SAMPLING_RATE)))
        centres = end - np.arange(tail)[::-1] * frame - frame // 2  # of the window's last `tail` encoder frames
        yield wave[begin:end], soft[owner[centres]], speaker


def _fit_towards(x, y, weight0, bias0, l2: float, max_iter: int = LBFGS_ITERATIONS):
    """Weight and bias minimizing mean soft cross-entropy + l2 (||W - W0||^2 + ||b - b0||^2), by L-BFGS (float64)."""
    weight = weight0.clone().requires_grad_()
    bias = bias0.clone().requires_grad_()
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        optimizer.zero_grad()
        loss = -(y * torch.log_softmax(x @ weight.T + bias, -1)).sum(-1).mean()
        loss = loss + l2 * (((weight - weight0) ** 2).sum() + ((bias - bias0) ** 2).sum())
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


@torch.no_grad()
def _window_outputs(model, extractor, waves, tail: int) -> list[torch.Tensor]:
    """The frame head's input (the final encoder output) at the last `tail` whole encoder frames of each wave."""
    from .audio import SAMPLING_RATE
    from .features import mel_features

    features, mask = mel_features(extractor, waves)
    parameter = next(model.parameters())
    captured = {}
    hook = model.frame_head.register_forward_hook(lambda module, args, out: captured.__setitem__("x", args[0]))
    try:
        out = model(input_features=features.to(parameter.device, parameter.dtype),
                    attention_mask=mask.to(parameter.device), apply_logit_adjustment=False)
    finally:
        hook.remove()
    ends = [min(int(out.frame_mask[row].sum()), wave.size // (SAMPLING_RATE // 50))  # whole frames, as streamed
            for row, wave in enumerate(waves)]
    return [captured["x"][row, n - tail : n].double().cpu() for row, n in enumerate(ends)]


def fit_stream_head(model, extractor, rows, context: float = 4.0, hop: float = 0.5, windows: int = 1500,
                    l2_grid=STREAM_HEAD_L2, folds: int = 3, seed: int = 0, start_share: float | None = None) -> dict:
    """Give `model` a stream head (config.stream_head) fitted as the comment above says: the frame head's weights
    pulled towards the soft labels of the last `hop` s of `windows` stream windows of `context` s (rows: the training
    clips: path, offset, duration, soft_label, speaker), the pull's strength chosen from `l2_grid` by accuracy on
    held-out speakers (`folds`-fold). Returns a summary for the run's log."""
    from tqdm.auto import tqdm

    if model.frame_head is None:
        raise ValueError("fitting a stream head needs a model with a per-frame head (config.frame_head): the stream "
                         "head starts from it")
    missing = [c for c in STREAM_HEAD_COLUMNS if c not in rows.column_names]
    if missing:
        raise ValueError(f"fitting a stream head needs the training clips' columns {', '.join(missing)}")
    started = time.time()
    model.eval()
    tail = int(round(hop * 50))
    xs, ys, owners, batch = [], [], [], []
    drawn = stream_windows(rows, windows, context, hop, seed, start_share)
    for k, window in enumerate(tqdm(drawn, total=windows, desc="stream head: windows", leave=False)):
        batch.append(window)
        if len(batch) == WINDOW_BATCH or k == windows - 1:
            for x, (_, labels, speaker) in zip(_window_outputs(model, extractor, [w for w, _, _ in batch], tail),
                                               batch):
                xs.append(x)
                ys.append(torch.from_numpy(labels[-len(x):]).double())
                owners += [speaker] * len(x)
            batch = []
    x, y, owners = torch.cat(xs), torch.cat(ys), np.asarray(owners)
    extracted = time.time()
    weight0 = model.frame_head.weight.detach().double().cpu()
    bias0 = model.frame_head.bias.detach().double().cpu()

    def accuracy(w, b, chosen):  # top emotion = the top of the soft label
        return float(((x[chosen] @ w.T + b).argmax(-1) == y[chosen].argmax(-1)).double().mean())

    names = np.random.default_rng(seed).permutation(sorted(set(owners)))
    if len(names) < 2:
        raise ValueError(f"fitting a stream head needs windows of at least two speakers (its pull is chosen on "
                         f"held-out speakers); {windows} windows drew {len(names)}: give more speakers or windows")
    folds = min(folds, len(names))  # every fold holds a speaker out
    fold = {name: i % folds for i, name in enumerate(names)}
    fold_of = torch.from_numpy(np.array([fold[o] for o in owners]))
    cross = {}
    for l2 in l2_grid:
        held = []
        for k in range(folds):
            w, b = _fit_towards(x[fold_of != k], y[fold_of != k], weight0, bias0, l2)
            held.append(accuracy(w, b, fold_of == k))
        cross[l2] = float(np.mean(held))
    chosen = max(l2_grid, key=lambda l2: (cross[l2], l2))  # ties: the stronger pull
    weight, bias = _fit_towards(x, y, weight0, bias0, chosen)
    everything = torch.ones(len(x), dtype=torch.bool)
    config = model.config
    config.stream_head = True
    parameter = model.frame_head.weight
    model.stream_head = torch.nn.Linear(config.d_model, config.num_labels).to(parameter.device, parameter.dtype)
    with torch.no_grad():
        model.stream_head.weight.copy_(weight.to(parameter.dtype))
        model.stream_head.bias.copy_(bias.to(parameter.dtype))
    return {"windows": windows, "frames": len(x), "speakers": len(names), "context": context, "hop": hop,
            "start_share": start_share, "folds": folds,
            "seed": seed, "l2_cross_validated": {str(k): round(v, 4) for k, v in cross.items()}, "l2": chosen,
            "frame_head_accuracy": round(accuracy(weight0, bias0, everything), 4),
            "stream_head_accuracy": round(accuracy(weight, bias, everything), 4),
            "feature_seconds": round(extracted - started, 1), "fit_seconds": round(time.time() - extracted, 1)}

"""Inference: clip scores at speed, and emotion timelines over recordings of any length.

Clips: each clip is scored at its own length (the model masks padding), clips are sorted by length and batched,
so a 3 s clip costs 3 s of encoder time instead of the 30 s a padded pipeline spends.

Timelines: the file is decoded block by block; overlapping 30 s windows (stride `stride` s) are scored in
batches; their per-frame probabilities are cross-faded where windows overlap and flushed as soon as no later
window can change them, so memory holds one batch of windows, whatever the length of the recording.
Frames whose level is far below the recording's speech are marked as no speech and never form a segment.
"""

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .audio import (MIN_SAMPLES, SAMPLING_RATE, WINDOW_SECONDS, AudioError, audio_info, check_length, load_audio,
                    long_enough, prepare_waveform, split_windows, stream_audio)
from .mel import scores

FRAME_RATE = 50  # encoder frames per second
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "checkpoints" / "emotion-whisper-base"


def load_model(path=None, device: str = "cpu", dtype=None):
    """The emotion model and its feature extractor, from a saved folder or Hub id (default: the project's model)."""
    import torch
    from transformers import WhisperFeatureExtractor

    from .modeling_emotion_whisper import WhisperForEmotionClassification

    path = str(path or DEFAULT_MODEL)
    if path == str(DEFAULT_MODEL) and not DEFAULT_MODEL.exists():
        raise FileNotFoundError(f"the default model {DEFAULT_MODEL} is missing; pass --model PATH or a Hub id")
    try:
        model = WhisperForEmotionClassification.from_pretrained(path, dtype=dtype or torch.float32).to(device).eval()
    except Exception as err:  # whatever failed inside transformers or safetensors: the folder, in one line
        raise ModelError(_unloadable(path, err)) from None
    try:
        extractor = WhisperFeatureExtractor.from_pretrained(path)
    except OSError:
        extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
    except Exception as err:
        raise ModelError(f"{path}: preprocessor_config.json cannot be read ({_one_line(err)}); fix or delete it "
                         "(the default feature settings are then used)") from None
    return model, extractor


class ModelError(ValueError):
    """A model folder that cannot be loaded; the message, one line, names the folder and what to do."""


def _one_line(err) -> str:
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def _unloadable(path: str, err: Exception) -> str:
    folder = Path(path)
    if folder.is_dir() and not list(folder.glob("*.safetensors")):
        pickles = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt*"))
        if pickles:
            return (f"{path} holds no model.safetensors, only {', '.join(pickles)}: pickled weights are never loaded "
                    "(reading a pickle can run code); convert them with save_pretrained(..., safe_serialization=True) "
                    "where you trust the file")
    if type(err).__name__ == "SafetensorError":
        return f"{path}: model.safetensors is damaged ({_one_line(err)}); download or save the model again"
    message = _one_line(err)
    return message if message.startswith(path) else f"{path}: cannot load the model ({message})"


class TorchScorer:
    """A PyTorch model and its feature extractor behind what `predict_clips` and `timeline` need; the ONNX runtime
    (onnx_backend.OnnxScorer) offers the same, without torch. Arrays in, numpy arrays out."""

    def __init__(self, model, extractor):
        from .features import label_names

        self.model, self.extractor, self.config = model, extractor, model.config
        self.labels = label_names(model)

    def head(self):
        """The emotion head's weight (labels, head_input_size) and bias, for adaptation computed from pooled features."""
        head = self.model.emotion_head
        return head.weight.detach().float().cpu().numpy(), head.bias.detach().float().cpu().numpy()

    def adjust(self, logits: np.ndarray) -> np.ndarray:
        import torch

        return self.model.adjust_logits(torch.from_numpy(np.asarray(logits, dtype=np.float32))).numpy()

    def clips(self, waves, logit_adjustment: bool):
        """Clip logits (n, labels) and pooled features (n, head_input_size); clips over 30 s as frame-weighted windows."""
        import torch

        from .features import clip_batch

        batch = clip_batch(self.extractor, waves)
        with torch.no_grad():
            out = self.model(input_features=batch["input_features"].to(self.model.device, self.model.dtype),
                             attention_mask=batch["attention_mask"].to(self.model.device),
                             window_counts=batch["window_counts"], apply_logit_adjustment=logit_adjustment)
        return out.logits.float().cpu().numpy(), out.pooled_features.float().cpu().numpy()

    @property
    def has_stream_head(self) -> bool:
        return getattr(self.model, "stream_head", None) is not None

    def frames(self, waves, logit_adjustment: bool, output: str = "frame_logits", clip_weight: float = 0.0):
        """Frame logits (B, frames, labels) and frame mask (B, frames) of windows of at most 30 s; `output`
        "stream_logits" gives the stream head's (the frame head's when the model has none); clip_weight > 0 pools
        each frame with its window's clip logits (`pool_with_clip`)."""
        import torch

        from .features import mel_features

        features, mask = mel_features(self.extractor, waves)
        with torch.no_grad():
            out = self.model(input_features=features.to(self.model.device, self.model.dtype),
                             attention_mask=mask.to(self.model.device), apply_logit_adjustment=logit_adjustment)
        logits = getattr(out, output)
        logits = (out.frame_logits if logits is None else logits).float().cpu().numpy()
        if clip_weight:
            logits = pool_with_clip(logits, out.logits.float().cpu().numpy(), clip_weight)
        return logits, out.frame_mask.cpu().numpy()

    def stream_frames(self, waves, logit_adjustment: bool, clip_weight: float = 0.0):
        """As `frames`, from the stream head when the model has one (config.stream_head): the live stream's frames."""
        return self.frames(waves, logit_adjustment, output="stream_logits", clip_weight=clip_weight)


def check_clip_weight(weight: float) -> float:
    """The one rule for a clip weight (`pool_with_clip`, EmotionStream): a finite number >= 0."""
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"clip_weight must be a finite number >= 0, got {weight}")
    return float(weight)


def pool_with_clip(frame_logits: np.ndarray, clip_logits: np.ndarray, weight: float) -> np.ndarray:
    """Each window's frame logits (B, frames, labels) pooled with the window's clip logits (B, labels), weighted 1 and
    `weight`: (frame + weight x clip) / (1 + weight). Under a softmax that is the normalized weighted geometric mean
    of the two distributions (a weight of 1 trusts them equally; the scores' temperature stays the heads'), and it is
    linear, so adjusting by the label prior before or after pooling gives the same logits."""
    check_clip_weight(weight)
    pooled = (frame_logits + weight * np.asarray(clip_logits)[:, None, :]) / (1.0 + weight)
    return pooled.astype(np.float32)


def as_scorer(model, extractor=None):
    """A scorer as is; a PyTorch model (with its feature extractor) wrapped in a TorchScorer."""
    return model if hasattr(model, "frames") and hasattr(model, "clips") else TorchScorer(model, extractor)


def resolve_logit_adjustment(scorer, value: bool | None) -> bool:
    """None: the model's saved choice (config.apply_logit_adjustment), as the pipeline and the model's forward
    read it; otherwise the caller's."""
    return bool(getattr(scorer.config, "apply_logit_adjustment", False)) if value is None else bool(value)


# Fewest clips a group of inputs needs before its own statistics standardize it (docs/results.md, "Adapting to the
# inputs": below this, per-dimension means and deviations are too noisy and scores fall under the plain model's).
MIN_ADAPTATION_CLIPS = 20


def _check_groups(groups, min_clips, what):
    counts = Counter(groups)
    small = {g: n for g, n in counts.items() if n < min_clips}
    if small:
        listed = ", ".join(f"{g!r}: {n}" for g, n in sorted(small.items(), key=lambda x: str(x[0]))[:5])
        raise ValueError(
            f"adapting to the inputs needs at least {min_clips} {what} per group, for statistics stable enough to "
            f"help (fewer make scores worse than none); too few in {listed}. Score them without adaptation, or add "
            "clips of the same speaker or recording setup")


def predict_clips(model, extractor, sources, batch_size: int = 8, logit_adjustment: bool | None = None,
                  return_raw: bool = False, errors: str = "raise", adapt_to_inputs: bool = False, groups=None,
                  min_clips: int = MIN_ADAPTATION_CLIPS) -> list[dict]:
    """Scores for each source (a path, or a mono 16 kHz array): {"scores": {label: p}, "label": best, "duration": s}
    (plus the clip "logits" and pooled "features" with `return_raw`). `model`: a PyTorch model with its feature
    `extractor`, or a scorer such as onnx_backend.OnnxScorer (extractor None). Clips are sorted by length and
    batched at their own length; audio longer than 30 s is scored as the frame-weighted mean of its 30 s windows
    (the same rule as the pipeline and evaluation), read and scored `batch_size` windows at a time, so that memory does
    not grow with the recording (as in `timeline`). errors="report": a source that cannot be scored gets
    {"error": message} and the others are still scored; "raise": its AudioError propagates.

    adapt_to_inputs: standardize the pooled features with the statistics of the inputs themselves (labels unused),
    all together or per value of `groups` (one key per source, e.g. a speaker): each group needs `min_clips`
    clips. Helps when a group's clips span the emotions (a corpus, a call centre's calls); per speaker it can hurt
    where each speaker shows only one or two emotions (docs/results.md). logit_adjustment None: the model's saved
    choice (config.apply_logit_adjustment)."""
    scorer = as_scorer(model, extractor)
    logit_adjustment = resolve_logit_adjustment(scorer, logit_adjustment)
    results = [None] * len(sources)
    if groups is not None and len(groups) != len(sources):
        raise ValueError(f"{len(groups)} groups for {len(sources)} sources: give one group per source")
    keys = list(groups) if groups is not None else ["all inputs"] * len(sources)
    if adapt_to_inputs:  # before any work
        _check_groups(keys, min_clips, "clips")
        _refuse_held_adaptation(scorer, "adapt_to_inputs")

    def fail(i, err):
        if errors == "raise":
            raise err
        results[i] = {"error": str(err)}

    # Lengths from the headers, so that clips are batched by length and decoded one batch at a time: a folder of
    # hours of audio never sits in memory at once. A header with an absurd rate is refused here, before decoding.
    lengths = {}
    for i, source in enumerate(sources):
        try:
            if isinstance(source, np.ndarray):
                lengths[i] = source.size
            else:
                frames, rate = audio_info(source)
                lengths[i] = frames * SAMPLING_RATE // rate  # at 16 kHz
        except AudioError as err:
            fail(i, err)
    window = WINDOW_SECONDS * SAMPLING_RATE
    for i in [i for i in lengths if lengths[i] > window]:  # read and scored window by window
        del lengths[i]
        try:
            results[i] = _score_long(scorer, sources[i], f"clip {i}", batch_size, logit_adjustment)
        except AudioError as err:
            fail(i, err)
    order = sorted(lengths, key=lambda i: lengths[i])
    for start in range(0, len(order), batch_size):
        chunk, waves = [], []
        for i in order[start : start + batch_size]:
            source = sources[i]
            try:
                waves.append(prepare_waveform(source, SAMPLING_RATE, f"clip {i}") if isinstance(source, np.ndarray)
                             else load_audio(source))
                chunk.append(i)
            except AudioError as err:
                fail(i, err)
        if not chunk:
            continue
        logits, pooled = scorer.clips(waves, logit_adjustment)
        for row, i in enumerate(chunk):
            results[i] = {"duration": waves[row].size / SAMPLING_RATE, "logits": logits[row], "features": pooled[row]}
    scored = [i for i, r in enumerate(results) if "error" not in r]
    if adapt_to_inputs and scored:
        _adapt_to_inputs(scorer, [results[i] for i in scored], [keys[i] for i in scored], min_clips, logit_adjustment)
    for i in scored:
        result = results[i]
        result.update(_labelled(scorer, result["logits"]))
        if not return_raw:
            del result["logits"], result["features"]
    return results


def _score_long(scorer, source, name, batch_size, logit_adjustment) -> dict:
    """A clip over 30 s (a path, or an array) as `clip_batch` and the model score it, the frame-weighted mean of its
    consecutive 30 s windows (`split_windows`), with a file decoded block by block and `batch_size` windows scored
    at a time: memory holds one batch of windows, whatever the length of the recording."""
    read = {"samples": 0}
    if isinstance(source, np.ndarray):
        wave = prepare_waveform(source, SAMPLING_RATE, name)
        pieces, read["samples"] = split_windows(wave), wave.size
    else:
        pieces = _stream_windows(source, read)
    logits_sum = features_sum = None
    weight_sum, batch = 0.0, []

    def run(windows):
        nonlocal logits_sum, features_sum, weight_sum
        logits, pooled = scorer.clips(windows, logit_adjustment)
        # a window's weight is its encoder frames (two mel frames of 160 samples each), as the model pools windows
        weights = np.array([math.ceil(w.size // 160 / 2) for w in windows], dtype=np.float64)[:, None]
        logits_sum = (0 if logits_sum is None else logits_sum) + (logits * weights).sum(0)
        features_sum = (0 if features_sum is None else features_sum) + (pooled * weights).sum(0)
        weight_sum += float(weights.sum())

    for piece in pieces:
        batch.append(piece)
        if len(batch) == batch_size:
            run(batch)
            batch = []
    if batch:
        run(batch)
    if not weight_sum:  # the header promised more than the file holds
        raise AudioError(f"{source if isinstance(source, (str, Path)) else name}: nothing to score after decoding "
                         f"({1000 * read['samples'] / SAMPLING_RATE:.0f} ms of audio); check the file")
    return {"duration": read["samples"] / SAMPLING_RATE, "logits": (logits_sum / weight_sum).astype(np.float32),
            "features": (features_sum / weight_sum).astype(np.float32)}


def _stream_windows(path, read: dict):
    """Consecutive 30 s windows of a file at 16 kHz, decoded block by block (`stream_audio`), by the rule of
    `split_windows` (a last piece shorter than MIN_SAMPLES is dropped); counts the samples in read["samples"]."""
    window = WINDOW_SECONDS * SAMPLING_RATE
    buffer = np.zeros(0, dtype=np.float32)
    for block in stream_audio(path, block_seconds=WINDOW_SECONDS):
        read["samples"] += block.size
        buffer = np.concatenate([buffer, block])
        while buffer.size >= window:
            yield buffer[:window].copy()
            buffer = buffer[window:]
    if buffer.size and long_enough(buffer.size):
        yield buffer


def _labelled(scorer, logits) -> dict:
    """The label and scores of one clip's logits, by the scorer's one rule (`mel.scores`)."""
    values = scores(logits, getattr(scorer.config, "emotion_loss", "soft_ce"))
    return {"label": scorer.labels[int(values.argmax())], "scores": {n: float(v) for n, v in zip(scorer.labels, values)}}


class RunningAdapter:
    """Adapting to a stream of single calls (a call centre's calls, a user's recordings), held by the caller.

    `predict_clips(..., adapt_to_inputs=True)` needs the whole group at once; a service scoring one call at a time
    has no group. This object keeps the running mean and variance of the pooled features of every clip it has scored
    and, once `min_clips` are in, scores each new clip standardized on them, exactly as `adapt_to_inputs` would
    standardize it within all clips seen so far (itself included); before that, clips are scored plainly and marked
    `"adapted": False`. Opt-in and explicit: the pipeline and `predict_clips` stay stateless; one adapter per stream
    (a speaker, a channel), not shared across threads. `state_dict()` / `load_state_dict()` carry it across restarts.

        adapter = RunningAdapter(model, extractor)          # or RunningAdapter(OnnxScorer("onnx-base"))
        for call in calls:
            result = adapter(call)                          # {"label", "scores", "duration", "adapted"}
    """

    def __init__(self, model, extractor=None, min_clips: int = MIN_ADAPTATION_CLIPS,
                 logit_adjustment: bool | None = None):
        from .adaptation import source_statistics

        if min_clips < 2:
            raise ValueError(f"min_clips must be at least 2 (a standard deviation needs two clips), got {min_clips}")
        self.scorer = as_scorer(model, extractor)
        _refuse_held_adaptation(self.scorer, "RunningAdapter")
        self.min_clips, self.logit_adjustment = min_clips, resolve_logit_adjustment(self.scorer, logit_adjustment)
        self.source = source_statistics(self.scorer.config)
        self.weight, self.bias = self.scorer.head()
        width = self.weight.shape[1]
        self.count, self.total, self.squares = 0, np.zeros(width), np.zeros(width)

    def __call__(self, source) -> dict:
        """Score one clip (a path, or a mono 16 kHz array) and add it to the statistics. A clip that cannot be
        scored raises its AudioError and leaves the statistics as they were."""
        from .adaptation import moments_map

        (result,) = predict_clips(self.scorer, None, [source], logit_adjustment=self.logit_adjustment,
                                  return_raw=True)
        del result["logits"]
        features = np.asarray(result.pop("features"), dtype=np.float64)
        self.count += 1
        self.total += features
        self.squares += features * features
        result["adapted"] = self.count >= self.min_clips
        if result["adapted"]:
            shift = moments_map(self.count, self.total, self.squares, *self.source)
            z = features * np.asarray(shift["feature_scale"]) + np.asarray(shift["feature_shift"])
            logits = (z @ self.weight.T + self.bias).astype(np.float32)
            if self.logit_adjustment:
                logits = self.scorer.adjust(logits[None])[0]
            result.update(_labelled(self.scorer, logits))
        return result

    def state_dict(self) -> dict:
        return {"count": self.count, "sum": self.total.tolist(), "sum_of_squares": self.squares.tolist()}

    def load_state_dict(self, state: dict):
        if len(state["sum"]) != self.total.size:
            raise ValueError(f"the saved statistics have {len(state['sum'])} features, this model {self.total.size}: "
                             "they belong to another model")
        self.count = int(state["count"])
        self.total, self.squares = np.asarray(state["sum"], float), np.asarray(state["sum_of_squares"], float)


def _refuse_held_adaptation(scorer, what: str):
    """Standardizing on the inputs replaces a loaded adaptation; both at once would silently drop one."""
    if getattr(getattr(scorer, "model", None), "adaptation", None):
        raise ValueError(f"the model holds an adaptation (set_adaptation, --adaptation) and {what} standardizes "
                         "with the inputs' own statistics instead: use one of the two (clear the model's with "
                         "set_adaptation(None))")


def _adapt_to_inputs(scorer, results, keys, min_clips, logit_adjustment):
    """Replace each result's logits by those of the model standardized on its group's pooled features."""
    from .adaptation import source_statistics, speaker_standardize

    _check_groups(keys, min_clips, "scorable clips")  # again: unreadable files may have left a group short
    weight, bias = scorer.head()
    features = np.stack([r["features"] for r in results])
    standardized = speaker_standardize(features, [str(k) for k in keys], *source_statistics(scorer.config))
    logits = (standardized @ weight.T + bias).astype(np.float32)
    if logit_adjustment:
        logits = scorer.adjust(logits)
    for result, value in zip(results, logits):
        result["logits"] = value


@dataclass
class Segment:
    start: float
    end: float
    emotion: str
    confidence: float


@dataclass
class Timeline:
    labels: list[str]
    frame_rate: float  # rows of `probabilities` per second
    probabilities: np.ndarray  # (frames, labels), NaN rows where there is no speech
    speech: np.ndarray  # (frames,) bool
    segments: list[Segment] = field(default_factory=list)
    duration: float = 0.0

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.speech)) / self.frame_rate

    def no_segment_reason(self) -> str:
        """Why there is no segment: no speech at all, or speech only in runs shorter than the minimum segment (a
        recording shorter than it, or coughs between silences), which the frames still hold."""
        if not self.speech.any():
            return "no speech"
        return (f"{self.speech.sum() / self.frame_rate:.1f} s of speech, but no run as long as the minimum segment "
                f"(min_segment / --min-segment): the frames hold its scores; pass a shorter minimum for segments")

    def to_dict(self, with_frames: bool = True) -> dict:
        out = {"duration": self.duration, "labels": self.labels, "frame_rate": self.frame_rate,
               "segments": [asdict(s) for s in self.segments],
               "message": None if self.segments else self.no_segment_reason()}
        if with_frames:
            probs = np.where(self.speech[:, None], self.probabilities, np.nan)
            out["frames"] = {"time": [round(float(t), 3) for t in self.times],
                             "probabilities": [[None if np.isnan(v) else round(float(v), 4) for v in row]
                                               for row in probs]}
        return out


def _crossfade(n: int, ramp: int, first: bool, last: bool) -> np.ndarray:
    """Window weights: rise over `ramp` frames (unless first), fall over `ramp` frames (unless last)."""
    weights = np.ones(n, dtype=np.float64)
    if ramp > 0:
        ramp_up = (np.arange(n) + 1) / (ramp + 1)
        if not first:
            weights = np.minimum(weights, ramp_up)
        if not last:
            weights = np.minimum(weights, ramp_up[::-1])
    return np.maximum(weights, 1e-3)


def smooth_frames(probabilities, speech, frame_rate: float, smoothing: float = 1.0) -> np.ndarray:
    """Probabilities averaged over speech frames within `smoothing` s (centred); segments are cut on these, and the
    stream (streaming.py) scores its segments' confidence on them too."""
    n = len(speech)
    probs = np.nan_to_num(probabilities, nan=0.0)
    width = max(1, min(n, int(round(smoothing * frame_rate))))  # np.convolve "same" returns max(n, width) rows
    if width > 1:
        kernel = np.ones(width) / width
        weight = np.convolve(speech.astype(float), kernel, mode="same")
        probs = np.stack([np.convolve(probs[:, k] * speech, kernel, mode="same") for k in range(probs.shape[1])], 1)
        probs = probs / np.maximum(weight, 1e-9)[:, None]
    return probs


# No speech: a frame more than `silence_db` below the recording's loud level, or below an absolute floor (digital
# silence, a muted microphone). The loud level is the 95th percentile of the levels of the frames within `silence_db`
# of the loudest half second: the percentile ignores a click or a bang, and background, however much of the recording
# it fills, does not count (over all frames, 2 s of speech in a minute of noise made the noise the "loud" level).
LOUD_PERCENTILE, LOUD_SECONDS, SILENCE_FLOOR_DB = 95, 0.5, -70.0


def loud_level(levels, frame_rate: float, silence_db: float) -> float:
    """A recording's loud level (dB) from its frame levels at `frame_rate` frames per second (see above)."""
    levels = np.asarray(levels, dtype=np.float64)
    if levels.size == 0:  # nothing heard yet: no frame to call speech either
        return float("nan")
    loudest = min(levels.size, max(1, int(round(LOUD_SECONDS * frame_rate))))
    top = np.partition(levels, levels.size - loudest)[levels.size - loudest]  # the loudest half second's quietest
    return float(np.percentile(levels[levels > top - silence_db], LOUD_PERCENTILE))


def frame_energy(wave: np.ndarray, n: int) -> np.ndarray:
    """Level (dB) of the first n encoder frames (20 ms each) of a 16 kHz wave, zero-padded at its end."""
    frame_len = SAMPLING_RATE // FRAME_RATE
    padded = np.pad(wave, (0, max(0, n * frame_len - wave.size)))[: n * frame_len].reshape(n, frame_len)
    return 10 * np.log10(np.mean(padded.astype(np.float64) ** 2, axis=1) + 1e-12)


def speech_frames(energy: np.ndarray, loud: float, silence_db: float) -> np.ndarray:
    """Which frames are speech, given the recording's loud level (`loud_level`)."""
    return (energy > loud - silence_db) & (energy > SILENCE_FLOOR_DB)


def segments_from_frames(probabilities, speech, frame_rate: float, labels, smoothing: float = 1.0,
                         min_segment: float = 1.0) -> list[Segment]:
    """Smooth probabilities over `smoothing` s and take the arg-max per speech frame; pauses shorter than
    `min_segment` s join the speech before them; runs shorter than `min_segment` join their longer neighbour, and
    are dropped when a longer pause isolates them (a cough between silences is not an emotion segment)."""
    n = len(speech)
    if n == 0 or not speech.any():
        return []
    probs = smooth_frames(probabilities, speech, frame_rate, smoothing)
    minimum = int(round(min_segment * frame_rate))
    best = np.where(speech, probs.argmax(1), -1)
    first = int(np.argmax(speech))
    gap_start = None
    for i in range(first, n):  # short pauses take the label of the speech before them
        if best[i] < 0 and gap_start is None:
            gap_start = i
        elif best[i] >= 0 and gap_start is not None:
            if i - gap_start < minimum:
                best[gap_start:i] = best[gap_start - 1]
            gap_start = None
    runs = []  # [start, end, label], contiguous, -1 for pauses
    for i, label in enumerate(best):
        if runs and runs[-1][2] == label:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1, int(label)])

    def neighbours(k):
        return [j for j in (k - 1, k + 1) if 0 <= j < len(runs) and runs[j][2] >= 0]

    while True:  # absorb the shortest too-short speech run into its longer speech neighbour
        short = [k for k, r in enumerate(runs) if r[2] >= 0 and r[1] - r[0] < minimum and neighbours(k)]
        if not short:
            break
        k = min(short, key=lambda k: runs[k][1] - runs[k][0])
        j = max(neighbours(k), key=lambda j: runs[j][1] - runs[j][0])
        runs[j] = [min(runs[j][0], runs[k][0]), max(runs[j][1], runs[k][1]), runs[j][2]]
        del runs[k]
        merged = []
        for run in runs:  # neighbours that now share a label join
            if merged and merged[-1][2] == run[2]:
                merged[-1][1] = run[1]
            else:
                merged.append(run)
        runs = merged
    segments = []
    for start, end, k in runs:
        if k < 0 or end - start < minimum:
            continue
        heard = speech[start:end]
        confidence = float(probs[start:end, k][heard].mean()) if heard.any() else float(probs[start:end, k].mean())
        segments.append(Segment(round(start / frame_rate, 3), round(end / frame_rate, 3), labels[k],
                                round(confidence, 4)))
    return segments


# The shortest step between window starts: every second of audio is then scored by up to 30 windows. A shorter one
# multiplies the work (10 minutes at 1 ms would be 600,000 windows) and adds nothing: the frames are 50 per second.
MIN_STRIDE = 1.0
MAX_BATCH_SIZE = 64  # windows of 30 s per forward; memory grows with it


def check_batch_size(batch_size: int, flag: str = "--batch-size"):
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"{flag} {batch_size}: give a whole number from 1 to {MAX_BATCH_SIZE}")


def check_timeline_settings(window: float = 30.0, stride: float = 20.0, batch_size: int = 4, smoothing: float = 1.0,
                            min_segment: float = 1.0, output_rate: float = 10.0):
    """Refuse settings `timeline` cannot honour, before any audio is read; the messages name the command's flags."""
    if not MIN_STRIDE <= window <= WINDOW_SECONDS:
        raise ValueError(f"--window {window:g}: give {MIN_STRIDE:g} to {WINDOW_SECONDS} seconds (the encoder hears at "
                         "most 30 s)")
    if not MIN_STRIDE <= stride <= window:
        raise ValueError(f"--stride {stride:g}: give {MIN_STRIDE:g} s to the window ({window:g} s); shorter steps "
                         "multiply the work without adding frames")
    if not 0 < output_rate <= FRAME_RATE:
        raise ValueError(f"--frame-rate {output_rate:g}: give more than 0 and at most {FRAME_RATE} frames per second "
                         "(the encoder's rate)")
    for flag, value in (("--smoothing", smoothing), ("--min-segment", min_segment)):
        if not (0 <= value and math.isfinite(value)):
            raise ValueError(f"{flag} {value:g}: give 0 or more seconds")
    check_batch_size(batch_size)


def timeline(model, extractor, path, window: float = 30.0, stride: float = 20.0, batch_size: int = 4,
             smoothing: float = 1.0, min_segment: float = 1.0, output_rate: float = 10.0,
             logit_adjustment: bool | None = None, silence_db: float = 40.0) -> Timeline:
    """Emotion over time for a file of any length (see the module docstring). `model`: a PyTorch model with its
    feature `extractor`, or a scorer such as onnx_backend.OnnxScorer (extractor None)."""
    check_timeline_settings(window, stride, batch_size, smoothing, min_segment, output_rate)
    scorer = as_scorer(model, extractor)
    logit_adjustment = resolve_logit_adjustment(scorer, logit_adjustment)
    frames_total, rate = audio_info(path)
    if frames_total == 0:
        raise AudioError(f"{path}: no samples (an empty file or a header without audio)")
    check_length(frames_total, str(path), rate)
    names = scorer.labels
    per_window, hop = int(window * FRAME_RATE), int(stride * FRAME_RATE)
    ramp = per_window - hop
    step = max(1, int(round(FRAME_RATE / output_rate)))
    acc_p = np.zeros((0, len(names)))
    acc_w = np.zeros(0)
    acc_e = np.zeros(0)  # frame energy (dB)
    acc_start = 0  # encoder frame index of acc_p[0]
    out_p, out_e = [], []

    def flush(upto: int, final: bool = False):
        """Average finished encoder frames into output frames; at the end, a partial last frame too."""
        nonlocal acc_p, acc_w, acc_e, acc_start
        available = min(upto - acc_start, len(acc_w))
        keep = available // step * step if not final else available
        if keep <= 0:
            return
        p = acc_p[:keep] / acc_w[:keep, None]
        whole = keep // step * step
        rows, energy = [p[:whole].reshape(-1, step, len(names)).mean(1)], [acc_e[:whole].reshape(-1, step).max(1)]
        if keep > whole:  # the recording ends inside an output frame
            rows.append(p[whole:keep].mean(0, keepdims=True))
            energy.append(acc_e[whole:keep].max(keepdims=True))
        out_p.append(np.concatenate(rows))
        out_e.append(np.concatenate(energy))
        acc_p, acc_w, acc_e, acc_start = acc_p[keep:], acc_w[keep:], acc_e[keep:], acc_start + keep

    def run(batch):  # batch: [(start_frame, wave, is_last)]
        nonlocal acc_p, acc_w, acc_e
        frame_logits, frame_mask = scorer.frames([w for _, w, _ in batch], logit_adjustment)
        probs = scores(frame_logits, getattr(scorer.config, "emotion_loss", "soft_ce"))
        for row, (start, wave, last) in enumerate(batch):
            n = int(frame_mask[row].sum())
            weights = _crossfade(n, ramp, first=start == 0, last=last)
            end = start + n
            grow = end - acc_start - len(acc_w)
            if grow > 0:
                acc_p = np.concatenate([acc_p, np.zeros((grow, len(names)))])
                acc_w = np.concatenate([acc_w, np.zeros(grow)])
                acc_e = np.concatenate([acc_e, np.full(grow, -200.0)])
            lo = start - acc_start
            acc_p[lo : lo + n] += probs[row, :n] * weights[:, None]
            acc_w[lo : lo + n] += weights
            acc_e[lo : lo + n] = np.maximum(acc_e[lo : lo + n], frame_energy(wave, n))

    buffer, buffer_start, pending = np.zeros(0, dtype=np.float32), 0, []
    window_samples, hop_samples = int(window * SAMPLING_RATE), int(stride * SAMPLING_RATE)
    total_samples = int(round(frames_total * SAMPLING_RATE / rate))
    for block in stream_audio(path, block_seconds=stride):
        buffer = np.concatenate([buffer, block])
        while buffer.size >= window_samples:
            last = buffer_start + window_samples >= total_samples - MIN_SAMPLES
            pending.append((buffer_start // (SAMPLING_RATE // FRAME_RATE), buffer[:window_samples].copy(), last))
            buffer, buffer_start = buffer[hop_samples:], buffer_start + hop_samples
            if last:
                buffer = np.zeros(0, dtype=np.float32)
            if len(pending) == batch_size:
                run(pending)
                flush(pending[-1][0] + hop)  # later windows start at or after this frame
                pending = []
    covered = pending[-1][0] * (SAMPLING_RATE // FRAME_RATE) + window_samples if pending else buffer_start
    if buffer.size >= MIN_SAMPLES and (buffer_start + buffer.size > covered or buffer_start == 0):
        pending.append((buffer_start // (SAMPLING_RATE // FRAME_RATE), buffer, True))
    for i in range(0, len(pending), batch_size):
        run(pending[i : i + batch_size])
    flush(acc_start + len(acc_w), final=True)
    if not out_p:
        raise AudioError(f"{path}: nothing to score after decoding; check the file")
    probabilities, energy = np.concatenate(out_p), np.concatenate(out_e)
    frame_rate = FRAME_RATE / step
    speech = speech_frames(energy, loud_level(energy, frame_rate, silence_db), silence_db)
    probabilities[~speech] = np.nan
    result = Timeline(names, frame_rate, probabilities, speech, duration=frames_total / rate)
    result.segments = segments_from_frames(probabilities, speech, frame_rate, names, smoothing, min_segment)
    return result


def plot_timeline(result: Timeline, path, title: str = "", file_format: str | None = None):
    try:
        import matplotlib
    except ImportError:  # the light (onnx) install has no plotting
        raise ValueError("drawing the timeline needs matplotlib: pip install matplotlib (the JSON needs nothing)")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bar) = plt.subplots(2, 1, figsize=(12, 4.5), sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    colors = plt.get_cmap("tab10")
    for k, name in enumerate(result.labels):
        ax.plot(result.times, result.probabilities[:, k], label=name, color=colors(k), linewidth=1.2)
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right", ncol=4, fontsize=8)
    ax.set_title(title)
    for segment in result.segments:
        k = result.labels.index(segment.emotion)
        bar.axvspan(segment.start, segment.end, color=colors(k), alpha=0.8)
        if segment.end - segment.start > 0.04 * max(1.0, result.duration):
            bar.text((segment.start + segment.end) / 2, 0.5, segment.emotion, ha="center", va="center", fontsize=8)
    bar.set_yticks([])
    bar.set_xlabel("time (s)")
    bar.set_xlim(0, max(result.duration, 1e-3))
    fig.tight_layout()
    fig.savefig(path, dpi=110, format=file_format)  # the format: the target's, when a temporary name is written
    plt.close(fig)

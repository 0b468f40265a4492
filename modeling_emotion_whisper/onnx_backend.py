"""Scoring with an exported ONNX model under onnxruntime: no torch, no transformers.

    from modeling_emotion_whisper.onnx_backend import OnnxScorer
    from modeling_emotion_whisper.inference import predict_clips, timeline

    scorer = OnnxScorer("emotion-whisper-onnx")            # a folder written by `emotion-whisper export-onnx`
    predict_clips(scorer, None, ["a.wav", "b.wav"])          # or OnnxScorer("emotion-whisper-onnx/model_int8.onnx")
    timeline(scorer, None, "interview.wav")

The graph takes log-mel features (batch, mels, frames) and a mel-frame attention mask, at any length up to 30 s,
and returns clip logits, frame logits, the frame mask and the pooled features, exactly as the PyTorch model does
with `trim_padding=False`. Features come from `mel.log_mel` (numpy), decoding and resampling from `audio`
(soundfile, soxr); clips over 30 s are cut by `audio.split_windows` and pooled here as the model pools them.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .audio import split_windows
from .inference import pool_with_clip
from .mel import log_mel, mel_filter_bank

INPUTS = ("input_features", "attention_mask")
OUTPUTS = ("logits", "frame_logits", "frame_mask", "pooled_features")
HEAD_FILE = "emotion_head.safetensors"
# configuration_emotion_whisper.SIZE_LIMITS of what the runtime allocates from config.json (that module needs
# transformers, which this runtime does without; tests/test_input_bounds.py checks that the two agree)
SIZE_LIMITS = {"num_mel_bins": (1, 256), "num_labels": (1, 1024)}
# Mel frames per onnxruntime run (rows x frames, 30 s = 3000): its memory arena keeps the largest run's buffers, so
# runs stay the size of one 30 s window, while short clips still share a run.
RUN_FRAMES = 3000


def read_config(config_file: Path) -> dict:
    """config.json of an export, checked before anything is allocated from it."""
    try:
        settings = json.loads(config_file.read_text())
        labels = settings["id2label"]
        ids = sorted(int(key) for key in labels)
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
        raise ValueError(f"{config_file}: not the config.json of an emotion-whisper export ({type(err).__name__}: "
                         f"{err}); export the model again") from None
    if ids != list(range(len(ids))):
        gaps = sorted(set(range(max(ids) + 1)) - set(ids)) if ids else [0]
        raise ValueError(f"{config_file}: id2label must number the labels 0 to {len(ids) - 1} without gaps; label ids "
                         f"{gaps} are missing: fix id2label or export the model again")
    values = {"num_mel_bins": settings.get("num_mel_bins"), "num_labels": len(ids)}
    for name, (low, high) in SIZE_LIMITS.items():
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{config_file}: {name} must be a whole number from {low} to {high}, got {value!r}: the "
                             "file is damaged or not an emotion-whisper export")
    prior = settings.get("label_prior")
    if prior is not None and (not isinstance(prior, list) or len(prior) != len(ids)):
        raise ValueError(f"{config_file}: label_prior must have one entry per label ({len(ids)})")
    return settings


class OnnxScorer:
    """An exported model behind the interface `inference.predict_clips` and `inference.timeline` use."""

    def __init__(self, path, threads: int = 0, spinning: bool = True):
        """threads: onnxruntime's intra-op threads (0: its default, one per core). spinning: whether those threads
        busy-wait for the next piece of work after each run; right for batches, wasted CPU for a live stream that
        runs once a hop (`emotion-whisper live` turns it off)."""
        import onnxruntime

        path = Path(path)
        self.file = path if path.suffix == ".onnx" else path / "model.onnx"
        if not self.file.exists():
            raise FileNotFoundError(f"{self.file} not found: pass a folder written by `emotion-whisper export-onnx "
                                    "--model MODEL --out DIR` (or one of its .onnx files)")
        config_file = self.file.parent / "config.json"
        if not config_file.exists():
            raise FileNotFoundError(f"{config_file} not found: the export writes it beside the .onnx files")
        settings = read_config(config_file)
        self.config = SimpleNamespace(**{"emotion_loss": "soft_ce", "label_prior": None, "logit_adjustment_tau": 1.0,
                                         "feature_standardization": "none", **settings})
        names = {int(key): name for key, name in settings["id2label"].items()}
        self.labels = [names[i] for i in range(len(names))]
        self.filters = mel_filter_bank(settings["num_mel_bins"])
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(str(self.file), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's own errors: an operator it lacks, a damaged file
            first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
            raise ValueError(f"{self.file}: onnxruntime {onnxruntime.__version__} cannot load this graph ({first}); "
                             "export it again with `emotion-whisper export-onnx`, or use the onnxruntime it was "
                             "exported for") from None
        self.outputs = [output.name for output in self.session.get_outputs()]  # OUTPUTS, and stream_logits if exported

    def run(self, waves) -> dict:
        """The graph's outputs for waveforms of at most 30 s, each featurized alone, zero-padded to the longest."""
        features = [log_mel(wave, self.filters) for wave in waves]
        frames = max(f.shape[1] for f in features)
        batch = np.zeros((len(features), self.filters.shape[1], frames), dtype=np.float32)
        mask = np.zeros((len(features), frames), dtype=np.int64)
        for row, f in enumerate(features):
            batch[row, :, : f.shape[1]] = f
            mask[row, : f.shape[1]] = 1
        feeds = {"input_features": batch, "attention_mask": mask}
        return dict(zip(self.outputs, self.session.run(self.outputs, feeds)))

    def adjust(self, logits: np.ndarray) -> np.ndarray:
        """Logit adjustment by the training prior, as the model's adjust_logits (classes with prior 0 untouched)."""
        if self.config.label_prior is None:
            raise ValueError("logit adjustment needs the training label prior (label_prior in config.json)")
        prior = np.asarray(self.config.label_prior, dtype=np.float64)
        prior = prior / prior.sum()
        log_prior = np.where(prior > 0, np.log(np.maximum(prior, 1e-12)), 0.0)
        return (logits - self.config.logit_adjustment_tau * log_prior).astype(np.float32)

    def clips(self, waves, logit_adjustment: bool):
        """Clip logits and pooled features; a clip over 30 s is the mean of its windows weighted by valid frames."""
        windows, counts = [], []
        for wave in waves:
            pieces = split_windows(wave)
            windows += pieces
            counts.append(len(pieces))
        runs, run = [], []
        for window in windows:  # consecutive windows, at most RUN_FRAMES padded mel frames per run
            if run and (len(run) + 1) * max(window.size, *(w.size for w in run)) // 160 > RUN_FRAMES:
                runs.append(run)
                run = []
            run.append(window)
        outs = [self.run(run) for run in runs + [run]]
        out = {name: np.concatenate([o[name] for o in outs]) for name in ("logits", "pooled_features")}
        weights = np.concatenate([o["frame_mask"].sum(axis=1) for o in outs]).astype(np.float64)
        bounds = np.cumsum([0] + counts)
        pool = lambda x: np.stack([(x[a:b] * weights[a:b, None]).sum(0) / max(weights[a:b].sum(), 1.0)  # noqa: E731
                                   for a, b in zip(bounds[:-1], bounds[1:])]).astype(np.float32)
        logits = pool(out["logits"])
        return (self.adjust(logits) if logit_adjustment else logits), pool(out["pooled_features"])

    def frames(self, waves, logit_adjustment: bool, output: str = "frame_logits", clip_weight: float = 0.0):
        """Frame logits and mask of windows of at most 30 s, run one window at a time: onnxruntime gains nothing from
        batching 30 s windows, and its memory arena keeps the largest batch's attention buffers (a 10-minute
        timeline peaked at 2.0 GB with 4 windows per run, 0.65 GB with 1, at the same speed). clip_weight > 0: as the
        PyTorch scorer's (inference.pool_with_clip)."""
        outs = [self.run([wave]) for wave in waves]
        frames = max(o["frame_mask"].shape[1] for o in outs)
        logits = np.zeros((len(outs), frames, len(self.labels)), dtype=np.float32)
        mask = np.zeros((len(outs), frames), dtype=bool)
        for row, o in enumerate(outs):
            n = o["frame_mask"].shape[1]
            logits[row, :n], mask[row, :n] = o.get(output, o["frame_logits"])[0], o["frame_mask"][0]
        if clip_weight:
            logits = pool_with_clip(logits, np.concatenate([o["logits"] for o in outs]), clip_weight)
        return (self.adjust(logits) if logit_adjustment else logits), mask

    @property
    def has_stream_head(self) -> bool:
        return "stream_logits" in self.outputs

    def stream_frames(self, waves, logit_adjustment: bool, clip_weight: float = 0.0):
        """As `frames`, from the stream head when the export has it (stream_logits): the live stream's frames."""
        return self.frames(waves, logit_adjustment, output="stream_logits", clip_weight=clip_weight)

    def head(self):
        """The emotion head's weight and bias (saved beside the graph), for adapting to the inputs."""
        from safetensors.numpy import load_file

        tensors = load_file(str(self.file.parent / HEAD_FILE))
        return tensors["weight"], tensors["bias"]

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
from .mel import log_mel, mel_filter_bank

INPUTS = ("input_features", "attention_mask")
OUTPUTS = ("logits", "frame_logits", "frame_mask", "pooled_features")
HEAD_FILE = "emotion_head.safetensors"


class OnnxScorer:
    """An exported model behind the interface `inference.predict_clips` and `inference.timeline` use."""

    def __init__(self, path, threads: int = 0):
        import onnxruntime

        path = Path(path)
        self.file = path if path.suffix == ".onnx" else path / "model.onnx"
        if not self.file.exists():
            raise FileNotFoundError(f"{self.file} not found: pass a folder written by `emotion-whisper export-onnx "
                                    "--model MODEL --out DIR` (or one of its .onnx files)")
        config_file = self.file.parent / "config.json"
        if not config_file.exists():
            raise FileNotFoundError(f"{config_file} not found: the export writes it beside the .onnx files")
        settings = json.loads(config_file.read_text())
        self.config = SimpleNamespace(**{"emotion_loss": "soft_ce", "label_prior": None, "logit_adjustment_tau": 1.0,
                                         "feature_standardization": "none", **settings})
        self.labels = [settings["id2label"][str(i)] for i in range(len(settings["id2label"]))]
        self.filters = mel_filter_bank(settings["num_mel_bins"])
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(self.file), options, providers=["CPUExecutionProvider"])

    def run(self, waves) -> dict:
        """The graph's outputs for waveforms of at most 30 s, each featurized alone, zero-padded to the longest."""
        features = [log_mel(wave, self.filters) for wave in waves]
        frames = max(f.shape[1] for f in features)
        batch = np.zeros((len(features), self.filters.shape[1], frames), dtype=np.float32)
        mask = np.zeros((len(features), frames), dtype=np.int64)
        for row, f in enumerate(features):
            batch[row, :, : f.shape[1]] = f
            mask[row, : f.shape[1]] = 1
        return dict(zip(OUTPUTS, self.session.run(list(OUTPUTS), {"input_features": batch, "attention_mask": mask})))

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
        out = self.run(windows)
        weights = out["frame_mask"].sum(axis=1).astype(np.float64)
        bounds = np.cumsum([0] + counts)
        pool = lambda x: np.stack([(x[a:b] * weights[a:b, None]).sum(0) / max(weights[a:b].sum(), 1.0)  # noqa: E731
                                   for a, b in zip(bounds[:-1], bounds[1:])]).astype(np.float32)
        logits = pool(out["logits"])
        return (self.adjust(logits) if logit_adjustment else logits), pool(out["pooled_features"])

    def frames(self, waves, logit_adjustment: bool):
        """Frame logits and mask of windows of at most 30 s, run one window at a time: onnxruntime gains nothing from
        batching 30 s windows, and its memory arena keeps the largest batch's attention buffers (a 10-minute
        timeline peaked at 2.0 GB with 4 windows per run, 0.65 GB with 1, at the same speed)."""
        outs = [self.run([wave]) for wave in waves]
        frames = max(o["frame_mask"].shape[1] for o in outs)
        logits = np.zeros((len(outs), frames, len(self.labels)), dtype=np.float32)
        mask = np.zeros((len(outs), frames), dtype=bool)
        for row, o in enumerate(outs):
            n = o["frame_mask"].shape[1]
            logits[row, :n], mask[row, :n] = o["frame_logits"][0], o["frame_mask"][0]
        return (self.adjust(logits) if logit_adjustment else logits), mask

    def head(self):
        """The emotion head's weight and bias (saved beside the graph), for adapting to the inputs."""
        from safetensors.numpy import load_file

        tensors = load_file(str(self.file.parent / HEAD_FILE))
        return tensors["weight"], tensors["bias"]

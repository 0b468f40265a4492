"""The audio-classification pipeline that a saved WhisperForEmotionClassification folder registers.

transformers' AudioClassificationPipeline decodes files with ffmpeg, resamples with torchaudio and pads every clip
to 30 s. This subclass decodes with soundfile, resamples with soxr, downmixes any channel count, feeds each clip at
its own length (no 30 s of compute for 3 s of audio), and scores audio longer than 30 s as the frame-weighted mean
of its 30 s windows. Saved next to the model; loaded by `pipeline(..., trust_remote_code=True)`.
"""

import json
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers.pipelines.audio_classification import AudioClassificationPipeline
from transformers.pipelines.pt_utils import KeyDataset, PipelineDataset, PipelineIterator
from transformers.utils import ModelOutput

from .audio import SAMPLING_RATE, load_audio, prepare_waveform
from .features import clip_batch, pad_frames, scores_from_logits

# Unused here, imported for transformers 4.57 to 5.9: from a local folder they copy into their module cache only this
# file and the modules it imports itself, not what those import (features imports mel), and the folder then fails to
# load with FileNotFoundError. This file imports every saved module it reaches (checked by
# modeling_emotion_whisper.remote_code, in the tests and on release).
from .mel import scores as _scores  # noqa: F401

# Windows of 30 s per model forward: an hour-long clip is 120 windows, whose activations in one forward take gigabytes.
WINDOWS_PER_FORWARD = 8


@dataclass
class ClipLogits(ModelOutput):
    logits: torch.Tensor | None = None


def collate_clips(items):
    """Batch clips of different lengths (each possibly several 30 s windows): pad the mel frames at the end (the
    model masks them) and concatenate how many windows belong to each clip."""
    features, masks = pad_frames([item["input_features"] for item in items], [item["attention_mask"] for item in items])
    return {"input_features": features, "attention_mask": masks,
            "window_counts": torch.cat([item["window_counts"] for item in items])}


def read_undecoded(inputs):
    """A KeyDataset over a datasets Audio column that datasets cannot decode (datasets 5 decodes with torchcodec,
    which needs FFmpeg's libraries): read the column undecoded, {"path", "bytes"} per row, which `preprocess` decodes
    with soundfile. Anything else is returned as it is."""
    if not isinstance(inputs, KeyDataset) or not hasattr(inputs.dataset, "cast_column"):
        return inputs
    feature = (getattr(inputs.dataset, "features", None) or {}).get(inputs.key)
    if type(feature).__name__ != "Audio" or not getattr(feature, "decode", False):
        return inputs
    # Imported already, as a Dataset was given; an import statement would make transformers require datasets for
    # every use of this saved pipeline (trust_remote_code checks the file's imports).
    datasets = sys.modules.get("datasets")
    # datasets before 4 decoded with soundfile itself and has no such flag: its decoded rows are fine as they are
    if datasets is None or getattr(datasets.config, "TORCHCODEC_AVAILABLE", True):
        return inputs
    return KeyDataset(inputs.dataset.cast_column(inputs.key, datasets.Audio(decode=False)), inputs.key)


class EmotionAudioClassificationPipeline(AudioClassificationPipeline):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.device.type == "cpu" and self.model.dtype in (torch.float16, torch.bfloat16):
            self.model.float()  # the release is stored in float16; CPUs compute it slowly and less exactly

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(read_undecoded(inputs), *args, **kwargs)

    def check_model_type(self, supported_models):
        pass  # remote-code models are not in transformers' static table; the task is ours by construction

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, apply_logit_adjustment=None, adaptation=None,
                             **kwargs):
        # Given at construction, these become the pipeline's defaults; given to a call, they apply to that call only.
        # Neither changes the model: they travel with the call down to the model's forward, so a later call without
        # them is scored as before, and calls from several threads on one pipeline each get their own.
        preprocess, forward, postprocess = super()._sanitize_parameters(top_k, function_to_apply, **kwargs)
        if adaptation is not None:  # a dict or the path of an adaptation JSON; "none": no adaptation
            if isinstance(adaptation, str) and adaptation != "none":
                with open(adaptation) as handle:
                    adaptation = json.load(handle)
            forward["adaptation"] = self.model.adaptation_tensors(adaptation)  # checked once, before any audio
        if apply_logit_adjustment is not None:
            forward["apply_logit_adjustment"] = apply_logit_adjustment
        return preprocess, forward, postprocess

    def preprocess(self, inputs):
        rate = self.feature_extractor.sampling_rate
        if hasattr(inputs, "get_all_samples"):  # a torchcodec AudioDecoder: a decoded datasets 5 Audio value
            samples = inputs.get_all_samples()
            inputs = {"array": samples.data, "sampling_rate": samples.sample_rate}
        if isinstance(inputs, (str, bytes, bytearray)) or hasattr(inputs, "read"):
            waveform = load_audio(inputs, rate)
        elif isinstance(inputs, dict) and "sampling_rate" not in inputs and (
                inputs.get("bytes") is not None or inputs.get("path") is not None):
            # an undecoded datasets Audio value (Audio(decode=False)); its bytes, when present, are the audio itself
            waveform = load_audio(inputs["bytes"] if inputs.get("bytes") is not None else inputs["path"], rate)
        elif isinstance(inputs, dict):
            if "sampling_rate" not in inputs or not ("raw" in inputs or "array" in inputs):
                raise ValueError('A dict input needs "sampling_rate" and "raw" or "array" (the waveform), or the '
                                 '"path" or "bytes" of an audio file (an undecoded datasets Audio value).')
            array = inputs.get("raw", inputs.get("array"))
            if isinstance(array, torch.Tensor):
                array = array.cpu().numpy()
            waveform = prepare_waveform(array, inputs["sampling_rate"], "input dict", rate)
        else:
            if isinstance(inputs, torch.Tensor):
                inputs = inputs.cpu().numpy()
            if not isinstance(inputs, np.ndarray):
                raise TypeError("Pass a file path, bytes, a numpy array at 16 kHz, "
                                "{'array': ..., 'sampling_rate': ...} or {'path': ..., 'bytes': ...}")
            waveform = prepare_waveform(inputs, rate, "input array", rate)
        features = clip_batch(self.feature_extractor, [waveform])  # the windowing rule of every clip scorer
        if self.dtype is not None:
            features["input_features"] = features["input_features"].to(self.dtype)
        return features

    def get_iterator(self, inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params):
        if batch_size == 1:
            return super().get_iterator(inputs, num_workers, batch_size, preprocess_params, forward_params,
                                        postprocess_params)
        dataset = PipelineDataset(inputs, self.preprocess, preprocess_params)
        loader = DataLoader(dataset, num_workers=num_workers, batch_size=batch_size, collate_fn=collate_clips)
        model_iterator = PipelineIterator(loader, self.forward, forward_params, loader_batch_size=batch_size)
        return PipelineIterator(model_iterator, self.postprocess, postprocess_params)

    def _forward(self, model_inputs, apply_logit_adjustment=None, adaptation=None):
        options = {"apply_logit_adjustment": apply_logit_adjustment}
        if adaptation is not None:
            options["adaptation"] = adaptation
        counts = model_inputs.get("window_counts")
        rows = model_inputs["input_features"].shape[0]
        if counts is None or rows <= WINDOWS_PER_FORWARD:
            # window_counts: the model pools a clip's 30 s windows, weighted by their valid frames
            return ClipLogits(logits=self.model(**model_inputs, **options).logits)
        # Many windows: scored a few at a time and pooled here as the model pools them. Every adaptation and
        # adjustment is the same shift of every window's logits, so it commutes with the weighted mean.
        logits, weights = [], []
        for start in range(0, rows, WINDOWS_PER_FORWARD):
            part = slice(start, start + WINDOWS_PER_FORWARD)
            out = self.model(input_features=model_inputs["input_features"][part],
                             attention_mask=model_inputs["attention_mask"][part], **options)
            logits.append(out.logits)
            weights.append(out.frame_mask.sum(dim=1).float())
        logits, weights = torch.cat(logits), torch.cat(weights)
        counts = [int(c) for c in counts]
        pooled = [(v * w[:, None].to(v.dtype)).sum(0) / w.sum().clamp(min=1)
                  for v, w in zip(logits.split(counts), weights.split(counts))]
        return ClipLogits(logits=torch.stack(pooled))

    def postprocess(self, model_outputs, top_k=5, function_to_apply=None):
        if function_to_apply is not None:  # the caller's explicit choice
            return super().postprocess(model_outputs, top_k=top_k, function_to_apply=function_to_apply)
        scores = scores_from_logits(model_outputs.logits[0], self.model)  # the one logits -> scores rule
        top_k = min(top_k or self.model.config.num_labels, self.model.config.num_labels)
        values, ids = scores.topk(top_k)
        return [{"score": float(v), "label": self.model.config.id2label[int(i)]} for v, i in zip(values, ids)]


__all__ = ["EmotionAudioClassificationPipeline", "SAMPLING_RATE"]

"""The audio-classification pipeline that a saved WhisperForEmotionClassification folder registers.

transformers' AudioClassificationPipeline decodes files with ffmpeg, resamples with torchaudio and pads every clip
to 30 s. This subclass decodes with soundfile, resamples with soxr, downmixes any channel count, feeds each clip at
its own length (no 30 s of compute for 3 s of audio), and scores audio longer than 30 s as the frame-weighted mean
of its 30 s windows. Saved next to the model; loaded by `pipeline(..., trust_remote_code=True)`.
"""

import json
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers.pipelines.audio_classification import AudioClassificationPipeline
from transformers.pipelines.pt_utils import PipelineDataset, PipelineIterator
from transformers.utils import ModelOutput

from .audio import SAMPLING_RATE, AudioError, load_audio, prepare_waveform

WINDOW_SECONDS = 30


@dataclass
class ClipLogits(ModelOutput):
    logits: torch.Tensor | None = None


def collate_clips(items):
    """Batch clips of different lengths (each possibly several 30 s windows): pad the mel frames at the end (the
    model masks them) and remember how many windows belong to each clip."""
    longest = max(item["input_features"].shape[-1] for item in items)
    features, masks = [], []
    for item in items:
        pad = longest - item["input_features"].shape[-1]
        features.append(torch.nn.functional.pad(item["input_features"], (0, pad)))
        masks.append(torch.nn.functional.pad(item["attention_mask"], (0, pad)))
    return {"input_features": torch.cat(features), "attention_mask": torch.cat(masks),
            "window_counts": torch.tensor([item["input_features"].shape[0] for item in items])}


class EmotionAudioClassificationPipeline(AudioClassificationPipeline):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.device.type == "cpu" and self.model.dtype in (torch.float16, torch.bfloat16):
            self.model.float()  # the release is stored in float16; CPUs compute it slowly and less exactly

    def check_model_type(self, supported_models):
        pass  # remote-code models are not in transformers' static table; the task is ours by construction

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, apply_logit_adjustment=None, adaptation=None,
                             **kwargs):
        preprocess, forward, postprocess = super()._sanitize_parameters(top_k, function_to_apply, **kwargs)
        if adaptation is not None:  # a dict or the path of an adaptation JSON; "none" clears it
            if isinstance(adaptation, str) and adaptation != "none":
                with open(adaptation) as handle:
                    adaptation = json.load(handle)
            self.model.set_adaptation(None if adaptation == "none" else adaptation)
        if apply_logit_adjustment is not None:
            forward["apply_logit_adjustment"] = apply_logit_adjustment
        return preprocess, forward, postprocess

    def preprocess(self, inputs):
        rate = self.feature_extractor.sampling_rate
        if isinstance(inputs, (str, bytes, bytearray)) or hasattr(inputs, "read"):
            waveform = load_audio(inputs, rate)
        elif isinstance(inputs, dict):
            if "sampling_rate" not in inputs or not ("raw" in inputs or "array" in inputs):
                raise ValueError('A dict input needs "sampling_rate" and "raw" or "array" (the waveform).')
            array = inputs.get("raw", inputs.get("array"))
            if isinstance(array, torch.Tensor):
                array = array.cpu().numpy()
            waveform = prepare_waveform(array, inputs["sampling_rate"], "input dict", rate)
        else:
            if isinstance(inputs, torch.Tensor):
                inputs = inputs.cpu().numpy()
            if not isinstance(inputs, np.ndarray):
                raise TypeError("Pass a file path, bytes, a numpy array at 16 kHz, or {'array': ..., 'sampling_rate': ...}")
            waveform = prepare_waveform(inputs, rate, "input array", rate)
        if waveform.size < rate // 100:
            raise AudioError(f"the audio is {waveform.size} samples long; at least 10 ms at {rate} Hz is needed")
        step = WINDOW_SECONDS * rate
        windows = [waveform[i : i + step] for i in range(0, waveform.size, step)]
        windows = [w for w in windows if w.size >= rate // 100] or windows[:1]
        features = self.feature_extractor(
            windows, sampling_rate=rate, padding="longest", return_attention_mask=True, return_tensors="pt"
        )
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

    def _forward(self, model_inputs, apply_logit_adjustment=None):
        counts = model_inputs.pop("window_counts", None)
        outputs = self.model(**model_inputs, apply_logit_adjustment=apply_logit_adjustment)
        # A clip of several 30 s windows: weight each window's logits by its number of valid frames.
        counts = [outputs.logits.shape[0]] if counts is None else counts.tolist()
        weights = outputs.frame_mask.sum(dim=1, keepdim=True).to(outputs.logits.dtype)
        pooled = [(lo * w).sum(0) / w.sum() for lo, w in zip(outputs.logits.split(counts), weights.split(counts))]
        return ClipLogits(logits=torch.stack(pooled))

    def postprocess(self, model_outputs, top_k=5, function_to_apply=None):
        if function_to_apply is None:
            sigmoid = getattr(self.model.config, "emotion_loss", "soft_ce") == "sigmoid_mse"
            function_to_apply = "sigmoid" if sigmoid else "softmax"
        return super().postprocess(model_outputs, top_k=top_k, function_to_apply=function_to_apply)


__all__ = ["EmotionAudioClassificationPipeline", "SAMPLING_RATE"]

"""What training, evaluation, inference and the pipeline share between audio and the model: log-mel features, clips
cut into 30 s windows and batched, the label names, and the one function that turns logits into scores.

Self-contained (numpy, torch, .audio and .mel) because the saved pipeline imports it next to the model code.
"""

import numpy as np
import torch

from .audio import SAMPLING_RATE, split_windows
from .mel import scores


def mel_features(feature_extractor, waves: list[np.ndarray]):
    """Log-mel features of 16 kHz waveforms: (input_features (B, mels, T), attention_mask (B, T), one entry per mel
    frame). Each waveform is featurized alone, then padded with zeros to the longest (the model masks padding):
    featurized together, a clip's last frames would see the zeros padding it to its batch's longest clip instead of
    its own end, and the same clip would get another answer in another batch."""
    single = [feature_extractor([wave], sampling_rate=SAMPLING_RATE, padding="longest", return_attention_mask=True,
                                return_tensors="pt")
              for wave in waves]
    return pad_frames([s["input_features"] for s in single], [s["attention_mask"] for s in single])


def pad_frames(features: list[torch.Tensor], masks: list[torch.Tensor]):
    """Batches (n_i, mels, T_i) and their masks (n_i, T_i) -> one batch, zero-padded at the end to the longest T."""
    frames = max(f.shape[-1] for f in features)
    padded = [torch.nn.functional.pad(f, (0, frames - f.shape[-1])) for f in features]
    masked = [torch.nn.functional.pad(m[..., : f.shape[-1]], (0, frames - f.shape[-1])) for m, f in zip(masks, features)]
    return torch.cat(padded), torch.cat(masked)


def clip_batch(feature_extractor, waves: list[np.ndarray]) -> dict:
    """Clips of any length -> one model batch: every clip cut into 30 s windows (`split_windows`), all windows padded
    to the longest, and `window_counts` (clips,) saying how many consecutive rows belong to each clip. The model
    pools a clip's windows, weighted by their valid frames, when it is given `window_counts`."""
    windows, counts = [], []
    for wave in waves:
        pieces = split_windows(wave)
        windows += pieces
        counts.append(len(pieces))
    features, mask = mel_features(feature_extractor, windows)
    return {"input_features": features, "attention_mask": mask, "window_counts": torch.tensor(counts)}


def label_names(config) -> list[str]:
    """The output names in output order, from a model or its config."""
    config = getattr(config, "config", config)
    return [config.id2label[i] for i in range(config.num_labels)]


def scores_from_logits(logits, config) -> torch.Tensor:
    """Logits -> float32 scores by the one rule of `mel.scores` (sigmoid for a model trained with sigmoid + MSE,
    otherwise a max-subtracted softmax), shared with the ONNX runtime."""
    config = getattr(config, "config", config)
    values = torch.as_tensor(logits).detach().float().cpu().numpy()
    return torch.from_numpy(scores(values, getattr(config, "emotion_loss", "soft_ce")))

"""On-the-fly augmentation (paper 2.3): waveform transforms per clip, SpecAugment per packed log-mel.

Each transform fires independently with probability `p` (0.2 in the paper). Parameter ranges:

| transform | range | where |
|---|---|---|
| polarity inversion | - | audiomentations.PolarityInversion |
| gain | -12 .. +6 dB | audiomentations.Gain |
| time reversal | - | audiomentations.Reverse |
| noise | SNR 10 .. 40 dB | audiomentations.AddGaussianSNR |
| resampling | 14.4 .. 17.6 kHz read as 16 kHz (speed and pitch +-10 %) | audiomentations.Resample |
| equalization | 7 bands, -8 .. +8 dB | audiomentations.SevenBandParametricEQ |
| echo | one reflection, 40 .. 250 ms, decay 0.2 .. 0.5 | `add_echo` (audiomentations needs impulse-response files) |
| roll | circular shift by up to the clip's length | `np.roll` (paper: "rolling ... at the waveform level") |
| frequency mask | 2 masks of up to 20 mel bins | `spec_augment` |
| time mask | 2 masks of up to 5 % of the frames | `spec_augment` |
| log-mel noise | Gaussian, std 0.02 .. 0.1 | `spec_augment` |

Randomness comes from a numpy Generator passed in (seeded per pack by the collator); audiomentations draws from
Python's and numpy's global generators, which `WaveformAugmenter` seeds from it, so a run is reproducible.
"""

import random

import numpy as np
import torch


def add_echo(samples: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    delay = int(rng.uniform(0.04, 0.25) * sample_rate)
    decay = rng.uniform(0.2, 0.5)
    out = samples.copy()
    if 0 < delay < samples.size:
        out[delay:] += decay * samples[:-delay]
    peak = np.abs(out).max()
    return out / peak * np.abs(samples).max() if peak > 1.0 else out


class WaveformAugmenter:
    """The paper's waveform augmentations, each at an independent probability `p`, applied to one clip."""

    def __init__(self, p: float = 0.2, sample_rate: int = 16000):
        from audiomentations import (AddGaussianSNR, Gain, PolarityInversion, Resample, Reverse,
                                     SevenBandParametricEQ)

        self.p, self.sample_rate = p, sample_rate
        self.transforms = [
            PolarityInversion(p=p),
            Gain(min_gain_db=-12.0, max_gain_db=6.0, p=p),
            Reverse(p=p),
            AddGaussianSNR(min_snr_db=10.0, max_snr_db=40.0, p=p),
            Resample(min_sample_rate=int(0.9 * sample_rate), max_sample_rate=int(1.1 * sample_rate), p=p),
            SevenBandParametricEQ(min_gain_db=-8.0, max_gain_db=8.0, p=p),
        ]

    def __call__(self, samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        seed = int(rng.integers(2**31))
        random.seed(seed)
        np.random.seed(seed)
        samples = samples.astype(np.float32, copy=True)
        for transform in self.transforms:
            samples = transform(samples=samples, sample_rate=self.sample_rate)
        if rng.random() < self.p:
            samples = add_echo(samples, self.sample_rate, rng)
        if rng.random() < self.p and samples.size > 1:
            samples = np.roll(samples, int(rng.integers(1, samples.size)))
        return samples.astype(np.float32, copy=False)


def spec_augment(features: torch.Tensor, valid_frames: int, rng: np.random.Generator, p: float = 0.2,
                 freq_masks: int = 2, max_freq_width: int = 20, time_masks: int = 2, max_time_fraction: float = 0.05,
                 noise_std: tuple[float, float] = (0.02, 0.1)) -> torch.Tensor:
    """SpecAugment on one log-mel (mels, frames): frequency masks, time masks and noise, each with probability p.
    Masks take the mean value, so they look like quiet, not like a cliff. Only the first `valid_frames` are touched."""
    features = features.clone()
    mels = features.shape[0]
    fill = features[:, :valid_frames].mean()
    if rng.random() < p:
        for _ in range(freq_masks):
            width = int(rng.integers(0, max_freq_width + 1))
            start = int(rng.integers(0, max(1, mels - width)))
            features[start : start + width, :valid_frames] = fill
    if rng.random() < p and valid_frames > 1:
        for _ in range(time_masks):
            width = int(rng.integers(0, max(1, int(max_time_fraction * valid_frames)) + 1))
            start = int(rng.integers(0, max(1, valid_frames - width)))
            features[:, start : start + width] = fill
    if rng.random() < p:
        std = float(rng.uniform(*noise_std))
        noise = torch.from_numpy(rng.standard_normal((mels, valid_frames)).astype(np.float32)) * std
        features[:, :valid_frames] += noise.to(features.dtype)
    return features

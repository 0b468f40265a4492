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
| vocal-tract-length perturbation | spectrum warped by 0.9 .. 1.1 below 4.8 kHz | `vtlp` (ours; `channel_p`) |
| room | synthetic response, RT60 0.2 .. 0.9 s, direct-to-reverberant 0 .. 15 dB | `room_response` (`channel_p`) |
| codec | telephone (8 kHz mu-law), GSM 06.10 or Opus 6 .. 40 kbit/s | `codec` (`channel_p`) |
| frequency mask | 2 masks of up to 20 mel bins | `spec_augment` |
| time mask | 2 masks of up to 5 % of the frames | `spec_augment` |
| log-mel noise | Gaussian, std 0.02 .. 0.1 | `spec_augment` |

The last three change the speaker and the channel rather than the signal's level and timing (issue 26: what a
corpus the model never heard differs in); they fire at their own probability, `channel_p` (0 by default: the paper's
recipe). Room responses are statistical (Schroeder: noise decaying 60 dB over RT60), so no impulse-response files
are needed; the codecs are libsndfile's, run in memory.

Randomness comes from a numpy Generator passed in (seeded per pack by the collator); audiomentations draws from
Python's and numpy's global generators, which `WaveformAugmenter` seeds from it, so a run is reproducible.
"""

import io
import random

import numpy as np
import torch

CODECS = ("telephone", "gsm", "opus")


def add_echo(samples: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    delay = int(rng.uniform(0.04, 0.25) * sample_rate)
    decay = rng.uniform(0.2, 0.5)
    out = samples.copy()
    if 0 < delay < samples.size:
        out[delay:] += decay * samples[:-delay]
    peak = np.abs(out).max()
    return out / peak * np.abs(samples).max() if peak > 1.0 else out


def _level_like(out: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """`out` cut or zero-padded to the length of `samples` and scaled to its peak: a channel changes the sound, not
    the clip's length or loudness."""
    out = np.asarray(out, dtype=np.float32)[: samples.size]
    out = np.pad(out, (0, samples.size - out.size))
    peak, target = float(np.abs(out).max()), float(np.abs(samples).max())
    return out * (target / peak) if peak > 0 else out


def vtlp(samples: np.ndarray, sample_rate: int, rng: np.random.Generator, warp: tuple[float, float] = (0.9, 1.1),
         boundary_hz: float = 4800.0) -> np.ndarray:
    """Vocal-tract-length perturbation (Jaitly & Hinton 2013) on the waveform: each frame's magnitude spectrum is
    warped by a factor alpha (f -> alpha f below a boundary, linear from there to Nyquist so the band is kept), the
    phase kept, and the clip resynthesized. Unlike resampling, the clip keeps its duration."""
    from scipy.signal import istft, stft

    n_fft = 512
    if samples.size < n_fft:
        return samples
    alpha = float(rng.uniform(*warp))
    freqs, _, spec = stft(samples, fs=sample_rate, nperseg=n_fft, noverlap=n_fft - n_fft // 4)
    nyquist = sample_rate / 2
    cut = boundary_hz * min(alpha, 1.0) / alpha
    above = nyquist - (nyquist - cut * alpha) / (nyquist - cut) * (nyquist - freqs)
    warped = np.where(freqs <= cut, freqs * alpha, above)
    source = np.interp(freqs, warped, freqs) / freqs[1]  # the input bin each output bin reads, fractional
    low = np.minimum(source.astype(np.int64), freqs.size - 2)
    frac = (source - low)[:, None]
    magnitude = np.abs(spec)
    magnitude = magnitude[low] * (1 - frac) + magnitude[low + 1] * frac
    _, out = istft(magnitude * np.exp(1j * np.angle(spec)), fs=sample_rate, nperseg=n_fft, noverlap=n_fft - n_fft // 4)
    return _level_like(out, samples)


def room_response(samples: np.ndarray, sample_rate: int, rng: np.random.Generator,
                  rt60: tuple[float, float] = (0.2, 0.9), drr_db: tuple[float, float] = (0.0, 15.0)) -> np.ndarray:
    """The clip in a synthetic room: convolved with a unit direct path followed by Gaussian noise whose amplitude falls
    60 dB over RT60 (Schroeder's statistical model of a diffuse tail), the tail's energy set by a
    direct-to-reverberant ratio."""
    from scipy.signal import fftconvolve

    if samples.size == 0:
        return samples
    decay = float(rng.uniform(*rt60))
    length = max(2, int(min(decay, 0.8) * sample_rate))
    tail = rng.standard_normal(length) * np.exp(-np.log(1000.0) * np.arange(length) / (decay * sample_rate))
    tail[0] = 0.0
    tail *= np.sqrt(10 ** (-float(rng.uniform(*drr_db)) / 10) / (tail**2).sum())
    tail[0] = 1.0
    return _level_like(fftconvolve(samples, tail)[: samples.size], samples)


def codec(samples: np.ndarray, sample_rate: int, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """The clip through a lossy channel, encoded and decoded in memory by libsndfile: a telephone line (8 kHz,
    G.711 mu-law), GSM 06.10 (8 kHz, 13 kbit/s) or Opus at 6 to 40 kbit/s (16 kHz). `kind` picks one; None draws."""
    import soundfile as sf
    import soxr

    kind = kind or CODECS[int(rng.integers(len(CODECS)))]
    if kind not in CODECS:
        raise ValueError(f"codec {kind!r}: choose one of {', '.join(CODECS)}")
    if samples.size < sample_rate // 50:  # under 20 ms: shorter than a codec frame
        return samples
    wave = np.clip(samples, -1.0, 1.0).astype(np.float32)
    rate = 8000 if kind in ("telephone", "gsm") else sample_rate
    if rate != sample_rate:
        wave = soxr.resample(wave, sample_rate, rate)
    buffer = io.BytesIO()
    if kind == "opus":  # libsndfile's compression level 0.8 .. 1.0: about 40 down to 6 kbit/s at 16 kHz
        sf.write(buffer, wave, rate, format="OGG", subtype="OPUS", compression_level=float(rng.uniform(0.8, 1.0)))
    else:
        sf.write(buffer, wave, rate, format="WAV", subtype="ULAW" if kind == "telephone" else "GSM610")
    buffer.seek(0)
    out, _ = sf.read(buffer, dtype="float32")
    if rate != sample_rate:
        out = soxr.resample(out, rate, sample_rate)
    return _level_like(out, samples)


class WaveformAugmenter:
    """The paper's waveform augmentations, each at an independent probability `p`, applied to one clip; with
    `channel_p` > 0, vocal-tract-length perturbation, a room and a codec, each at that probability (speaker, then
    room, then the paper's transforms, then the codec, as a voice meets them)."""

    def __init__(self, p: float = 0.2, sample_rate: int = 16000, channel_p: float = 0.0):
        from audiomentations import (AddGaussianSNR, Gain, PolarityInversion, Resample, Reverse,
                                     SevenBandParametricEQ)

        self.p, self.sample_rate, self.channel_p = p, sample_rate, channel_p
        self.transforms = [
            PolarityInversion(p=p),
            Gain(min_gain_db=-12.0, max_gain_db=6.0, p=p),
            Reverse(p=p),
            AddGaussianSNR(min_snr_db=10.0, max_snr_db=40.0, p=p),
            Resample(min_sample_rate=int(0.9 * sample_rate), max_sample_rate=int(1.1 * sample_rate), p=p),
            SevenBandParametricEQ(min_gain_db=-8.0, max_gain_db=8.0, p=p),
        ]

    def __call__(self, samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if samples.size == 0:
            return samples.astype(np.float32)
        seed = int(rng.integers(2**31))
        random.seed(seed)
        np.random.seed(seed)
        samples = samples.astype(np.float32, copy=True)
        # each channel transform's draw; none at channel_p 0, so the recipe's random stream stays as it was
        channel = lambda: self.channel_p > 0 and rng.random() < self.channel_p  # noqa: E731
        if channel():
            samples = vtlp(samples, self.sample_rate, rng)
        if channel():
            samples = room_response(samples, self.sample_rate, rng)
        for transform in self.transforms:
            samples = transform(samples=samples, sample_rate=self.sample_rate)
        if rng.random() < self.p:
            samples = add_echo(samples, self.sample_rate, rng)
        if rng.random() < self.p and samples.size > 1:
            samples = np.roll(samples, int(rng.integers(1, samples.size)))
        if channel():
            samples = codec(samples, self.sample_rate, rng)
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

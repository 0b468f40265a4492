"""Whisper's log-mel features and the logits -> scores rule in numpy alone: the ONNX runtime path runs on them
without torch or transformers, and the PyTorch path takes its scores from here too (one rule for both).

`log_mel` equals transformers' WhisperFeatureExtractor on one unpadded waveform (tests/test_onnx.py checks both
the filter bank and the features): periodic Hann window of 400 samples, hop 160, reflect-padded centred STFT whose
last frame is dropped, Slaney mel filters from 0 to 8 kHz, log10 floored at 1e-10 and at the clip's maximum
minus 8, then (x + 4) / 4. Saved with the model (features.py and the pipeline import it).
"""

import numpy as np

N_FFT, HOP, SAMPLING_RATE = 400, 160, 16000


def _hz_to_mel(hz):
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz < 1000.0, 3.0 * hz / 200.0, 15.0 + 27.0 * np.log(np.maximum(hz, 1e-10) / 1000.0) / np.log(6.4))


def _mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel < 15.0, 200.0 * mel / 3.0, 1000.0 * np.exp(np.log(6.4) * (mel - 15.0) / 27.0))


def mel_filter_bank(num_mel_bins: int = 80) -> np.ndarray:
    """(N_FFT // 2 + 1, num_mel_bins) triangular filters, Slaney-normalized (constant energy per filter)."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLING_RATE / 2), num_mel_bins + 2))
    bins = np.linspace(0, SAMPLING_RATE / 2, N_FFT // 2 + 1)
    slopes = edges[None, :] - bins[:, None]
    widths = np.diff(edges)
    rising, falling = -slopes[:, :-2] / widths[:-1], slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return filters * (2.0 / (edges[2:] - edges[:-2]))[None, :]


def log_mel(wave: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """(num_mel_bins, len(wave) // 160) Whisper log-mel features of one 16 kHz waveform, float32."""
    wave = np.asarray(wave, dtype=np.float64)
    padded = np.pad(wave, N_FFT // 2, mode="reflect")
    count = 1 + (padded.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann, as torch.hann_window
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = filters.T @ power[:-1].T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def scores(logits, emotion_loss: str = "soft_ce") -> np.ndarray:
    """Logits (..., labels) -> float32 scores: sigmoid for a model trained with sigmoid + MSE (independent
    intensities), otherwise a softmax with the maximum subtracted first (large logits do not overflow)."""
    logits = np.asarray(logits, dtype=np.float32)
    if emotion_loss == "sigmoid_mse":
        return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)  # the sigmoid, without overflow
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WHISPER_BASE = SHARED / "models" / "whisper-base-encoder"
CORPORA = SHARED / "corpora"


def save_tiny_whisper(path):
    """A tiny random Whisper checkpoint, its init_std large enough that pitch survives the random conv stem."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, vocab_size=100,
                           max_target_positions=8, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                           decoder_start_token_id=1, init_std=0.2)
    WhisperForConditionalGeneration(config).save_pretrained(path)
    return path


def tiny_config(**overrides):
    from modeling_emotion_whisper import EmotionWhisperConfig

    settings = dict(
        d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
        decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80, vocab_size=100, max_target_positions=8,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )
    settings.update(overrides)
    return EmotionWhisperConfig(**settings)


@pytest.fixture
def tiny_model():
    from modeling_emotion_whisper import WhisperForEmotionClassification

    torch.manual_seed(0)
    return WhisperForEmotionClassification(tiny_config(num_domains=4)).eval()


def synth_speech(seconds=2.0, sr=16000, f0=180.0, seed=0, loudness=0.3):
    """A voiced, vowel-like signal with vibrato and a syllable envelope: cheap stand-in for speech in tests."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 3 * t))
    wave = loudness * envelope * wave / 2 + 0.003 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


@pytest.fixture
def write_audio(tmp_path):
    import soundfile as sf

    def write(relpath, seconds=1.0, sr=16000, seed=0, f0=180.0, channels=1, fmt=None, loudness=0.3):
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        wave = synth_speech(seconds, sr, f0, seed, loudness)
        if channels > 1:
            wave = np.stack([wave] * channels, axis=1)
        sf.write(path, wave, sr, format=fmt)
        return path

    return write


sys.path.insert(0, str(REPO))

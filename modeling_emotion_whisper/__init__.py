"""emotion-whisper: speech emotion recognition with a Whisper encoder, per frame and per clip.

Light on import: torch and transformers load when a model class is first used (`from modeling_emotion_whisper
import WhisperForEmotionClassification`), so the ONNX runtime path (`onnx_backend`, `emotion-whisper predict
--backend onnx`) runs without them. Using the classes registers the model with transformers' Auto classes, so that
`AutoModelForAudioClassification.from_pretrained(folder)` works without `trust_remote_code`; when transformers is
already imported, importing this package registers it at once.
"""

import importlib
import sys

__version__ = "0.1.0"
_EXPORTS = {"EMOTIONS": "configuration_emotion_whisper", "EmotionWhisperConfig": "configuration_emotion_whisper",
            "EmotionWhisperOutput": "modeling_emotion_whisper", "WhisperForEmotionClassification": "modeling_emotion_whisper"}
__all__ = sorted(_EXPORTS)
_registered = False


def register():
    """Register the config and model with transformers' Auto classes (idempotent)."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoModelForAudioClassification

    from .configuration_emotion_whisper import EmotionWhisperConfig
    from .modeling_emotion_whisper import WhisperForEmotionClassification

    AutoConfig.register(EmotionWhisperConfig.model_type, EmotionWhisperConfig, exist_ok=True)
    AutoModelForAudioClassification.register(EmotionWhisperConfig, WhisperForEmotionClassification, exist_ok=True)
    # save_pretrained writes `auto_map` and copies the code for trust_remote_code loading elsewhere.
    EmotionWhisperConfig.register_for_auto_class()
    WhisperForEmotionClassification.register_for_auto_class("AutoModelForAudioClassification")
    _registered = True


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    register()
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


if "transformers" in sys.modules:
    register()

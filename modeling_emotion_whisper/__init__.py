"""emotion-whisper: speech emotion recognition with a Whisper encoder, per frame and per clip.

Importing the package registers the model with transformers' Auto classes, so that
`AutoModelForAudioClassification.from_pretrained(folder)` works without `trust_remote_code` where it is installed.
"""

from transformers import AutoConfig, AutoModelForAudioClassification

from .configuration_emotion_whisper import EMOTIONS, EmotionWhisperConfig
from .modeling_emotion_whisper import EmotionWhisperOutput, WhisperForEmotionClassification

AutoConfig.register(EmotionWhisperConfig.model_type, EmotionWhisperConfig, exist_ok=True)
AutoModelForAudioClassification.register(EmotionWhisperConfig, WhisperForEmotionClassification, exist_ok=True)
# save_pretrained writes `auto_map` and copies the code for trust_remote_code loading elsewhere.
EmotionWhisperConfig.register_for_auto_class()
WhisperForEmotionClassification.register_for_auto_class("AutoModelForAudioClassification")

__version__ = "0.1.0"
__all__ = ["EMOTIONS", "EmotionWhisperConfig", "EmotionWhisperOutput", "WhisperForEmotionClassification"]

"""Configuration of WhisperForEmotionClassification.

Self-contained on purpose (torch and transformers only): this file is copied next to the weights by
`save_pretrained`, so that a folder loads with `trust_remote_code=True` where this package is not installed.
"""

import dataclasses

from transformers import WhisperConfig

# The paper's 8 emotions (Osman et al. 2023, section 2.1), in the fixed order of the released model's head.
EMOTIONS = ("happiness", "sadness", "disgust", "fear", "surprise", "anger", "other", "neutral")

# Every head setting and its default. Recent transformers declare configs as strict dataclasses; earlier releases
# (4.57, 5.0) take keyword arguments, so both forms are defined below and a saved folder loads on either. The keyword
# form reads its defaults from this table; tests/test_modeling.py checks it against the dataclass fields.
HEAD_SETTINGS = {
    "num_domains": 0, "domain_loss_weight": 0.01, "domain_gradient_reversal": True, "freeze_conv_stem": True,
    "emotion_loss": "soft_ce", "classifier_dropout": 0.0, "label_prior": None, "logit_adjustment_tau": 1.0,
    "apply_logit_adjustment": False, "source_feature_mean": None, "source_feature_std": None,
    "layer_weighting": False, "layer_concatenation": False, "frame_head": False, "stream_head": False,
    "trainable_encoder_layers": -1, "feature_standardization": "none", "standardization_momentum": 0.01,
    "training_corpora": None, "input_normalization": "none", "domain_attribute": "speaker",
    "domain_confusion": False,
}
STANDARDIZATION_LEVELS = ("none", "corpus", "speaker")
INPUT_NORMALIZATIONS = ("none", "utterance")
DOMAIN_ATTRIBUTES = ("speaker", "corpus", "language")
# Bounds of the sizes the weights are allocated from, checked when a config is read, before any weight exists: a typo
# or a hostile config.json (encoder_layers 100000) would otherwise spend minutes and gigabytes before failing. Generous
# around Whisper's sizes (large-v3: 32 layers, d_model 1280, 20 heads, ffn 5120, 128 mel bins, 1500 positions).
SIZE_LIMITS = {"encoder_layers": (1, 64), "d_model": (1, 4096), "encoder_attention_heads": (1, 64),
               "encoder_ffn_dim": (1, 16384), "num_mel_bins": (1, 256), "max_source_positions": (1, 1500),
               "num_labels": (1, 1024), "num_domains": (0, 65536)}
MAX_PARAMETERS = 10**9  # 4 GB in float32; Whisper large's encoder has 0.64 billion


def head_input_size(config) -> int:
    """Width of the features the heads read: d_model, or every hidden state side by side with layer_concatenation."""
    return config.d_model * (config.encoder_layers + 1 if config.layer_concatenation else 1)


def parameter_count(config) -> int:
    """About how many parameters the model of `config` has (encoder, heads), known before any is allocated."""
    d, layers = config.d_model, config.encoder_layers
    encoder = 3 * d * (config.num_mel_bins + d) + config.max_source_positions * d
    encoder += layers * (4 * d * d + 2 * d * config.encoder_ffn_dim)
    return encoder + head_input_size(config) * (config.num_labels + config.num_domains)


def _check_sizes(config):
    for name, (low, high) in SIZE_LIMITS.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}: config.json is "
                             "damaged or not an emotion-whisper config")
    ids = sorted(int(key) for key in config.id2label)
    if ids != list(range(len(ids))):
        gaps = sorted(set(range(max(ids) + 1)) - set(ids)) if ids else [0]
        raise ValueError(f"id2label must number the labels 0 to {len(ids) - 1} without gaps; label ids {gaps} are "
                         "missing: fix id2label in config.json")
    if parameter_count(config) > MAX_PARAMETERS:
        raise ValueError(f"this config describes about {parameter_count(config) / 1e9:.1f} billion parameters, more "
                         f"than the {MAX_PARAMETERS / 1e9:g} billion an emotion-whisper model may have: config.json is "
                         "damaged or not an emotion-whisper config")


def _check(config):
    _check_sizes(config)
    if config.layer_weighting and config.layer_concatenation:
        raise ValueError("layer_weighting and layer_concatenation exclude each other: the heads read either a weighted "
                         "sum of the hidden states or all of them side by side")
    if config.trainable_encoder_layers < -1 or config.trainable_encoder_layers > config.encoder_layers:
        raise ValueError(f"trainable_encoder_layers must be -1 (all), 0 (frozen) or at most {config.encoder_layers}, "
                         f"got {config.trainable_encoder_layers}")
    if config.feature_standardization not in STANDARDIZATION_LEVELS:
        raise ValueError(f"feature_standardization must be one of {STANDARDIZATION_LEVELS}, "
                         f"got {config.feature_standardization!r}")
    if config.input_normalization not in INPUT_NORMALIZATIONS:
        raise ValueError(f"input_normalization must be one of {INPUT_NORMALIZATIONS}, "
                         f"got {config.input_normalization!r}")
    if config.domain_confusion and not config.domain_gradient_reversal:
        raise ValueError("domain_confusion replaces the gradient reversal; domain_gradient_reversal False trains a "
                         "plain domain probe: set one of the two")
    if config.domain_attribute not in DOMAIN_ATTRIBUTES:
        raise ValueError(f"domain_attribute must be one of {DOMAIN_ATTRIBUTES}, got {config.domain_attribute!r}")
    if not 0 < config.standardization_momentum <= 1:
        raise ValueError(f"standardization_momentum must be in (0, 1], got {config.standardization_momentum}")
    if config.emotion_loss not in ("soft_ce", "sigmoid_mse"):
        raise ValueError(f"emotion_loss must be 'soft_ce' or 'sigmoid_mse', got {config.emotion_loss!r}")
    if config.label_prior is not None:
        if len(config.label_prior) != config.num_labels:
            raise ValueError(
                f"label_prior has {len(config.label_prior)} entries but the head has {config.num_labels} labels"
            )
        if min(config.label_prior) < 0 or sum(config.label_prior) <= 0:
            raise ValueError("label_prior must be non-negative and sum to a positive number")


def _with_label_map(config, diff: dict) -> dict:
    # transformers leaves a label map equal to its own default (LABEL_0, LABEL_1) out of the saved file, and a file
    # without one reads as the 8 emotions here: a binary head would reload as 8 classes and fail to load its weights.
    id2label = {int(key): name for key, name in config.id2label.items()}
    diff["id2label"] = id2label
    diff["label2id"] = dict(config.label2id) if config.label2id else {name: i for i, name in id2label.items()}
    return diff


_DOC = """
A [`WhisperConfig`] (only its encoder settings are used) plus every setting of the emotion and domain heads,
so that `from_pretrained` rebuilds the whole model from this file.

id2label / label2id (defaults to the paper's 8 emotions):
    Emotion classes of the per-frame head: happiness, sadness, disgust, fear, surprise, anger, other, neutral.
    Pass `id2label` (or `num_labels`) for another label set, e.g. the 9 Hume-Prosody classes.
num_domains (`int`, defaults to 0):
    Size of the domain vocabulary (dataset x speaker x language). 0 means no domain head.
domain_confusion (`bool`, defaults to False):
    Instead of reversing the domain loss's gradient, train the encoder to make the domain head's posterior uniform
    (cross-entropy to the uniform distribution through the head's weights held fixed; Tzeng et al. 2015), while the
    head learns the domains on features it cannot move. Under reversal an encoder can make the head confidently
    wrong, a relabelling a fresh probe reads at once (docs/history.md 6c); a uniform posterior cannot be reached
    that way. The loss adds domain_loss_weight x (the head's cross-entropy + the confusion term).
domain_attribute (`str`, defaults to "speaker"):
    What the domain head's classes are (train.py --domain_attribute): "speaker" (the build's domains, corpus x
    speaker x language: the paper's), "corpus" or "language". Recorded so that training continued onto another
    attribute starts a new domain head even when the class counts agree.
domain_loss_weight (`float`, defaults to 0.01):
    w_d in L = CE_emo - w_d * CE_dom (paper 2.6).
domain_gradient_reversal (`bool`, defaults to True):
    Put the domain head behind a gradient-reversal layer. False trains a plain domain probe (diagnostics).
freeze_conv_stem (`bool`, defaults to True):
    Freeze the two convolutions in front of the transformer (paper 2.5).
emotion_loss (`str`, defaults to "soft_ce"):
    "soft_ce": softmax cross-entropy against soft labels (probability vectors) or class ids.
    "sigmoid_mse": independent sigmoid outputs and mean squared error (Hume-Prosody regression, paper 3.2).
classifier_dropout (`float`, defaults to 0.0):
    Dropout on the encoder output before the heads.
label_prior (`list[float]`, *optional*):
    Class prior of the training data, for logit adjustment (Menon et al. 2021; paper 3.1).
logit_adjustment_tau (`float`, defaults to 1.0):
    Temperature of the adjustment: logits - tau * log(prior).
apply_logit_adjustment (`bool`, defaults to False):
    Apply the adjustment to returned logits at inference by default (the forward can override it).
layer_weighting (`bool`, defaults to False):
    Feed both heads a learned softmax-weighted sum of every encoder hidden state (input embedding, each layer, the
    final output), per frame (SUPERB-style), instead of the last layer alone. The weights start uniform.
layer_concatenation (`bool`, defaults to False):
    Feed both heads every hidden state side by side ((encoder_layers + 1) x d_model per frame, the final output in
    place of the last), as the linear-probe baseline reads them. Excludes layer_weighting.
frame_head (`bool`, defaults to False):
    Score frames with a separate linear head on the final encoder output (d_model), unstandardized, while clips are
    scored by `emotion_head`. A head refit (head_fit.probe_layout) keeps the fine-tuned per-frame head here: the probe
    is fitted on clip means, and applied to single frames its large weights turn frame noise into label flicker.
stream_head (`bool`, defaults to False):
    A second linear head on the final encoder output for the live stream (streaming.EmotionStream), whose frames are
    the newest of a window of a few seconds with no audio after them, where `frame_head` was trained on frames with
    seconds on both sides. Fitted after training on such frames (head_fit.fit_stream_head; train.py
    --fit_stream_head) for no lookahead, which is where EmotionStream reads it; returned as `stream_logits`.
    Training that changes the encoder or the labels drops it (train.py, finetune_hume.py, few-shot adaptation).
trainable_encoder_layers (`int`, defaults to -1):
    How much of the encoder trains: -1 all of it (the paper), 0 none (a frozen encoder: only the heads and layer
    weights learn), k the top k transformer layers (and the final layer norm).
feature_standardization (`str`, defaults to "none"):
    Standardize the features that feed the heads per domain: "speaker" or "corpus" z-scores every frame with the
    mean/std of the pooled clip features of its group (statistics from the group's unlabeled clips). In training the
    group statistics are set by `set_group_statistics` and tracked as the encoder learns; at inference they come
    from a group of inputs (`set_adaptation`, adaptation.estimate("feature", ...)), and a single clip falls back to
    source_feature_mean/std. "none": the heads read the features as they are (the paper).
standardization_momentum (`float`, defaults to 0.01):
    Per-clip weight of the running update of a group's statistics in training (a group's n clips in a batch move
    them by 1 - (1 - momentum)^n).
input_normalization (`str`, defaults to "none"):
    "utterance": before the encoder, each mel bin of a clip's log-mel is shifted so that its mean over the clip's
    valid frames equals the clip's mean over all bins (cepstral mean normalization in the log-mel domain): a fixed
    microphone or channel colouring, a filter that multiplies the spectrum, is an offset per bin and is removed, and
    the clip's level is kept. Every packed clip (segment_ids) is normalized on its own frames, a clip longer than 30 s
    per window. "none": Whisper's features as they are (the paper).
training_corpora (`dict[str, float]`, *optional*):
    The corpora the model was trained on and the hours of training audio from each (set by train.py). The model
    card lists them with their licences; fine-tuning on other data does not update it.
training_corpus_cards (`dict[str, dict]`, *optional*):
    Title, language and licence of each registered training corpus (set by train.py from the corpus registry), so
    that the model card needs nothing but the model. Not a constructor argument: kept as an extra config attribute.
source_feature_mean / source_feature_std (`list[float]`, *optional*):
    Mean and standard deviation of the pooled encoder features on held-out source-domain clips, measured after
    training. Unsupervised adaptation to a new domain maps that domain's statistics onto these; a standardizing
    model z-scores a clip with them when no group statistics are given.
"""

if dataclasses.is_dataclass(WhisperConfig):
    from huggingface_hub.dataclasses import strict

    @strict
    class EmotionWhisperConfig(WhisperConfig):
        __doc__ = _DOC
        model_type = "emotion_whisper"

        num_domains: int = 0
        domain_loss_weight: float = 0.01
        domain_gradient_reversal: bool = True
        freeze_conv_stem: bool = True
        emotion_loss: str = "soft_ce"
        classifier_dropout: float | int = 0.0
        label_prior: list[float] | None = None
        logit_adjustment_tau: float | int = 1.0
        apply_logit_adjustment: bool = False
        source_feature_mean: list[float] | None = None
        source_feature_std: list[float] | None = None
        layer_weighting: bool = False
        layer_concatenation: bool = False
        frame_head: bool = False
        stream_head: bool = False
        trainable_encoder_layers: int = -1
        feature_standardization: str = "none"
        standardization_momentum: float = 0.01
        training_corpora: dict[str, float] | None = None
        input_normalization: str = "none"
        domain_attribute: str = "speaker"
        domain_confusion: bool = False

        def __post_init__(self, **kwargs):
            if self.id2label is None and kwargs.get("num_labels") is None:
                self.id2label = dict(enumerate(EMOTIONS))
                self.label2id = {name: i for i, name in enumerate(EMOTIONS)}
            super().__post_init__(**kwargs)
            _check(self)

        def to_diff_dict(self):
            return _with_label_map(self, super().to_diff_dict())

else:  # transformers with keyword-argument configs

    class EmotionWhisperConfig(WhisperConfig):
        __doc__ = _DOC
        model_type = "emotion_whisper"

        def __init__(self, **kwargs):
            if kwargs.get("id2label") is None and kwargs.get("num_labels") is None:
                kwargs["id2label"] = dict(enumerate(EMOTIONS))
                kwargs["label2id"] = {name: i for i, name in enumerate(EMOTIONS)}
            settings = {name: kwargs.pop(name, default) for name, default in HEAD_SETTINGS.items()}
            super().__init__(**kwargs)
            for name, value in settings.items():
                setattr(self, name, value)
            _check(self)

        def to_diff_dict(self):
            return _with_label_map(self, super().to_diff_dict())


__all__ = ["EMOTIONS", "INPUT_NORMALIZATIONS", "STANDARDIZATION_LEVELS", "EmotionWhisperConfig", "head_input_size"]

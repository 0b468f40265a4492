"""WhisperForEmotionClassification: a Whisper encoder with a per-frame emotion head and an adversarial domain head.

Osman, Nadeem, Khoriba (2023), "Towards Generalizable SER", sections 2.5 and 2.6. Self-contained on purpose (torch
and transformers only): `save_pretrained` copies this file and the configuration next to the weights, so a saved
folder loads with `trust_remote_code=True` on a machine without this package.

Why the encoder forward is our own: transformers' WhisperEncoder accepts exactly 3000 mel frames and ignores the
attention mask. Here the position table is sliced to the input, padded frames are zeroed before and between the
two convolutions and masked in attention, and pooling runs over valid frames only. A clip therefore gives the same
logits alone or padded to 30 s, and a 3 s clip costs 3 s of compute.
"""

import inspect
import os
import shutil
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel, WhisperFeatureExtractor
from transformers.dynamic_module_utils import get_relative_import_files
from transformers.models.whisper.modeling_whisper import WhisperEncoder, WhisperEncoderLayer, sinusoids
from transformers.utils import ModelOutput
from transformers.utils import logging as transformers_logging

from .configuration_emotion_whisper import EmotionWhisperConfig, head_input_size

try:
    from transformers import initialization as _init
except ImportError:  # transformers 4.x
    class _init:  # noqa: N801
        normal_ = staticmethod(lambda tensor, mean=0.0, std=1.0: tensor.normal_(mean, std))
        zeros_ = staticmethod(lambda tensor: tensor.zero_())
        copy_ = staticmethod(lambda tensor, other: tensor.copy_(other))

_TAKES_HEAD_MASK = "layer_head_mask" in inspect.signature(WhisperEncoderLayer.forward).parameters
# Keys of the parts a caller may replace on purpose (ignore_mismatched_sizes=True): the heads and the layer weights.
_HEAD_KEYS = ("emotion_head.", "domain_head.", "frame_head.", "stream_head.", "layer_weights")


def _is_tracing() -> bool:
    """torch.export, torch.compile or torch.jit tracing: shapes must not depend on tensor values there."""
    compiler = getattr(torch, "compiler", None)
    return bool(torch.jit.is_tracing()
                or getattr(compiler, "is_exporting", lambda: False)()
                or getattr(compiler, "is_compiling", lambda: False)())


def _refuse_unfitting_weights(source, config, info: dict, heads_may_change: bool):
    """Raise if loading left parameters random or dropped trained ones. transformers only logs this, and a model
    with a random encoder layer or head still answers, just wrongly."""
    # 4.x reports lists, 5.x sets; mismatched entries are (key, shape in the checkpoint, shape in the model)
    problems = {
        "missing (left random)": set(info.get("missing_keys") or ()),
        "unexpected (dropped)": set(info.get("unexpected_keys") or ()),
        "resized (left random)": {entry[0] for entry in info.get("mismatched_keys") or ()},
    }
    if heads_may_change:
        problems = {kind: {k for k in keys if not k.startswith(_HEAD_KEYS)} for kind, keys in problems.items()}
    if not any(problems.values()):
        return
    lines = []
    for kind, keys in problems.items():
        if keys:
            shown = ", ".join(sorted(keys)[:6]) + (f", ... ({len(keys)} in all)" if len(keys) > 6 else "")
            lines.append(f"{kind}: {shown}")

    def layers(keys):
        return {int(k.split(".")[2]) for k in keys if k.startswith("encoder.layers.") and k.split(".")[2].isdigit()}

    missing_layers, extra_layers = layers(problems["missing (left random)"]), layers(problems["unexpected (dropped)"])
    if missing_layers or extra_layers:
        held = (set(range(config.encoder_layers)) - missing_layers) | extra_layers
        lines.append(f"config.json says encoder_layers={config.encoder_layers}; the weights hold {len(held)} layers")
    # one line (the command line prints it as its error line), naming every kind of misfit
    raise ValueError(
        f"{source}: the weights do not fit the model its config describes: " + "; ".join(lines) + ". "
        "Make config.json describe the weights (e.g. its encoder_layers, num_domains, frame_head), or save the folder "
        "again from the model it came from. To start new heads on a trained encoder on purpose (another label set, "
        "a new domain or frame head), pass ignore_mismatched_sizes=True; to start from a Whisper checkpoint, use "
        "WhisperForEmotionClassification.from_whisper."
    )

# Files saved next to the weights besides configuration and modeling (see `save_pretrained`).
PIPELINE_FILE = "pipeline_emotion_whisper.py"
PIPELINE_CLASS = "EmotionAudioClassificationPipeline"
MAX_MEL_FRAMES = 3000  # 30 s at 100 mel frames per second; the position table holds 1500 encoder frames


@dataclass
class EmotionWhisperOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, returned when `labels` or `domain_labels` are given):
            emotion_loss + domain_loss_weight * domain_loss (the reversal layer turns the second term into gradient
            ascent for the encoder), plus domain_loss_weight times the confusion term with `config.domain_confusion`.
        logits (`torch.FloatTensor` of shape `(batch, num_labels)`):
            Clip-level emotion logits: the emotion head on the features averaged over valid (unpadded) frames, i.e.
            the frame logits averaged, unless `config.frame_head` gives frames a head of their own.
        frame_logits (`torch.FloatTensor` of shape `(batch, frames, num_labels)`):
            Emotion logits of every encoder frame (50 per second of audio).
        stream_logits (`torch.FloatTensor` of shape `(batch, frames, num_labels)`, when `config.stream_head` is set):
            Frame logits from the stream head, for frames at the newest end of a short window (the live stream).
        frame_mask (`torch.BoolTensor` of shape `(batch, frames)`):
            True where a frame holds audio, False on padding.
        pooled_features (`torch.FloatTensor` of shape `(batch, head_input_size)`):
            Encoder output (layer-weighted or concatenated, if so configured; head_input_size is d_model or
            (encoder_layers + 1) x d_model) averaged over valid frames, before any standardization
            or adaptation: the clip logits are an affine function of it, and adaptation statistics are taken on it.
        segment_logits (`torch.FloatTensor` of shape `(num_segments, num_labels)`, when `segment_ids` are given):
            One pooled row per segment, ordered by batch row, then by segment id (1, 2, ...).
        domain_logits (`torch.FloatTensor` of shape `(num_segments or batch, num_domains)`, when a domain head exists):
            Domain logits of each segment (or each clip when there are no segment ids).
        emotion_loss, domain_loss (`torch.FloatTensor` of shape `()`, when their labels are given).
        frame_loss (`torch.FloatTensor` of shape `()`, when `labels` are given and `config.frame_head` is set):
            The same emotion loss for the frame head's scores of each segment (or clip): the frame head of a refitted
            model is trained on every path that changes the encoder, so that timelines agree with clip scores.
            Included in `emotion_loss` and `loss`.
        hidden_states (`tuple(torch.FloatTensor)`, when `output_hidden_states=True`):
            Input embeddings and the output of every encoder layer, each `(batch, frames, d_model)`.
        attentions (`tuple(torch.FloatTensor)`, when `output_attentions=True` and attention is "eager"):
            Attention weights of every encoder layer after the softmax, each `(batch, heads, frames, frames)`;
            padded frames get weight 0. Other attention implementations compute no weights (transformers warns and
            leaves this None).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    frame_logits: torch.FloatTensor | None = None
    frame_mask: torch.BoolTensor | None = None
    stream_logits: torch.FloatTensor | None = None
    pooled_features: torch.FloatTensor | None = None
    segment_logits: torch.FloatTensor | None = None
    domain_logits: torch.FloatTensor | None = None
    emotion_loss: torch.FloatTensor | None = None
    domain_loss: torch.FloatTensor | None = None
    frame_loss: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -grad_output


def grad_reverse(x: torch.Tensor) -> torch.Tensor:
    """Identity forward, negated gradient backward (Ganin et al. 2016)."""
    return _GradientReversal.apply(x)


class EmotionWhisperPreTrainedModel(PreTrainedModel):
    config_class = EmotionWhisperConfig
    config: EmotionWhisperConfig
    base_model_prefix = "emotion_whisper"
    main_input_name = "input_features"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["WhisperEncoderLayer"]
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module):
        # transformers' guarded initializers leave weights that loading already filled alone (5.x calls this after
        # loading); older releases never call it on loaded weights, so plain in-place fills are right there.
        if isinstance(module, nn.Linear):
            _init.normal_(module.weight, mean=0.0, std=self.config.init_std)
            if module.bias is not None:
                _init.zeros_(module.bias)
        elif isinstance(module, WhisperEncoder):  # Whisper's fixed sinusoidal position table
            _init.copy_(module.embed_positions.weight, sinusoids(*module.embed_positions.weight.shape))
        elif getattr(module, "layer_weights", None) is not None:  # uniform over the hidden states
            _init.zeros_(module.layer_weights)


class WhisperForEmotionClassification(EmotionWhisperPreTrainedModel):
    r"""
    Whisper encoder, then one linear emotion head applied to every encoder frame (50 per second), and one linear
    domain head behind a gradient-reversal layer.

    The paper writes the loss as L = CE_emo - w_d * CE_dom (w_d = `config.domain_loss_weight`, 0.01). This model
    computes L = CE_emo + w_d * CE_dom with the reversal layer between the pooled encoder features and the domain
    head: the domain head receives +w_d * dCE_dom, so it keeps learning to classify domains, while every encoder
    weight receives exactly -w_d * dCE_dom, the gradient of the paper's loss. The encoder thus ascends the domain loss
    and unlearns speaker, corpus and language.
    """

    def __init__(self, config: EmotionWhisperConfig):
        super().__init__(config)
        self.encoder = WhisperEncoder(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.head_input_size = head_input_size(config)
        self.emotion_head = nn.Linear(self.head_input_size, config.num_labels)
        self.domain_head = nn.Linear(self.head_input_size, config.num_domains) if config.num_domains > 0 else None
        self.frame_head = nn.Linear(config.d_model, config.num_labels) if config.frame_head else None
        # fitted after training (head_fit.fit_stream_head), not trained: no loss reaches it, and train.py drops it
        # when training changes the encoder under it
        streams = getattr(config, "stream_head", False)
        self.stream_head = nn.Linear(config.d_model, config.num_labels) if streams else None
        # one weight per hidden state (input embedding, each layer) plus the final output, softmax-normalized
        self.layer_weights = nn.Parameter(torch.zeros(config.encoder_layers + 1)) if config.layer_weighting else None
        self.adaptation = None  # unsupervised domain adaptation, see set_adaptation
        # Training statistics of feature standardization (set_group_statistics). Plain attributes, not buffers: they
        # are recomputed when a run starts or resumes and mean nothing to a saved model.
        self.group_mean = self.group_var = self.group_of_domain = None
        self.post_init()
        self.apply_freezing()

    def resize_domain_head(self, num_domains: int):
        """A new, randomly initialized domain head for `num_domains` domains (0: none), recorded in the config."""
        self.config.num_domains = int(num_domains)
        head = nn.Linear(self.head_input_size, num_domains) if num_domains > 0 else None
        if head is not None:
            self._init_weights(head)
            head.to(self.emotion_head.weight.device, self.emotion_head.weight.dtype)
        self.domain_head = head

    def set_adaptation(self, adaptation: dict | None):
        """Unsupervised adaptation to a target domain, applied in every forward until cleared with None:
        `feature_scale`/`feature_shift` (head_input_size) map the encoder output affinely before the heads;
        `logit_shift` (num_labels) is added to the emotion logits; `target_prior` (num_labels) marks a prior
        adaptation, whose shift already replaced the training prior, so forward adjusts no logits while it is set.
        See modeling_emotion_whisper.adaptation."""
        self.adaptation = None if adaptation is None else self.adaptation_tensors(adaptation)

    def adaptation_tensors(self, adaptation) -> dict:
        """An adaptation (see set_adaptation) checked and as tensors, for `forward(adaptation=...)`, which applies it
        to that call alone and leaves the model as it is; "none" is {}: no adaptation, whatever the model holds."""
        if isinstance(adaptation, str) and adaptation == "none":
            return {}
        known = {"feature_scale", "feature_shift", "logit_shift", "target_prior"}
        tensors = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in adaptation.items() if k in known}
        sizes = {"feature_scale": self.head_input_size, "feature_shift": self.head_input_size,
                 "logit_shift": self.config.num_labels, "target_prior": self.config.num_labels}
        if "target_prior" in tensors and "logit_shift" not in tensors:
            raise ValueError("a prior adaptation (target_prior) needs its logit_shift: estimate it with "
                             "modeling_emotion_whisper.adaptation.estimate('prior', ...)")
        for key, value in tensors.items():
            if value.shape != (sizes[key],):
                raise ValueError(f"adaptation {key} has shape {tuple(value.shape)}, expected ({sizes[key]},)")
        return tensors

    def set_group_statistics(self, mean, var, group_of_domain):
        """Training statistics of feature standardization: `mean` and `var` (groups, head_input_size) of the pooled
        clip features of each group (a speaker or a corpus), and `group_of_domain` (num_domains,) the group of each
        domain id. Training forwards standardize every packed clip with its group's statistics and update them with
        `config.standardization_momentum` as the encoder learns. None clears them."""
        if mean is None:
            self.group_mean = self.group_var = self.group_of_domain = None
            return
        device = self.emotion_head.weight.device
        self.group_mean = torch.as_tensor(mean, dtype=torch.float32).to(device).clone()
        self.group_var = torch.as_tensor(var, dtype=torch.float32).to(device).clone()
        self.group_of_domain = torch.as_tensor(group_of_domain, dtype=torch.long).to(device)
        if self.group_mean.shape != self.group_var.shape or self.group_mean.shape[-1] != self.head_input_size:
            raise ValueError(f"group statistics must both be (groups, {self.head_input_size}), got "
                             f"{tuple(self.group_mean.shape)} and {tuple(self.group_var.shape)}")

    def standardization_statistics(self):
        """Mean and std (head_input_size,) a standardizing model uses without group statistics: the source statistics saved
        in the config, else (during training) the average of the groups' statistics."""
        if self.config.source_feature_mean is not None and self.config.source_feature_std is not None:
            mean = torch.tensor(self.config.source_feature_mean, dtype=torch.float32)
            std = torch.tensor(self.config.source_feature_std, dtype=torch.float32)
        elif self.group_mean is not None:
            mean, std = self.group_mean.mean(0), self.group_var.mean(0).sqrt()
        else:
            raise ValueError("this model standardizes its features per domain (feature_standardization="
                             f"{self.config.feature_standardization!r}) but holds no statistics yet: train it with "
                             "train.py, which stores them, or call set_group_statistics / set_adaptation first")
        device = self.emotion_head.weight.device
        return mean.to(device), std.clamp(min=1e-5).to(device)

    def head_input(self, hidden, frame_segments=None, domain_labels=None, adaptation=None):
        """What the emotion head reads, from encoder output `hidden` (..., head_input_size): an adaptation's affine
        map (statistics of a group of inputs), else the model's own standardization, else `hidden` itself. Outside
        training every map is affine per dimension, so applying it to pooled features equals pooling the mapped frames:
        code that trains the head on cached pooled features (few-shot) feeds it exactly what `forward` does.
        `adaptation`: tensors of `adaptation_tensors` ({} for none), else the model's own (`set_adaptation`)."""
        adaptation = self.adaptation if adaptation is None else adaptation
        if adaptation is not None and "feature_scale" in adaptation:
            return hidden * adaptation["feature_scale"].to(hidden) + adaptation["feature_shift"].to(hidden)
        if self.config.feature_standardization != "none":
            return self._standardize(hidden, frame_segments, domain_labels)
        return hidden

    def _standardize(self, hidden, frame_segments, domain_labels):
        """z-score every frame: in training with its packed clip's group statistics (tracked afterwards), otherwise
        with `standardization_statistics()`."""
        if self.training and self.group_mean is not None and frame_segments is not None and domain_labels is not None:
            groups = self.group_of_domain[domain_labels.to(self.group_of_domain.device).clamp(min=0)]
            per_row = frame_segments.max(dim=1).values.clamp(min=0)
            offsets = torch.cumsum(per_row, 0) - per_row  # the segment order of _pool_segments
            frame_groups = groups[(offsets[:, None] + frame_segments - 1).clamp(min=0)]
            mean, std = self.group_mean[frame_groups], (self.group_var[frame_groups] + 1e-5).sqrt()
            standardized = ((hidden.float() - mean) / std).to(hidden.dtype)
            self._track_groups(self._pool_segments(hidden.detach().float(), frame_segments), groups)
            return standardized
        mean, std = self.standardization_statistics()
        return ((hidden.float() - mean) / std).to(hidden.dtype)

    @torch.no_grad()
    def _track_groups(self, pooled, groups):
        """Running update of each group's mean and variance from its clips in this batch: under torch.distributed
        (world size > 1), from the clips of every rank's batch, so that all ranks keep identical statistics; each rank
        updating from its own clips alone let them drift apart (issue 30.5). Every rank calls this once per training
        forward, in step (DDP runs the same number of forwards everywhere), as the collectives need."""
        count = torch.zeros(self.group_mean.shape[0], device=pooled.device).index_add_(
            0, groups, torch.ones_like(groups, dtype=torch.float32))
        sums = torch.zeros_like(self.group_mean).index_add_(0, groups, pooled)
        distributed = (torch.distributed.is_available() and torch.distributed.is_initialized()
                       and torch.distributed.get_world_size() > 1)
        if distributed:
            torch.distributed.all_reduce(count)
        present = count > 0
        # only the groups some rank saw travel: all of them would be groups x head_input_size x 2 floats every step
        moments = torch.cat([sums[present], torch.zeros_like(self.group_mean).index_add_(
            0, groups, pooled * pooled)[present]], dim=1)
        if distributed:
            torch.distributed.all_reduce(moments)
        n = count[present][:, None]
        batch_mean, batch_square = (moments / n).split(self.group_mean.shape[1], dim=1)
        rate = 1 - (1 - self.config.standardization_momentum) ** n
        old_mean = self.group_mean[present]
        mean = (1 - rate) * old_mean + rate * batch_mean
        square = (1 - rate) * (self.group_var[present] + old_mean * old_mean) + rate * batch_square
        self.group_mean[present] = mean
        self.group_var[present] = (square - mean * mean).clamp(min=1e-6)

    def get_input_embeddings(self) -> nn.Module:
        # Whisper's encoder names its first convolution its input embedding (hooks such as
        # enable_input_require_grads attach there)
        return self.encoder.conv1

    def set_input_embeddings(self, value: nn.Module):
        self.encoder.conv1 = value

    def freeze_conv_stem(self):
        """Stop gradients into the two input convolutions (paper 2.5)."""
        for module in (self.encoder.conv1, self.encoder.conv2):
            module.requires_grad_(False)

    def apply_freezing(self):
        """What the config says trains: the conv stem (freeze_conv_stem) and the encoder depth
        (trainable_encoder_layers: -1 all, 0 none, k the top k layers and the final layer norm)."""
        # Whisper's position table is fixed sinusoids (its encoder freezes it at construction; loading unfreezes it)
        self.encoder.embed_positions.requires_grad_(False)
        k = self.config.trainable_encoder_layers
        if self.config.freeze_conv_stem or k >= 0:
            self.freeze_conv_stem()
        if k >= 0:
            layers = self.encoder.layers
            for layer in layers[: len(layers) - k]:
                layer.requires_grad_(False)
            if k == 0:
                self.encoder.layer_norm.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """transformers' `from_pretrained`, except that weights which do not fit the config are refused: a
        missing or extra encoder layer always, a missing, extra or resized head unless `ignore_mismatched_sizes=True`
        (the way to start new heads on a trained encoder on purpose)."""
        wants_info = kwargs.pop("output_loading_info", False)
        heads_may_change = kwargs.pop("ignore_mismatched_sizes", False)
        # Weights from safetensors only: a pickle (pytorch_model.bin) can run code when it is read.
        kwargs.setdefault("use_safetensors", True)
        # A resized weight is loaded (left random) and then refused below with its name, where transformers would
        # stop with a generic message after a table; the table only repeats what the refusal says.
        verbosity = transformers_logging.get_verbosity()
        if not heads_may_change:
            transformers_logging.set_verbosity_error()
        try:
            model, info = super().from_pretrained(*args, output_loading_info=True, ignore_mismatched_sizes=True,
                                                  **kwargs)
        finally:
            transformers_logging.set_verbosity(verbosity)
        source = args[0] if args else kwargs.get("pretrained_model_name_or_path")
        _refuse_unfitting_weights(source, model.config, info, heads_may_change=heads_may_change)
        model.apply_freezing()  # loading replaces the parameters, and with them requires_grad
        return (model, info) if wants_info else model

    @classmethod
    def from_whisper(cls, name_or_path: str, revision: str | None = None, token=None, **config_overrides):
        """Build the model from any Whisper checkpoint (a Hub id such as `openai/whisper-medium`, or a folder),
        copying the encoder weights and nothing else. Heads start random; `config_overrides` set head options,
        e.g. `num_domains=...` or `id2label=...`."""
        from transformers import WhisperConfig, WhisperForAudioClassification

        whisper_config = WhisperConfig.from_pretrained(name_or_path, revision=revision, token=token)
        settings = whisper_config.to_dict()
        for key in ("model_type", "architectures", "auto_map", "id2label", "label2id", "transformers_version",
                    "dtype", "torch_dtype", "_name_or_path", "problem_type"):
            settings.pop(key, None)
        settings.update(config_overrides)
        model = cls(EmotionWhisperConfig(**settings))
        # WhisperForAudioClassification holds only an encoder, so the decoder of a full checkpoint is never loaded.
        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()  # its own head is "missing" by design; the report only confuses
        try:
            source = WhisperForAudioClassification.from_pretrained(
                name_or_path, revision=revision, token=token, dtype=torch.float32, use_safetensors=True
            )
        finally:
            transformers_logging.set_verbosity(verbosity)
        model.encoder.load_state_dict(source.encoder.state_dict(), strict=True)
        model.config._name_or_path = str(name_or_path)
        model.config.base_model = str(name_or_path)
        return model

    def _encode(self, input_features, mel_mask, output_hidden_states, output_attentions=False):
        """Masked Whisper encoder. mel_mask: (batch, mel_frames) bool. Returns hidden (batch, frames, d_model),
        frame mask (batch, frames), the tuple of hidden states and the tuple of attention weights (None unless
        asked for and computed: sdpa computes none)."""
        enc = self.encoder
        input_features = input_features.to(enc.conv1.weight.dtype)
        keep = mel_mask[:, None, :].to(input_features.dtype)
        # Zeroing padded mel frames before each convolution makes a clip's valid frames independent of whatever
        # follows it: the convolutions then see exactly the zero padding they see on an unpadded clip.
        x = nn.functional.gelu(enc.conv1(input_features * keep)) * keep
        x = nn.functional.gelu(enc.conv2(x)).permute(0, 2, 1)
        frame_mask = mel_mask[:, ::2]
        n_frames = x.shape[1]
        x = x + enc.embed_positions.weight[:n_frames]
        x = nn.functional.dropout(x, p=enc.dropout, training=self.training)

        additive = torch.zeros(frame_mask.shape, dtype=x.dtype, device=x.device)
        additive = additive.masked_fill(~frame_mask, torch.finfo(x.dtype).min)[:, None, None, :]
        additive = additive.expand(-1, 1, n_frames, n_frames)
        hidden_states = (x,) if output_hidden_states else None
        attentions = () if output_attentions else None
        # transformers 4.x layers take a head mask; every release passes output_attentions on to the attention module
        layer_kwargs = {"layer_head_mask": None} if _TAKES_HEAD_MASK else {}
        if output_attentions:
            layer_kwargs["output_attentions"] = True
        for layer in enc.layers:
            weights = []
            if not (self.training and enc.layerdrop > 0 and torch.rand([]) < enc.layerdrop):
                # Releases before ~5.6 return (hidden, attentions), later ones the hidden states alone: the weights
                # are read where every release has them, as the second output of the layer's attention module.
                hook = (layer.self_attn.register_forward_hook(lambda module, args, out: weights.append(out[1]))
                        if output_attentions else None)
                try:
                    out = layer(x, additive, **layer_kwargs)
                finally:
                    if hook is not None:
                        hook.remove()
                x = out[0] if isinstance(out, tuple) else out
            if output_hidden_states:  # a dropped layer passes its input on: one state per layer, always
                hidden_states = hidden_states + (x,)
            if output_attentions:  # a dropped layer attends nowhere: None in its place, as transformers 4.x did
                attentions = attentions + (weights[0] if weights else None,)
        if attentions is not None and all(layer_weights is None for layer_weights in attentions):
            attentions = None  # an implementation without weights (sdpa); transformers has warned about it
        return enc.layer_norm(x), frame_mask, hidden_states, attentions

    @staticmethod
    def _normalize_input(input_features, mel_mask, segment_ids=None):
        """config.input_normalization "utterance": every clip's per-bin log-mel mean over its own valid frames moved
        to the clip's mean over all bins (a channel's colouring removed, the level kept); padding is left as it is.
        The clips are the rows (mel_mask) or, in packed training windows, the segments."""
        with torch.autocast(device_type=input_features.device.type, enabled=False):  # float32 sums of features
            x = input_features.float()
            if segment_ids is None:  # one clip per row (and no data-dependent size for the ONNX tracer)
                members = mel_mask[..., None].to(x.dtype)
            else:  # (batch, mel_frames, clips); segment 0 is padding
                members = nn.functional.one_hot(segment_ids, int(segment_ids.max()) + 1)[..., 1:].to(x.dtype)
            per_bin = torch.einsum("bmt,btc->bmc", x, members) / members.sum(1)[:, None, :].clamp(min=1)
            shift = per_bin - per_bin.mean(1, keepdim=True)
            return (x - torch.einsum("bmc,btc->bmt", shift, members)).to(input_features.dtype)

    @staticmethod
    def _mean_over_frames(x, frame_mask):
        """Mean of `x` (batch, frames, dim) over each row's valid frames, summed in float32 and rounded once: in bf16
        the frame count itself rounds (501 frames counted as 500), which scaled the refit's bf16 features of a clip by
        its length, unlike fp32 inference."""
        weights = frame_mask.to(torch.float32)[..., None]
        return ((x.float() * weights).sum(1) / weights.sum(1).clamp(min=1)).to(x.dtype)

    @staticmethod
    def _pool_segments(hidden, frame_segments):
        """Mean of `hidden` (batch, frames, dim) over each segment id > 0. Returns (num_segments, dim), ordered by
        batch row and then segment id."""
        per_row = frame_segments.max(dim=1).values.clamp(min=0)
        offsets = torch.cumsum(per_row, 0) - per_row
        total = int(per_row.sum())
        flat_ids = (offsets[:, None] + frame_segments - 1).reshape(-1)
        valid = (frame_segments > 0).reshape(-1)
        flat_hidden = hidden.reshape(-1, hidden.shape[-1])[valid].float()  # bf16 sums and counts would round
        sums = flat_hidden.new_zeros(total, hidden.shape[-1]).index_add_(0, flat_ids[valid], flat_hidden)
        counts = flat_hidden.new_zeros(total).index_add_(0, flat_ids[valid], flat_hidden.new_ones(flat_hidden.shape[0]))
        return (sums / counts.clamp(min=1)[:, None]).to(hidden.dtype)

    @staticmethod
    def _pool_windows(frame_mask, window_counts, *rows):
        """Window rows -> clip rows: the mean over each clip's windows, weighted by their valid frames."""
        counts = [int(c) for c in window_counts]
        if sum(counts) != frame_mask.shape[0] or min(counts, default=0) < 1:
            raise ValueError(f"window_counts {counts} must be positive and sum to the {frame_mask.shape[0]} rows")
        weights = frame_mask.sum(dim=1, keepdim=True).float()
        pool = lambda x: torch.stack([((v.float() * w).sum(0) / w.sum().clamp(min=1)).to(v.dtype)  # noqa: E731
                                      for v, w in zip(x.split(counts), weights.split(counts))])
        return tuple(pool(x) for x in rows)

    def adjust_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Post-hoc logit adjustment (Menon et al. 2021): logits - tau * log(training prior); classes with prior 0
        are not adjusted."""
        if self.config.label_prior is None:
            raise ValueError("Logit adjustment needs config.label_prior (the training label distribution).")
        prior = torch.tensor(self.config.label_prior, dtype=logits.dtype, device=logits.device)
        prior = prior / prior.sum()
        # A class the training data never had (prior 0) is left alone: boosting it by -log(0) would make it win.
        log_prior = torch.where(prior > 0, torch.log(prior.clamp(min=1e-12)), torch.zeros_like(prior))
        return logits - self.config.logit_adjustment_tau * log_prior

    def emotion_loss_fn(self, logits, labels):
        """Soft-label cross-entropy (labels: probability vectors, or class ids with -100 ignored), or sigmoid + MSE."""
        if self.config.emotion_loss == "sigmoid_mse":
            return nn.functional.mse_loss(torch.sigmoid(logits.float()), labels.to(logits.device).float())
        if labels.dtype in (torch.int64, torch.int32):
            return nn.functional.cross_entropy(logits.float(), labels.to(logits.device), ignore_index=-100)
        labels = labels.to(logits.device).float()
        return -(labels * torch.log_softmax(logits.float(), dim=-1)).sum(-1).mean()

    def forward(
        self,
        input_features: torch.FloatTensor,
        attention_mask: torch.Tensor | None = None,
        segment_ids: torch.LongTensor | None = None,
        window_counts: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
        domain_labels: torch.LongTensor | None = None,
        apply_logit_adjustment: bool | None = None,
        trim_padding: bool = True,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        adaptation: dict | str | None = None,
        **kwargs,
    ) -> EmotionWhisperOutput:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch, num_mel_bins, mel_frames)`):
                Whisper log-mel features, any length up to 3000 frames (30 s). Padding goes at the end.
            attention_mask (`torch.Tensor` of shape `(batch, mel_frames)`, *optional*):
                1 for audio, 0 for padding. Trailing frames padded in every row are dropped before the encoder.
            segment_ids (`torch.LongTensor` of shape `(batch, mel_frames)`, *optional*):
                Several clips packed into one row: 1, 2, ... per clip, 0 for padding. Implies the attention mask.
                Gives `segment_logits`, and then `labels` and `domain_labels` have one row per segment.
            window_counts (`torch.LongTensor` of shape `(clips,)`, *optional*):
                Rows are consecutive 30 s windows of longer clips: `window_counts[i]` rows belong to clip i. `logits`
                and `pooled_features` are then one row per clip, the mean of its windows weighted by their valid
                frames (`frame_logits` stay per window); `labels` have one row per clip.
            labels (`torch.Tensor`, *optional*):
                `(n, num_labels)` soft labels (probability vectors, or targets in [0, 1] for "sigmoid_mse"), or `(n,)`
                class ids; n is the number of segments if `segment_ids` are given, otherwise the batch size.
            domain_labels (`torch.LongTensor` of shape `(n,)`, *optional*):
                Domain id of each segment (or clip); -100 is ignored.
            apply_logit_adjustment (`bool`, *optional*, defaults to `config.apply_logit_adjustment`):
                Subtract tau * log(prior) from the returned logits. Losses always use the raw logits.
            trim_padding (`bool`, defaults to `True`):
                Drop mel frames that are padding in every row before the encoder. The answer is the same either way
                (padding is masked); False spends the full compute, as a padded pipeline does. Never trimmed under
                torch.export, torch.compile or torch.jit tracing, where shapes cannot depend on the mask's values.
            output_attentions (`bool`, *optional*, defaults to `config.output_attentions`):
                Return every layer's attention weights (`attentions`); only "eager" attention computes them.
            adaptation (`dict` or `"none"`, *optional*, defaults to the model's own, see `set_adaptation`):
                An adaptation for this call alone (as `set_adaptation` takes it, or `adaptation_tensors` returns it);
                "none": none. The model is left as it is, so that calls from several threads each get their own.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        adaptation = self.adaptation if adaptation is None else self.adaptation_tensors(adaptation)
        if input_features.dim() != 3 or input_features.shape[1] != self.config.num_mel_bins:
            raise ValueError(
                f"input_features must have shape (batch, {self.config.num_mel_bins}, frames), got "
                f"{tuple(input_features.shape)}; compute them with the WhisperFeatureExtractor saved with this model."
            )
        if input_features.shape[-1] > MAX_MEL_FRAMES:
            raise ValueError(
                f"input_features hold {input_features.shape[-1]} mel frames; the encoder takes at most "
                f"{MAX_MEL_FRAMES} (30 s). Cut longer audio into windows (see emotion-whisper timeline)."
            )
        if segment_ids is not None:
            mel_mask = segment_ids > 0
        elif attention_mask is not None:
            mel_mask = attention_mask.bool()
            frames = input_features.shape[-1]
            if mel_mask.shape[-1] != frames:
                # A sample-level mask (WhisperFeatureExtractor called without return_attention_mask=True, as
                # transformers' stock pipeline does): one entry per 160 samples is the mel-frame mask.
                hop = mel_mask.shape[-1] // frames
                if hop < 2 or mel_mask.shape[-1] - hop * frames >= hop:
                    raise ValueError(f"attention_mask has {mel_mask.shape[-1]} entries for {frames} mel frames; pass "
                                     "one per mel frame (return_attention_mask=True in the feature extractor call)")
                mel_mask = mel_mask[:, ::hop][:, :frames]
        else:
            mel_mask = torch.ones(input_features.shape[0], input_features.shape[-1], dtype=torch.bool,
                                  device=input_features.device)
        mel_mask = mel_mask.to(input_features.device)
        # Frames padded in every row carry nothing: drop them, so a short clip padded to 30 s costs its own length.
        trim = trim_padding and not _is_tracing()
        used = int(mel_mask.any(dim=0).nonzero().max()) + 1 if trim and mel_mask.any() else mel_mask.shape[1]
        input_features, mel_mask = input_features[..., :used], mel_mask[:, :used]
        if segment_ids is not None:
            segment_ids = segment_ids[:, :used].to(input_features.device)

        if getattr(self.config, "input_normalization", "none") == "utterance":
            input_features = self._normalize_input(input_features, mel_mask, segment_ids)

        wants_states = bool(output_hidden_states or self.config.output_hidden_states)
        every_state = self.layer_weights is not None or self.config.layer_concatenation
        wants_attentions = bool(output_attentions or getattr(self.config, "output_attentions", False))
        hidden, frame_mask, hidden_states, attentions = self._encode(input_features, mel_mask,
                                                                     wants_states or every_state, wants_attentions)
        final_output = hidden
        if self.layer_weights is not None:  # SUPERB-style: every hidden state, the final output in place of the last
            stack = torch.stack([*hidden_states[:-1], hidden], dim=0)
            weights = torch.softmax(self.layer_weights.float(), dim=0).to(stack.dtype)
            hidden = (weights[:, None, None, None] * stack).sum(0)
            hidden_states = hidden_states if wants_states else None
        elif self.config.layer_concatenation:  # the probe's view: every hidden state side by side
            hidden = torch.cat([*hidden_states[:-1], hidden], dim=-1)
            hidden_states = hidden_states if wants_states else None
        frame_segments = segment_ids[:, ::2] if segment_ids is not None else None
        features = self.dropout(self.head_input(hidden, frame_segments, domain_labels, adaptation=adaptation))
        frame_logits = self.emotion_head(features) if self.frame_head is None else self.frame_head(final_output)
        stream_logits = self.stream_head(final_output) if self.stream_head is not None else None
        mean_over_frames = lambda x: self._mean_over_frames(x, frame_mask)  # noqa: E731
        pooled = mean_over_frames(features)
        clip_hidden = mean_over_frames(hidden) if features is not hidden else pooled
        logits = self.emotion_head(pooled)
        if window_counts is not None:
            logits, pooled, clip_hidden = self._pool_windows(frame_mask, window_counts, logits, pooled, clip_hidden)

        segment_logits = None
        if segment_ids is not None:
            pooled = self._pool_segments(features, frame_segments)
            segment_logits = self.emotion_head(pooled)

        domain_logits = confusion_logits = None
        if self.domain_head is not None and getattr(self.config, "domain_confusion", False):
            # the head learns the domains on features it cannot move; the encoder, through the head's weights held
            # fixed, learns features the head cannot tell apart (config.domain_confusion)
            domain_logits = self.domain_head(pooled.detach())
            if domain_labels is not None:
                confusion_logits = nn.functional.linear(pooled, self.domain_head.weight.detach(),
                                                        self.domain_head.bias.detach())
        elif self.domain_head is not None:
            domain_input = grad_reverse(pooled) if self.config.domain_gradient_reversal else pooled
            domain_logits = self.domain_head(domain_input)

        emotion_loss = domain_loss = frame_loss = loss = None
        if labels is not None:
            emotion_loss = self.emotion_loss_fn(segment_logits if segment_logits is not None else logits, labels)
            if self.frame_head is not None:
                # Frames have a head of their own (the clip head was refitted): it learns from the same labels on the
                # segment means of the final layer (a linear head's mean over frames), or it would keep scoring
                # frames of an encoder that no longer exists, or stay random after a new head was made.
                if frame_segments is not None:
                    final_pooled = self._pool_segments(final_output, frame_segments)
                else:
                    final_pooled = mean_over_frames(final_output)
                    if window_counts is not None:
                        (final_pooled,) = self._pool_windows(frame_mask, window_counts, final_pooled)
                frame_loss = self.emotion_loss_fn(self.frame_head(final_pooled), labels)
                emotion_loss = emotion_loss + frame_loss
            loss = emotion_loss
        if domain_labels is not None and domain_logits is not None:
            domain_loss = nn.functional.cross_entropy(
                domain_logits.float(), domain_labels.to(domain_logits.device), ignore_index=-100
            )
            weighted = self.config.domain_loss_weight * domain_loss
            if confusion_logits is not None:  # the labelled clips' posteriors against the uniform one
                known = domain_labels.to(confusion_logits.device) != -100
                if known.any():
                    uniform_ce = -nn.functional.log_softmax(confusion_logits.float()[known], dim=-1).mean()
                    weighted = weighted + self.config.domain_loss_weight * uniform_ce
            loss = weighted if loss is None else loss + weighted

        if adaptation is not None and "logit_shift" in adaptation:
            shift = adaptation["logit_shift"].to(logits)
            logits, frame_logits = logits + shift, frame_logits + shift
            stream_logits = stream_logits + shift if stream_logits is not None else None
            segment_logits = segment_logits + shift if segment_logits is not None else None
        adjust = self.config.apply_logit_adjustment if apply_logit_adjustment is None else apply_logit_adjustment
        # A prior adaptation's shift (log target prior - log training prior) already took the training prior out;
        # adjusting too would remove it a second time (adaptation.py, "Prior adaptation and logit adjustment").
        if adjust and not (adaptation is not None and "target_prior" in adaptation):
            logits, frame_logits = self.adjust_logits(logits), self.adjust_logits(frame_logits)
            stream_logits = self.adjust_logits(stream_logits) if stream_logits is not None else None
            if segment_logits is not None:
                segment_logits = self.adjust_logits(segment_logits)

        output = EmotionWhisperOutput(
            loss=loss, logits=logits, frame_logits=frame_logits, frame_mask=frame_mask, stream_logits=stream_logits,
            pooled_features=clip_hidden,
            segment_logits=segment_logits, domain_logits=domain_logits, emotion_loss=emotion_loss,
            domain_loss=domain_loss, frame_loss=frame_loss, hidden_states=hidden_states, attentions=attentions,
        )
        return output if return_dict else output.to_tuple()

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save weights, config and code, plus what `pipeline("audio-classification")` needs: the feature-extractor
        settings (with attention masks) and the registration of this project's audio pipeline."""
        here = os.path.dirname(os.path.abspath(__file__))
        has_pipeline = os.path.exists(os.path.join(here, PIPELINE_FILE))
        if has_pipeline:
            self.config.custom_pipelines = {
                "audio-classification": {
                    "impl": f"{PIPELINE_FILE[:-3]}.{PIPELINE_CLASS}",
                    "pt": ["AutoModelForAudioClassification"],
                    "tf": [],
                    "type": "audio",
                }
            }
        super().save_pretrained(save_directory, *args, **kwargs)
        if not kwargs.get("is_main_process", True):
            return
        # safetensors writes its files 0600 (a temporary file renamed); they are shared like config.json beside
        # them, whose mode follows the umask
        mode = os.stat(os.path.join(save_directory, "config.json")).st_mode & 0o777
        for name in os.listdir(save_directory):
            if name.endswith(".safetensors"):
                os.chmod(os.path.join(save_directory, name), mode)
        if has_pipeline:
            pipeline_file = os.path.join(here, PIPELINE_FILE)
            for source in [pipeline_file, *get_relative_import_files(pipeline_file)]:
                shutil.copyfile(source, os.path.join(save_directory, os.path.basename(source)))
        if not os.path.exists(os.path.join(save_directory, "preprocessor_config.json")):
            WhisperFeatureExtractor(feature_size=self.config.num_mel_bins, return_attention_mask=True).save_pretrained(
                save_directory
            )


__all__ = ["EmotionWhisperOutput", "WhisperForEmotionClassification", "EmotionWhisperPreTrainedModel",
           "grad_reverse"]

"""EmotionTrainer: the transformers Trainer with the paper's loss, growing accumulation and one-cycle cosine.

- `compute_loss`: the model computes soft-label CE per segment + w_d * domain CE (behind gradient reversal).
- `training_step`: one item of `PackedSteps` holds all micro-batches of an optimizer step; their number follows the
  accumulation schedule, so the effective batch grows during training (paper 2.6). DDP gradients are synchronized
  once per step.
- `create_scheduler`: one-cycle cosine (Smith & Topin 2019): cosine warm-up to the peak rate, cosine decay.
- `log`: adds the padded-frame fraction, the two losses, the accumulation and audio seconds per wall second.
"""

import contextlib
import logging
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from .augment import WaveformAugmenter
from .packing import (ClipCollator, DecodedAudio, PackedSteps, PackingCollator, accumulation_at,
                      corpus_sampling_weights, make_packs, steps_for_packs)

logger = logging.getLogger(__name__)


@dataclass
class PackingArguments:
    """How clips become optimizer steps (paper 2.3, 2.4, 2.6); shared by train.py and finetune_hume.py."""

    window_seconds: float = field(default=30.0, metadata={"help": "Length of a packed window (Algorithm 1's L)."})
    fill: float = field(default=0.8, metadata={"help": "Pack until this share of the window is filled."})
    packs_per_batch: int = field(default=4, metadata={"help": "Packed windows per micro-batch and process."})
    accumulation_schedule: str = field(
        default="0:1", metadata={"help": "Growing gradient accumulation, 'step:accum,...', e.g. '0:1,200:2,600:4'."})
    num_epochs: float = field(default=3.0, metadata={"help": "Passes over the training clips (sets max_steps)."})
    corpus_sampling_temperature: float = field(default=1.0, metadata={
        "help": "Share of the packed audio from each training corpus (column 'dataset') proportional to its hours "
                "to this power: 1 = Algorithm 1 as in the paper (every clip once per epoch, big corpora dominate); "
                "0 = every corpus equal (small corpora repeat within an epoch, big ones are subsampled); between: "
                "tempered. Below 1, clips are drawn with replacement; an epoch still packs as many hours as the "
                "clips hold."})
    augment_p: float = field(default=0.2, metadata={"help": "Probability of each waveform augmentation (paper 0.2)."})
    spec_augment_p: float = field(default=0.2, metadata={"help": "Probability of each SpecAugment part."})
    channel_augment_p: float = field(default=0.0, metadata={
        "help": "Probability of each speaker and channel transform, not in the paper: vocal-tract-length "
                "perturbation, a synthetic room, a codec (telephone, GSM, Opus); 0 = off, the paper's recipe."})
    audio_cache_dir: str = field(
        default="", metadata={"help": "Where the training clips are decoded once per run (16 kHz float32, ~230 MB "
                                      "per hour); runs over the same clips share it. Empty: <output_dir>/decoded_audio;"
                                      " 'none': decode every clip at every use."})


def check_packing(packing: PackingArguments):
    """Refuses settings no run can use, before any data is read (train.py and finetune_hume.py share them)."""
    for name in ("augment_p", "spec_augment_p", "channel_augment_p"):
        if not 0 <= getattr(packing, name) <= 1:
            raise SystemExit(f"--{name} is a probability: give a value from 0 to 1, got {getattr(packing, name)}")


class GroupStatisticsCallback(TrainerCallback):
    """Per-domain feature standardization (config.feature_standardization): at the start of every run or resume,
    measure each training group's feature statistics with the current model (clips alone, no augmentation); training
    forwards then track them. Every rank measures the same clips, so all start alike."""

    def __init__(self, rows, feature_extractor, seed: int, max_clips: int = 64, batch_size: int = 8):
        self.rows, self.feature_extractor = rows, feature_extractor
        self.seed, self.max_clips, self.batch_size = seed, max_clips, batch_size

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        from .adaptation import group_statistics, training_groups

        level = model.config.feature_standardization
        clip_groups, group_of_domain = training_groups(self.rows, level, model.config.num_domains)
        start = time.time()
        mean, var = group_statistics(model, self.rows, ClipCollator(self.feature_extractor), clip_groups,
                                     self.max_clips, self.seed, self.batch_size, bf16=args.bf16)
        model.set_group_statistics(mean, var, group_of_domain)
        model.train()
        logger.info("feature standardization per %s: statistics of %d groups in %.0f s", level, len(mean),
                    time.time() - start)


def record_training_data(config, hours: dict, cards: dict | None = None):
    """Adds {source: hours of audio} to config.training_corpora, which the model card lists with each licence.

    A source trained on again (continued training) keeps its larger count: the hours are of distinct audio.
    `cards`, {source: {"title", "language", "license"}} (data_scripts' corpus registry, which the training script
    reads), go to config.training_corpus_cards: the model carries what its card says about its data, so the release
    code needs nothing above this package.
    """
    merged = dict(config.training_corpora or {})
    for name, value in hours.items():
        merged[name] = round(max(merged.get(name, 0.0), float(value)), 3)
    config.training_corpora = merged
    if cards:
        known = dict(getattr(config, "training_corpus_cards", None) or {})
        known.update({name: {key: str(card[key]) for key in ("title", "language", "license")}
                      for name, card in cards.items()})
        config.training_corpus_cards = known


def parse_schedule(text: str) -> list:
    try:
        schedule = sorted([int(a), int(b)] for a, b in (part.split(":") for part in text.split(",") if part.strip()))
    except ValueError:
        raise ValueError(f"accumulation_schedule {text!r}: write it as 'step:accumulation,...', e.g. '0:1,500:2'")
    if not schedule or schedule[0][0] != 0 or any(b < 1 for _, b in schedule):
        raise ValueError(f"accumulation_schedule {text!r} must start at step 0 with accumulations >= 1")
    return schedule


def clip_draw_weights(rows, packing: PackingArguments):
    """How often packing draws each clip of `rows`, relatively (None: each clip once per pass, Algorithm 1)."""
    if packing.corpus_sampling_temperature == 1:
        return None
    if "dataset" not in rows.column_names:
        raise ValueError("corpus_sampling_temperature needs a 'dataset' column naming each clip's corpus; add one "
                         "or use --corpus_sampling_temperature 1")
    return corpus_sampling_weights(rows["dataset"], rows["duration"], packing.corpus_sampling_temperature)


def build_trainer(model, training_args, rows, feature_extractor, packing: PackingArguments, domain_map=None,
                  **trainer_kwargs):
    """An EmotionTrainer over Algorithm 1 packs of `rows` (columns path, duration, soft_label, domain).
    Sets the Trainer options this design needs and max_steps from `num_epochs`. `domain_map` (an array over the
    build's domain ids) relabels what the domain head predicts, say the corpus instead of the speaker.
    Returns (trainer, summary)."""
    _take_over_batching(training_args)
    schedule = parse_schedule(packing.accumulation_schedule)
    durations = rows["duration"]
    weights = clip_draw_weights(rows, packing)
    first_epoch = make_packs(durations, training_args.seed, packing.window_seconds, packing.fill, weights=weights)
    packs_per_epoch = len(first_epoch)
    world = training_args.world_size
    num_steps = steps_for_packs(math.ceil(packs_per_epoch * packing.num_epochs), packing.packs_per_batch,
                                schedule, world)
    if training_args.max_steps > 0 and training_args.max_steps < num_steps:  # the smaller bound wins
        logger.info("max_steps %d stops training before num_epochs %g (%d steps)", training_args.max_steps,
                    packing.num_epochs, num_steps)
        num_steps = training_args.max_steps
    elif training_args.max_steps > 0:
        logger.info("num_epochs %g (%d steps) stops training before max_steps %d", packing.num_epochs, num_steps,
                    training_args.max_steps)
    training_args.max_steps = num_steps
    _check_bf16(training_args)
    steps = PackedSteps(durations, num_steps, packing.packs_per_batch, schedule, training_args.seed, world,
                        packing.window_seconds, packing.fill, first_epoch=first_epoch, weights=weights)
    augmenter = None
    if packing.augment_p > 0 or packing.channel_augment_p > 0:
        augmenter = WaveformAugmenter(p=packing.augment_p, channel_p=packing.channel_augment_p)
    store = None
    if packing.audio_cache_dir.lower() != "none":
        cache_dir = packing.audio_cache_dir or os.path.join(training_args.output_dir, "decoded_audio")
        with training_args.main_process_first(desc="decoding the training audio"):  # one decode, shared by all ranks
            store = DecodedAudio(rows, cache_dir, num_proc=max(1, os.cpu_count() or 1))
    collator = PackingCollator(rows, feature_extractor, seed=training_args.seed, window=packing.window_seconds,
                               augmenter=augmenter, spec_augment_p=packing.spec_augment_p, store=store,
                               domain_map=domain_map)
    trainer = EmotionTrainer(model=model, args=training_args, train_dataset=steps, data_collator=collator,
                             accumulation_schedule=schedule, window_seconds=packing.window_seconds, **trainer_kwargs)
    level = model.config.feature_standardization
    if level != "none" and {"domain", "dataset"} <= set(rows.column_names):
        trainer.add_callback(GroupStatisticsCallback(rows, feature_extractor, training_args.seed,
                                                     batch_size=training_args.per_device_eval_batch_size))
    elif level != "none":  # e.g. fine-tuning on a table without domains: the model's saved statistics
        logger.info("feature standardization per %s: the rows have no domain/dataset columns, so every clip is "
                    "standardized with the model's source statistics", level)
    summary = {"packs_per_epoch": packs_per_epoch, "num_steps": num_steps, "accumulation": schedule,
               "world_size": world, "audio_share": packed_audio_share(steps, rows)}
    logger.info("%d packs per epoch, %d optimizer steps, accumulation %s; share of the packed audio per corpus %s",
                packs_per_epoch, num_steps, schedule, summary["audio_share"])
    return trainer, summary


def end_distributed():
    """Leave torch.distributed cleanly on every rank at the end of a launched script: a process group still alive at
    interpreter exit made a rank abort after its work was done ("terminate called without an active exception",
    SIGABRT; about 1 launch in 10 here), failing the whole launch. So did a rank that tore its group down while
    another was still working (the main process evaluates and saves alone after training): every rank waits for the
    others first."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def packed_audio_share(steps: PackedSteps, rows) -> dict:
    """{corpus: share of the first epoch's packed audio}, logged and saved so a run shows what it trained on."""
    if "dataset" not in rows.column_names:
        return {}
    corpora, durations = rows["dataset"], steps.durations
    seconds = defaultdict(float)
    for pack in steps.epoch_packs(0):
        for i in pack:
            seconds[corpora[i]] += min(durations[i], steps.window)
    total = sum(seconds.values()) or 1.0
    return {name: round(value / total, 4) for name, value in sorted(seconds.items())}


HEAD_PARAMETERS = ("emotion_head.", "domain_head.", "layer_weights")  # what head_learning_rate applies to

# TrainingArguments this design sets itself: (name, value it needs, what to use instead)
TAKEN_OVER = (
    ("per_device_train_batch_size", 1, "--packs_per_batch (packed 30 s windows per micro-batch)"),
    ("gradient_accumulation_steps", 1, "--accumulation_schedule (it grows during training, paper 2.6)"),
    ("train_sampling_strategy", "sequential", "nothing: Algorithm 1 already draws the packs at random"),
)


def _take_over_batching(training_args):
    """Set the batching options packing needs. A value the user changed from the default is refused with what to
    use instead, never silently overwritten."""
    import dataclasses

    defaults = {f.name: f.default for f in dataclasses.fields(training_args)}
    for name, needed, instead in TAKEN_OVER:
        value = getattr(training_args, name)
        if value not in (needed, defaults[name]):
            raise ValueError(f"--{name} {value} is not used by this trainer; use {instead}")
        setattr(training_args, name, needed)
    training_args.remove_unused_columns = False  # the collator reads its own columns


def _check_bf16(training_args):
    """bf16 autocast halves the step time on CPUs with native bf16 (AVX512-BF16, AMX) and gives the same loss curve
    (docs/results.md); elsewhere it is emulated and slower, so say so before hours are spent."""
    if training_args.bf16 and training_args.device.type == "cpu":
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native = False
        if not native:
            logger.warning("bf16 is on, but this CPU has no native bf16: steps will be slower, not faster. "
                           "Set bf16: false (--bf16 false).")


def train_resuming(trainer):
    """Train, resuming from `resume_from_checkpoint` or else from the last checkpoint in output_dir."""
    args = trainer.args
    resume = args.resume_from_checkpoint
    if resume is None and os.path.isdir(args.output_dir):
        resume = get_last_checkpoint(args.output_dir)
    if resume:
        logger.info("resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.log_metrics("train", result.metrics)
    trainer.save_state()  # trainer_state.json with the whole log history, beside the checkpoints
    return result


def one_cycle_cosine(step: int, warmup: int, total: int, start: float = 0.04, end: float = 1e-3) -> float:
    """Learning-rate factor: cosine rise from `start` to 1 over `warmup` steps, cosine fall to `end` by `total`."""
    if step < warmup:
        return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * step / warmup))
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * progress))


class EmotionTrainer(Trainer):
    def __init__(self, *args, accumulation_schedule=None, window_seconds: float = 30.0, head_learning_rate=None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.head_learning_rate = head_learning_rate
        self.accumulation_schedule = accumulation_schedule or [[0, 1]]
        self.window_seconds = window_seconds
        self._stats = defaultdict(list)
        self._last_log_time = time.time()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        padding = inputs.pop("padding_fraction", None)
        outputs = model(**inputs)
        if model.training:
            if padding is not None:
                self._stats["padding_fraction"].append(float(padding))
                frames = inputs["input_features"].shape[0] * self.window_seconds
                self._stats["audio_seconds"].append(frames * (1.0 - float(padding)))
            for name in ("emotion_loss", "domain_loss", "frame_loss"):
                if outputs.get(name) is not None:
                    self._stats[name].append(float(outputs[name].detach()))
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        model.train()
        micro_batches = inputs["micro_batches"]
        total = torch.zeros((), device=self.args.device)
        for j, batch in enumerate(micro_batches):
            last = j == len(micro_batches) - 1
            # Gradients sync (and, under DeepSpeed, the engine steps) on the last micro-batch only: no_sync keeps DDP
            # and FSDP from all-reducing, the sync_gradients flag keeps accelerate's DeepSpeed backward from calling
            # engine.step(), which would otherwise make k micro-batches k optimizer steps.
            self.accelerator.sync_gradients = last
            sync = contextlib.nullcontext() if last else self.accelerator.no_sync(model)
            try:
                with sync, self.compute_loss_context_manager():
                    loss = self.compute_loss(model, batch) / len(micro_batches)
                    self.accelerator.backward(loss)
            finally:
                self.accelerator.sync_gradients = True  # the Trainer's own step (clipping, optimizer) follows
            total += loss.detach()
        return total

    def create_optimizer(self, *args, **kwargs):
        """With `head_learning_rate`, the heads and the layer weights get their own rate: they start from scratch
        (and the layer weights from uniform), where the encoder only needs nudging."""
        if self.optimizer is None and self.head_learning_rate:
            decay = set(self.get_decay_parameter_names(self.model))
            groups = {}
            for name, parameter in self.model.named_parameters():
                if parameter.requires_grad:
                    head = name.startswith(HEAD_PARAMETERS)
                    key = (head, name in decay)
                    groups.setdefault(key, {"params": [], "weight_decay": self.args.weight_decay if key[1] else 0.0,
                                            **({"lr": self.head_learning_rate} if head else {})})
                    groups[key]["params"].append(parameter)
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, self.model)
            self.optimizer = optimizer_cls(list(groups.values()), **optimizer_kwargs)
        return super().create_optimizer(*args, **kwargs)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            optimizer = optimizer if optimizer is not None else self.optimizer
            warmup = self.args.get_warmup_steps(num_training_steps)
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: one_cycle_cosine(step, warmup, num_training_steps)
            )
        return self.lr_scheduler

    def log(self, logs, *args, **kwargs):
        if self._stats and "loss" in logs:
            now = time.time()
            for name, values in self._stats.items():
                if name == "audio_seconds":
                    logs["audio_seconds_per_second"] = round(sum(values) / max(1e-9, now - self._last_log_time), 2)
                else:
                    logs[name] = round(sum(values) / len(values), 4)
            logs["accumulation"] = accumulation_at(self.state.global_step, self.accumulation_schedule)
            steps = self.train_dataset
            if hasattr(steps, "offsets"):  # the Trainer's own "epoch" counts optimizer steps, not passes over clips
                logs["data_epoch"] = round(steps.offsets[min(self.state.global_step, len(steps.offsets) - 1)]
                                           / steps.packs_per_epoch, 4)
            self._stats.clear()
            self._last_log_time = now
        super().log(logs, *args, **kwargs)

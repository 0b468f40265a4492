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
from transformers import Trainer
from transformers.trainer_utils import get_last_checkpoint

from .augment import WaveformAugmenter
from .packing import PackedSteps, PackingCollator, accumulation_at, make_packs, steps_for_packs

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
    augment_p: float = field(default=0.2, metadata={"help": "Probability of each waveform augmentation (paper 0.2)."})
    spec_augment_p: float = field(default=0.2, metadata={"help": "Probability of each SpecAugment part."})


def parse_schedule(text: str) -> list:
    try:
        schedule = sorted([int(a), int(b)] for a, b in (part.split(":") for part in text.split(",") if part.strip()))
    except ValueError:
        raise ValueError(f"accumulation_schedule {text!r}: write it as 'step:accumulation,...', e.g. '0:1,500:2'")
    if not schedule or schedule[0][0] != 0 or any(b < 1 for _, b in schedule):
        raise ValueError(f"accumulation_schedule {text!r} must start at step 0 with accumulations >= 1")
    return schedule


def build_trainer(model, training_args, rows, feature_extractor, packing: PackingArguments, **trainer_kwargs):
    """An EmotionTrainer over Algorithm 1 packs of `rows` (columns path, duration, soft_label, domain).
    Sets the Trainer options this design needs and max_steps from `num_epochs`. Returns (trainer, summary)."""
    training_args.per_device_train_batch_size = 1  # one item = one optimizer step's packs
    training_args.gradient_accumulation_steps = 1  # accumulation happens inside EmotionTrainer.training_step
    training_args.train_sampling_strategy = "sequential"  # packs are random already; order maps items to steps
    training_args.remove_unused_columns = False
    schedule = parse_schedule(packing.accumulation_schedule)
    durations = rows["duration"]
    packs_per_epoch = len(make_packs(durations, training_args.seed, packing.window_seconds, packing.fill))
    world = training_args.world_size
    num_steps = steps_for_packs(math.ceil(packs_per_epoch * packing.num_epochs), packing.packs_per_batch,
                                schedule, world)
    training_args.max_steps = num_steps
    steps = PackedSteps(durations, num_steps, packing.packs_per_batch, schedule, training_args.seed, world,
                        packing.window_seconds, packing.fill, packs_per_epoch=packs_per_epoch)
    augmenter = WaveformAugmenter(p=packing.augment_p) if packing.augment_p > 0 else None
    collator = PackingCollator(rows, feature_extractor, seed=training_args.seed, window=packing.window_seconds,
                               augmenter=augmenter, spec_augment_p=packing.spec_augment_p)
    trainer = EmotionTrainer(model=model, args=training_args, train_dataset=steps, data_collator=collator,
                             accumulation_schedule=schedule, window_seconds=packing.window_seconds, **trainer_kwargs)
    summary = {"packs_per_epoch": packs_per_epoch, "num_steps": num_steps, "accumulation": schedule,
               "world_size": world}
    logger.info("%d packs per epoch, %d optimizer steps, accumulation %s", packs_per_epoch, num_steps, schedule)
    return trainer, summary


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
    def __init__(self, *args, accumulation_schedule=None, window_seconds: float = 30.0, **kwargs):
        super().__init__(*args, **kwargs)
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
            for name in ("emotion_loss", "domain_loss"):
                if outputs.get(name) is not None:
                    self._stats[name].append(float(outputs[name].detach()))
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        model.train()
        micro_batches = inputs["micro_batches"]
        total = torch.zeros((), device=self.args.device)
        for j, batch in enumerate(micro_batches):
            last = j == len(micro_batches) - 1
            sync = contextlib.nullcontext() if last else self.accelerator.no_sync(model)
            with sync, self.compute_loss_context_manager():
                loss = self.compute_loss(model, batch) / len(micro_batches)
                self.accelerator.backward(loss)
            total += loss.detach()
        return total

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

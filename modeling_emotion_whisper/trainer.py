"""EmotionTrainer: the transformers Trainer with the paper's loss, growing accumulation and one-cycle cosine.

- `compute_loss`: the model computes soft-label CE per segment + w_d * domain CE (behind gradient reversal).
- `training_step`: one item of `PackedSteps` holds all micro-batches of an optimizer step; their number follows the
  accumulation schedule, so the effective batch grows during training (paper 2.6). DDP gradients are synchronized
  once per step.
- `create_scheduler`: one-cycle cosine (Smith & Topin 2019): cosine warm-up to the peak rate, cosine decay.
- `log`: adds the padded-frame fraction, the two losses, the accumulation and audio seconds per wall second.
"""

import contextlib
import math
import time
from collections import defaultdict

import torch
from transformers import Trainer

from .packing import accumulation_at


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

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            outputs = model(**inputs)
        loss = outputs.loss.detach() if outputs.loss is not None else None
        return loss, outputs.logits.detach(), inputs.get("labels")

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
            self._stats.clear()
            self._last_log_time = now
        super().log(logs, *args, **kwargs)

"""Random concatenation of clips into windows of up to 30 s (paper 2.4, Algorithm 1), and the collators.

Training never sees a clip alone: clips are packed into one window, so the model learns where one emotion ends and
the next begins. Each pack carries per-frame segment ids (0 = padding), one soft label and one domain id per clip.
Algorithm 1 draws clips uniformly, so the biggest corpora fill most windows; `corpus_sampling_weights` (beyond the
paper, --corpus_sampling_temperature) evens the corpora out.

How optimizer steps are fed: `PackedSteps` is a map-style dataset whose item i is everything one process needs for
one optimizer step: `accumulation(step)` micro-batches of `packs_per_batch` packs each. The Trainer reads it in order
(`train_sampling_strategy="sequential"`, the packs are already random), so item i belongs to step i // world_size and
the accumulation can grow with the step (paper 2.6) without touching the Trainer's loop.
"""

import bisect
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from .audio import SAMPLING_RATE, load_audio
from .features import clip_batch, mel_features

HOP = 160  # samples per mel frame at 16 kHz


def retrieve_sequence(pool: list, durations: list, rng: np.random.Generator, window: float, fill: float) -> list:
    """Algorithm 1's RETRIEVESEQUENCE on a pool sorted by duration: repeatedly take a random clip among those that fit
    in the remaining time (bisect), until `fill * window` seconds are filled or nothing fits. Mutates the pool."""
    chosen, total = [], 0.0
    while total < fill * window:
        fits = bisect.bisect_right(durations, window - total)
        if fits == 0:
            break
        j = int(rng.integers(fits))
        chosen.append(pool.pop(j))
        total += durations.pop(j)
    return chosen


def retrieve_weighted(cumulative: np.ndarray, durations: list, rng: np.random.Generator, window: float,
                      fill: float) -> list:
    """RETRIEVESEQUENCE with replacement: each clip that fits is drawn with probability proportional to its weight
    (`cumulative` = running sum of the weights in the pool's duration order). Returns positions in that order."""
    chosen, total = [], 0.0
    while total < fill * window:
        fits = bisect.bisect_right(durations, window - total)
        if fits == 0 or cumulative[fits - 1] <= 0:
            break
        j = min(int(np.searchsorted(cumulative, rng.random() * cumulative[fits - 1], side="right")), fits - 1)
        chosen.append(j)
        total += durations[j]
    return chosen


def corpus_sampling_weights(corpora, durations, temperature: float) -> np.ndarray | None:
    """Per-clip draw weights that give corpus c an expected share of the packed audio proportional to hours_c ** T.

    T = 1 returns None: Algorithm 1 as published (clips uniformly, without replacement), where the largest corpora
    dominate. T = 0 gives every corpus the same share (small corpora repeat within an epoch, large ones are
    subsampled), as multilingual language models do with languages; in between is tempered. A clip's weight is
    hours_c ** (T - 1), so that the weight times the duration summed over the corpus is hours_c ** T.
    """
    if temperature == 1:
        return None
    if not 0 <= temperature <= 1:
        raise ValueError(f"corpus_sampling_temperature {temperature}: use a value from 0 (every corpus equal) to 1 "
                         "(clips uniformly, as in the paper)")
    durations = np.asarray(durations, dtype=np.float64)
    _, corpus = np.unique(np.asarray(corpora), return_inverse=True)
    seconds = np.bincount(corpus, weights=durations)
    if (seconds <= 0).any():
        raise ValueError("corpus_sampling_temperature: a corpus has no audio (every duration 0); rebuild the dataset")
    return (seconds ** (temperature - 1))[corpus]


def make_packs(durations, seed: int, window: float = 30.0, fill: float = 0.8, refresh_below: int = 8,
               num_packs: int | None = None, weights=None) -> list[list[int]]:
    """Packs of clip indices. Clips longer than the window count as the window (the collator crops them).
    The pool is refreshed (every clip back in) when fewer than `refresh_below` clips fit at the start of a sequence
    (Algorithm 1 line 10). Without `num_packs`, packing stops once as many clips have been drawn as there are
    (one epoch: each clip once on average; a refresh may draw some twice and leave others for the next epoch).
    With `weights` (one per clip, e.g. `corpus_sampling_weights`), clips are drawn with replacement in proportion,
    and an epoch ends once as much audio has been packed as the clips hold (passes cost the same whatever the mix)."""
    rng = np.random.default_rng(seed)
    capped = np.minimum(np.asarray(durations, dtype=np.float64), window)
    order = np.argsort(capped, kind="stable")
    full_pool, full_durations = [int(i) for i in order], [float(capped[i]) for i in order]
    pool, pool_durations = list(full_pool), list(full_durations)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != capped.shape or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"make_packs: give one non-negative weight per clip ({capped.size}), not all zero")
        cumulative = np.cumsum(weights[order])
    budget = len(full_pool) if weights is None else float(capped.sum())  # clips, or seconds when weighted
    drawn, packs = 0, []
    while (num_packs is None and drawn < budget) or (num_packs is not None and len(packs) < num_packs):
        if weights is not None:
            chosen = retrieve_weighted(cumulative, full_durations, rng, window, fill)
            packs.append([full_pool[j] for j in chosen])
            drawn += sum(full_durations[j] for j in chosen)
            continue
        if len(pool) < refresh_below or bisect.bisect_right(pool_durations, window) < refresh_below:
            pool, pool_durations = list(full_pool), list(full_durations)
        pack = retrieve_sequence(pool, pool_durations, rng, window, fill)
        if not pack:  # cannot happen with capped durations, but never loop forever
            pool, pool_durations = list(full_pool), list(full_durations)
            continue
        drawn += len(pack)
        packs.append(pack)
    return packs


def accumulation_at(step: int, schedule: list) -> int:
    """schedule: [[start_step, accumulation], ...] sorted by start_step; the last entry reached applies."""
    value = 1
    for start, accumulation in schedule:
        if step >= start:
            value = int(accumulation)
    return value


def steps_for_packs(total_packs: int, packs_per_batch: int, schedule: list, world_size: int = 1) -> int:
    """Number of optimizer steps that consume `total_packs` packs under the accumulation schedule."""
    used, step = 0, 0
    while used < total_packs:
        used += accumulation_at(step, schedule) * packs_per_batch * world_size
        step += 1
    return step


class PackedSteps(torch.utils.data.Dataset):
    """Item i: the packs (lists of clip indices) of one process for optimizer step i // world_size, grouped in
    micro-batches. Packs are drawn per epoch with seed (seed, epoch), identically in every process."""

    def __init__(self, durations, num_steps: int, packs_per_batch: int, schedule: list, seed: int,
                 world_size: int = 1, window: float = 30.0, fill: float = 0.8, first_epoch: list | None = None,
                 weights=None):
        self.durations, self.num_steps, self.packs_per_batch = list(durations), num_steps, packs_per_batch
        self.schedule, self.seed, self.world_size, self.window, self.fill = schedule, seed, world_size, window, fill
        self.weights = weights
        # epoch 0 as make_packs draws it (the caller may have packed it already, to count the steps); later epochs
        # are drawn with as many packs, so every epoch has the same length
        if first_epoch is None:
            first_epoch = make_packs(self.durations, seed, window, fill, weights=weights)
        self.packs_per_epoch = len(first_epoch)
        self._cache = {0: first_epoch}
        # where each step's packs start in the endless stream of packs
        self.offsets = [0]
        for step in range(num_steps):
            size = accumulation_at(step, schedule) * packs_per_batch * world_size
            self.offsets.append(self.offsets[-1] + size)

    def __len__(self):
        return self.num_steps * self.world_size

    def epoch_packs(self, epoch: int) -> list[list[int]]:
        if epoch not in self._cache:
            self._cache = {epoch: make_packs(self.durations, self.seed + epoch, self.window, self.fill,
                                             num_packs=self.packs_per_epoch, weights=self.weights)}
        return self._cache[epoch]

    def _pack(self, n: int) -> list[int]:
        epoch, k = divmod(n, self.packs_per_epoch)
        return self.epoch_packs(epoch)[k]

    def __getitem__(self, i: int) -> dict:
        step, rank = divmod(i, self.world_size)
        start, end = self.offsets[step], self.offsets[step + 1]
        mine = list(range(start, end))[rank :: self.world_size]
        packs = [self._pack(n) for n in mine]
        micro = [packs[j : j + self.packs_per_batch] for j in range(0, len(packs), self.packs_per_batch)]
        return {"step": step, "micro_batches": micro, "item": i}

class DecodedAudio:
    """Every clip of `rows` decoded once to 16 kHz mono float32 into one flat file, read back memory-mapped.

    Decoding Opus and resampling cost more than the copy an epoch needs, so a run decodes each clip once, not once
    per epoch. The folder is named by what it holds (every clip's path, region, file size and modification time):
    runs over the same clips share it, a changed file is decoded again. Written under temporary names and renamed
    last, so an interrupted decode is never mistaken for a finished one.
    """

    def __init__(self, rows, cache_dir, num_proc: int = 2):
        import hashlib
        import json
        import os
        from pathlib import Path

        columns = rows.column_names
        self.clips = [(p, float(o), d) for p, o, d in zip(
            rows["path"], rows["offset"] if "offset" in columns else [0.0] * len(rows),
            rows["duration"] if "duration" in columns else [None] * len(rows))]
        digest = hashlib.sha256()
        for path, offset, duration in self.clips:
            stat = os.stat(path)
            digest.update(json.dumps([path, offset, duration, stat.st_size, stat.st_mtime_ns]).encode())
        self.folder = Path(cache_dir) / digest.hexdigest()[:20]
        if not (self.folder / "index.npy").exists():
            self._decode(num_proc)
        self.index = np.load(self.folder / "index.npy")  # (clips, 2): start, length in samples
        self._samples = None

    def _decode(self, num_proc: int):
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        self.folder.mkdir(parents=True, exist_ok=True)
        index, start = np.zeros((len(self.clips), 2), dtype=np.int64), 0
        tmp = self.folder / "samples.f32.tmp"
        # Threads, not processes: libsndfile and soxr decode outside the GIL, and forking a process that already
        # runs torch.distributed's threads (train.py under accelerate) made the launched ranks abort at random.
        with open(tmp, "wb") as out, ThreadPoolExecutor(max(1, num_proc)) as pool:
            waves = pool.map(_decode_clip, self.clips)
            for i, wave in enumerate(tqdm(waves, total=len(self.clips), desc=f"decoding audio once to {self.folder}")):
                out.write(wave.tobytes())
                index[i] = start, wave.size
                start += wave.size
        tmp.rename(self.folder / "samples.f32")
        np.save(self.folder / "index.tmp.npy", index)
        (self.folder / "index.tmp.npy").rename(self.folder / "index.npy")

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i: int) -> np.ndarray:
        if self._samples is None:  # opened lazily: a DataLoader worker maps the file itself instead of a pickled copy
            self._samples = np.memmap(self.folder / "samples.f32", dtype=np.float32, mode="r")
        start, length = self.index[i]
        return np.array(self._samples[start : start + length])

    def __getstate__(self):
        return {**self.__dict__, "_samples": None}


def _decode_clip(clip) -> np.ndarray:
    path, offset, duration = clip
    return load_audio(path, offset=offset, duration=duration).astype(np.float32, copy=False)


@dataclass
class PackingCollator:
    """Loads, augments and concatenates the clips of each pack; returns micro-batches the model takes directly:
    input_features (B, mels, T), segment_ids (B, T), labels (clips, emotions), domain_labels (clips,), plus
    `padding_fraction` (share of padded frames in a 30 s window) for logging."""

    rows: object  # the training split: columns path, soft_label, domain
    feature_extractor: object
    seed: int = 0
    window: float = 30.0
    augmenter: object = None  # WaveformAugmenter or None
    spec_augment_p: float = 0.0
    store: object = None  # a DecodedAudio of the same rows (decoded once per run), or None to decode at every use
    domain_map: object = None  # domain id -> the domain head's class (train.py --domain_attribute), or None: the id

    def __post_init__(self):
        self.paths = list(self.rows["path"])
        columns = self.rows.column_names
        self.offsets = list(self.rows["offset"]) if "offset" in columns else [0.0] * len(self.paths)
        self.durations = list(self.rows["duration"]) if "duration" in columns else [None] * len(self.paths)
        self.soft = np.asarray(self.rows["soft_label"], dtype=np.float32)
        self.domains = np.asarray(self.rows["domain"], dtype=np.int64)
        if self.domain_map is not None:
            self.domains = np.asarray(self.domain_map, dtype=np.int64)[self.domains]
        self.seconds = defaultdict(float)  # wall time per stage (decode, augment, features), for benchmarks/step_time.py

    def _clip(self, index: int, rng: np.random.Generator) -> np.ndarray:
        start_time = time.perf_counter()
        if self.store is not None:
            wave = self.store[index]
        else:
            wave = load_audio(self.paths[index], offset=self.offsets[index], duration=self.durations[index])
        limit = int(self.window * SAMPLING_RATE)
        if wave.size > limit:  # random crop of an over-long clip
            start = int(rng.integers(0, wave.size - limit + 1))
            wave = wave[start : start + limit]
        decoded = time.perf_counter()
        self.seconds["decode"] += decoded - start_time
        if self.augmenter is not None:
            wave = self.augmenter(wave, rng)[:limit]
        self.seconds["augment"] += time.perf_counter() - decoded
        return wave

    def micro_batch(self, packs: list[list[int]], rng: np.random.Generator) -> dict:
        from .augment import spec_augment

        waves, segments, labels, domains = [], [], [], []
        for pack in packs:
            clips = [self._clip(i, rng) for i in pack]
            ids = np.concatenate([np.full(c.size, s + 1, dtype=np.int64) for s, c in enumerate(clips)])
            wave = np.concatenate(clips)[: int(self.window * SAMPLING_RATE)]
            waves.append(wave)
            segments.append(ids[: wave.size][::HOP])
        start_time = time.perf_counter()
        features, mask = mel_features(self.feature_extractor, waves)
        segment_ids = torch.zeros(mask.shape, dtype=torch.long)
        for row, (ids, pack) in enumerate(zip(segments, packs)):
            n = min(ids.size, segment_ids.shape[1])
            segment_ids[row, :n] = torch.from_numpy(ids[:n])
            # Augmentation (resampling) can push clips past the window's end, where the concatenation is cut. A clip
            # left without an encoder frame (every second mel frame) has no pooled segment: its label and domain go
            # with it, and the clips that stay are numbered 1..k again, so that labels and segments pair one to one.
            kept = torch.unique(segment_ids[row, ::2])
            kept = kept[kept > 0]
            renumber = torch.zeros(len(pack) + 1, dtype=torch.long)
            renumber[kept] = torch.arange(1, len(kept) + 1)
            segment_ids[row] = renumber[segment_ids[row]]
            labels.append(self.soft[pack][kept.numpy() - 1])
            domains.append(self.domains[pack][kept.numpy() - 1])
        if self.spec_augment_p > 0:
            for row in range(features.shape[0]):
                features[row] = spec_augment(features[row], int((segment_ids[row] > 0).sum()), rng, self.spec_augment_p)
        self.seconds["features"] += time.perf_counter() - start_time
        window_frames = int(self.window * SAMPLING_RATE / HOP)
        return {
            "input_features": features,
            "segment_ids": segment_ids,
            "labels": torch.from_numpy(np.concatenate(labels)),
            "domain_labels": torch.from_numpy(np.concatenate(domains)),
            "padding_fraction": torch.tensor(1.0 - float((segment_ids > 0).sum()) / (len(packs) * window_frames)),
        }

    def __call__(self, items: list[dict]) -> dict:
        (item,) = items  # per_device_train_batch_size is 1: one item is one step's worth of packs
        rng = np.random.default_rng([self.seed, item["item"]])
        return {"micro_batches": [self.micro_batch(packs, rng) for packs in item["micro_batches"]]}


@dataclass
class ClipCollator:
    """Evaluation: each clip alone at its own length, padded to the longest in the batch, with its attention mask.
    A clip longer than 30 s is scored whole, as 30 s windows (`window_counts`) the model pools: the same rule as
    the pipeline and `inference.predict_clips`."""

    feature_extractor: object

    def __call__(self, rows: list[dict]) -> dict:
        waves = [load_audio(r["path"], offset=r.get("offset", 0.0), duration=r.get("duration")) for r in rows]
        batch = clip_batch(self.feature_extractor, waves)
        if "soft_label" in rows[0]:
            batch["labels"] = torch.tensor([r["soft_label"] for r in rows], dtype=torch.float32)
        return batch

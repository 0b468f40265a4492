"""Corpora -> one harmonized, soft-labelled `datasets.DatasetDict` (paper 2.1, 2.2).

    python -m data_scripts.build --corpus ravdess=PATH --corpus tess=PATH ... --out data/corpus [--split speaker]

Steps: 1. find each corpus's utterances (per-corpus modules, one shared mechanism); 2. probe every file (duration,
rate, silence, a hash of its samples) in parallel; 3. harmonize labels to the 8 emotions and neutral-smooth per
dataset; 4. assign domain ids; 5. split (random 95/5 or by speaker; identical audio never straddles two splits);
6. save with the domain vocabulary, a summary and the list of skipped files. Re-running with the same inputs is a
no-op, and a rebuild gives identical data.
"""

import argparse
import hashlib
import json
import logging
import sys
import zlib
from collections import Counter, defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from data_scripts.corpora import REGISTRY
from data_scripts.corpora.base import CorpusError
from modeling_emotion_whisper.audio import AudioError, check_length, read_region
from modeling_emotion_whisper.configuration_emotion_whisper import EMOTIONS
from modeling_emotion_whisper.labels import SMOOTHING_TARGETS, harmonize, soft_labels

logger = logging.getLogger("data_scripts.build")
SILENCE_PEAK = 1e-4  # -80 dBFS: nothing audible
FORMAT_VERSION = 3  # 3: per-dataset split generators, validation_speakers.json, too-short and NaN clips skipped


def probe(task: tuple) -> dict:
    """Decode one utterance (a file, or a region of one): duration, rate, peak, and a hash of its samples
    (equal audio, equal hash). A file that training or evaluation could not use is skipped here, with the reason,
    by the same rules they apply (audio.MIN_SECONDS, finite samples)."""
    key, path, offset, duration = task
    try:
        data, rate = read_region(path, offset, duration, dtype="float32")
    except AudioError as err:
        return {"key": key, "error": f"unreadable: {err}"}
    if data.shape[0] == 0:
        return {"key": key, "error": "empty: no samples"}
    if not np.isfinite(data).all():
        return {"key": key, "error": "NaN or infinite samples"}
    try:
        check_length(data.shape[0], "too short", rate)
    except AudioError as err:
        return {"key": key, "error": str(err)}
    peak = float(np.abs(data).max())
    if peak < SILENCE_PEAK:
        return {"key": key, "error": f"silent: peak {peak:.1e}"}
    # hashed as 16-bit PCM: the same recording decoded with a slightly different float rounding hashes the same
    pcm = np.clip(np.round(data * 32768.0), -32768, 32767).astype(np.int16)
    return {
        "key": key, "duration": data.shape[0] / rate, "sampling_rate": int(rate), "channels": int(data.shape[1]),
        "audio_sha1": hashlib.sha1(np.ascontiguousarray(pcm).tobytes()).hexdigest(),
    }


def _speaker_units(rows: list[dict]) -> list[list[int]]:
    """Groups of row indices that must share a split: one speaker's rows, merged with every other speaker that
    shares identical audio with it (union-find), so neither a speaker nor a recording straddles splits."""
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_speaker = {}
    for row in rows:
        speaker = (row["dataset"], row["speaker"])
        other = first_speaker.setdefault(row["audio_sha1"], speaker)
        parent[find(speaker)] = find(other)
    units = defaultdict(list)
    for i, row in enumerate(rows):
        units[find((row["dataset"], row["speaker"]))].append(i)
    return [units[key] for key in sorted(units)]


def split_rows(rows: list[dict], mode: str, fraction: float, seed: int, pinned: dict | None = None) -> list[str]:
    """'random': the paper's random split over distinct recordings; 'speaker': per dataset, whole speakers go to
    validation until it holds `fraction` of that dataset, never its last speaker. Each dataset draws from its own
    generator (seeded by `seed` and its name), so adding or removing a corpus never moves another's speakers.
    `pinned` ({dataset: [speaker, ...]}, speaker mode) fixes a dataset's validation speakers instead of drawing them,
    to reproduce a published or earlier split. Either way, all copies of identical audio land in the same split."""
    pinned = {k: set(v) for k, v in (pinned or {}).items()}
    if mode == "random":
        groups = defaultdict(list)
        for i, row in enumerate(rows):
            groups[row["audio_sha1"]].append(i)
        units = [groups[key] for key in sorted(groups)]
        by_dataset = {"*": list(range(len(units)))}
    elif mode == "speaker":
        units = _speaker_units(rows)
        by_dataset = defaultdict(list)
        for u, members in enumerate(units):
            by_dataset[rows[members[0]]["dataset"]].append(u)
    else:
        raise ValueError(f"--split must be 'random' or 'speaker', got {mode!r}")
    if pinned and mode != "speaker":
        raise ValueError("--validation_speakers needs --split speaker")
    validation = set()
    for dataset in sorted(by_dataset):
        if dataset in pinned:
            speakers = {rows[i]["speaker"] for u in by_dataset[dataset] for i in units[u]}
            unknown = sorted(pinned[dataset] - speakers)
            if unknown:
                raise ValueError(f"--validation_speakers: {dataset} has no speaker(s) {', '.join(unknown)}; "
                                 f"it has {', '.join(sorted(speakers))}")
            for u in by_dataset[dataset]:
                if any(rows[i]["speaker"] in pinned[dataset] for i in units[u]):
                    validation.update(units[u])
            continue
        rng = np.random.default_rng(seed if mode == "random" else [seed, zlib.crc32(dataset.encode())])
        order = list(by_dataset[dataset])
        rng.shuffle(order)
        total = sum(len(units[u]) for u in order)
        taken = 0
        for u in order[:-1] if mode == "speaker" else order:  # training keeps at least one speaker per dataset
            if taken >= fraction * total:
                break
            validation.update(units[u])
            taken += len(units[u])
    return ["validation" if i in validation else "train" for i in range(len(rows))]


def validation_speakers(rows: list[dict], splits: list[str]) -> dict:
    """{dataset: sorted validation speakers}: written with every build, accepted back by --validation_speakers."""
    found = defaultdict(set)
    for row, split in zip(rows, splits):
        if split == "validation":
            found[row["dataset"]].add(row["speaker"])
    return {dataset: sorted(found[dataset]) for dataset in sorted(found)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", required=True, metavar="NAME=PATH",
                        help=f"a corpus and its folder; NAME in {', '.join(sorted(REGISTRY))}. Repeat per corpus.")
    parser.add_argument("--out", required=True, help="output folder (a DatasetDict saved with save_to_disk)")
    parser.add_argument("--split", default="random", choices=["random", "speaker"],
                        help="random: the paper's 95/5; speaker: no speaker in two splits")
    parser.add_argument("--validation_fraction", type=float, default=0.05, help="share of each split's data held out")
    parser.add_argument("--seed", type=int, default=42, help="seed of the split")
    parser.add_argument("--validation_speakers", metavar="JSON",
                        help="{dataset: [speaker, ...]}: these datasets take exactly these validation speakers (speaker"
                             " split); every build writes its own as validation_speakers.json. configs/splits/ holds"
                             " the split behind the results in docs/")
    parser.add_argument("--no_neutral_smoothing", action="store_true", help="skip paper 2.2's smoothing")
    parser.add_argument("--smoothing_target", choices=SMOOTHING_TARGETS, default="uniform",
                        help="where neutral smoothing moves a weak sample's alpha mass: 'uniform' (the paper's "
                             "formula) or 'neutral' (its stated intent)")
    parser.add_argument("--num_proc", type=int, default=2, help="processes that decode and probe the audio")
    parser.add_argument("--overwrite", action="store_true", help="rebuild even if the output is up to date")
    parser.add_argument("--push_to_hub", metavar="REPO_ID", help="also upload the DatasetDict to this Hub dataset repo")
    return parser.parse_args(argv)


def collect(corpus_args: list[str]) -> dict:
    """Step 1: NAME=PATH -> {name: (Corpus, [Utterance])}, with loud errors for unknown names and bad folders."""
    found = {}
    for spec in corpus_args:
        name, sep, path = spec.partition("=")
        name = name.strip().lower()
        if not sep or not path:
            raise CorpusError(f"--corpus {spec!r}: write it as NAME=PATH, e.g. --corpus ravdess=/data/RAVDESS")
        if name not in REGISTRY:
            raise CorpusError(f"--corpus {name}: unknown corpus. Known: {', '.join(sorted(REGISTRY))}")
        corpus = REGISTRY[name]
        # absolute paths in the rows: a dataset built from a relative path would only load from the same folder
        utterances = corpus.prepare(Path(path).expanduser().resolve())
        if corpus.official_count is not None and len(utterances) != corpus.official_count:
            logger.warning("%s: found %d files, the official release has %d", name, len(utterances),
                           corpus.official_count)
        found[name] = (corpus, utterances)
    return found


def build_rows(found: dict, probes: dict, smoothing: bool, target: str = "uniform"):
    """Steps 3-4: rows with harmonized soft labels (smoothed per dataset) and domain ids; skipped files listed."""
    rows, skipped = [], []
    for name, (corpus, utterances) in found.items():
        kept = []
        for u in utterances:
            info = probes[u.key]
            if "error" in info:
                skipped.append({"dataset": name, "path": u.key, "reason": info["error"]})
            else:
                kept.append((u, info))
        if not kept:
            continue
        soft = soft_labels([harmonize(u.labels) for u, _ in kept], smoothing=smoothing, target=target,
                           measure=corpus.intensity)
        for (u, info), label in zip(kept, soft):
            language = u.language or corpus.language
            rows.append({
                "audio": {"path": u.path, "bytes": None}, "path": u.path, "offset": float(u.offset),
                "duration": float(info["duration"]),
                "sampling_rate": info["sampling_rate"], "soft_label": [float(x) for x in label],
                "label": int(np.argmax(label)), "source_label": json.dumps(u.labels, sort_keys=True),
                "dataset": name, "speaker": f"{name}/{u.speaker}", "gender": u.gender or "", "language": language,
                "text": u.text or "", "partition": u.partition or "", "audio_sha1": info["audio_sha1"],
                "domain_name": f"{name}|{u.speaker}|{language}",
            })
    vocabulary = sorted({row["domain_name"] for row in rows})
    index = {d: i for i, d in enumerate(vocabulary)}
    for row in rows:
        row["domain"] = index[row["domain_name"]]
    return rows, skipped, vocabulary


def summarize(found, rows, skipped, splits) -> str:
    """A markdown table per corpus: files, skipped, speakers, hours, hard-label distribution, split sizes."""
    skipped_by = Counter(s["dataset"] for s in skipped)
    header = ["corpus", "files", "official", "skipped", "speakers", "hours", "train", "validation",
              *[e[:4] for e in EMOTIONS]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, (corpus, _) in found.items():
        mine = [(r, s) for r, s in zip(rows, splits) if r["dataset"] == name]
        labels = Counter(EMOTIONS[r["label"]] for r, _ in mine)
        cells = [name, len(mine), corpus.official_count or "?", skipped_by[name], len({r["speaker"] for r, _ in mine}),
                 f"{sum(r['duration'] for r, _ in mine) / 3600:.2f}", sum(s == "train" for _, s in mine),
                 sum(s == "validation" for _, s in mine), *[labels.get(e, 0) for e in EMOTIONS]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if skipped:
        lines.append("\nSkipped files:\n" + "\n".join(f"- {s['path']}: {s['reason']}" for s in skipped))
    return "\n".join(lines)


def read_pinned(path) -> dict:
    if not path:
        return {}
    try:
        pinned = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise CorpusError(f"--validation_speakers {path}: cannot read it as JSON ({err})") from None
    if not isinstance(pinned, dict) or not all(isinstance(v, list) for v in pinned.values()):
        raise CorpusError(f"--validation_speakers {path}: expected {{dataset: [speaker, ...]}}")
    return pinned


def signature(args, found) -> str:
    """What the output depends on: settings and every input file's path, size and modification time."""
    digest = hashlib.sha256()
    settings = {k: getattr(args, k) for k in ("split", "validation_fraction", "seed", "no_neutral_smoothing")}
    if args.smoothing_target != "uniform":  # builds made before this option keep their signature
        settings["smoothing_target"] = args.smoothing_target
    settings["validation_speakers"] = read_pinned(args.validation_speakers)
    digest.update(json.dumps([FORMAT_VERSION, settings, sorted(found)], sort_keys=True).encode())
    for name in sorted(found):
        for u in found[name][1]:
            stat = Path(u.path).stat()
            digest.update(f"{u.key}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def main(argv=None) -> Path:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    out = Path(args.out)

    # 1. Find the utterances of every corpus.
    found = collect(args.corpus)
    sig = signature(args, found)
    stamp = out / "build_config.json"
    if stamp.exists() and not args.overwrite and json.loads(stamp.read_text()).get("signature") == sig:
        logger.info("%s is up to date with these inputs; nothing to do (--overwrite rebuilds)", out)
        return out

    # 2. Probe every file once, in parallel.
    tasks = [(u.key, u.path, u.offset, u.duration) for _, utterances in found.values() for u in utterances]
    with Pool(max(1, args.num_proc)) as pool:
        probes = {p["key"]: p for p in tqdm(pool.imap(probe, tasks, chunksize=16), total=len(tasks), desc="probing audio")}

    # 3-4. Labels and domains.
    rows, skipped, vocabulary = build_rows(found, probes, smoothing=not args.no_neutral_smoothing,
                                           target=args.smoothing_target)
    if not rows:
        raise CorpusError("every file was skipped; see the reasons above")

    # 5. Split.
    try:
        splits = split_rows(rows, args.split, args.validation_fraction, args.seed, read_pinned(args.validation_speakers))
    except ValueError as err:
        raise CorpusError(str(err)) from None

    # 6. Save.
    from datasets import Audio, Dataset, DatasetDict

    out.mkdir(parents=True, exist_ok=True)
    parts = {}
    for part in ("train", "validation"):
        chosen = [r for r, s in zip(rows, splits) if s == part]
        columns = {key: [r[key] for r in chosen] for key in rows[0]}
        parts[part] = Dataset.from_dict(columns).cast_column("audio", Audio(decode=False))
    dataset = DatasetDict(parts)
    dataset.save_to_disk(str(out))
    (out / "domains.json").write_text(json.dumps(vocabulary, indent=1))
    (out / "skipped.json").write_text(json.dumps(skipped, indent=1))
    (out / "validation_speakers.json").write_text(json.dumps(validation_speakers(rows, splits), indent=1))
    table = summarize(found, rows, skipped, splits)
    (out / "summary.md").write_text(table + "\n")
    stamp.write_text(json.dumps({"signature": sig, "args": vars(args), "emotions": list(EMOTIONS),
                                 "num_domains": len(vocabulary)}, indent=1))
    print(table)
    print(f"\nSaved {len(rows)} clips ({sum(r['duration'] for r in rows) / 3600:.2f} h), "
          f"{len(vocabulary)} domains, {len(skipped)} skipped, to {out}")
    if args.push_to_hub:
        dataset.push_to_hub(args.push_to_hub)
    return out


if __name__ == "__main__":
    try:
        main()
    except CorpusError as err:
        sys.exit(f"error: {err}")

"""The one mechanism every corpus module uses.

A corpus module defines a `Corpus` (name, language, official count, licence, expected layout) and a function
`items(root) -> list[Utterance]`. Most corpora encode everything in their file names: for those, `scan` walks the
tree and hands each audio path to a small per-corpus parser. Corpora with annotation files read them and yield
Utterances directly.
"""

import csv
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from modeling_emotion_whisper.audio import AUDIO_SUFFIXES as AUDIO_EXTENSIONS


class CorpusError(ValueError):
    """A corpus folder is missing or is not laid out as its publisher distributes it."""


@dataclass
class Utterance:
    path: str
    speaker: str
    labels: dict[str, float]  # source label -> score: 1 for a plain label, a vote share or an intensity in [0, 1]
    language: str | None = None  # when it differs from the corpus's (bilingual corpora)
    gender: str | None = None
    text: str | None = None
    partition: str | None = None  # an official partition, where the corpus has one
    offset: float = 0.0  # seconds: for corpora whose utterances are regions of longer recordings (CMU-MOSEI)
    duration: float | None = None

    @property
    def key(self) -> str:
        """Unique per utterance, also when several are regions of one file."""
        return self.path if self.duration is None else f"{self.path}@{self.offset:.3f}+{self.duration:.3f}"


@dataclass(frozen=True)
class Corpus:
    name: str
    title: str
    language: str  # ISO 639-1
    official_count: int | None
    license: str
    url: str
    layout: str  # the expected tree, quoted in errors
    items: Callable[[Path], list[Utterance]] = field(repr=False)
    # How neutral smoothing reads a clip's intensity (modeling_emotion_whisper.labels.intensity): "sum" of its scores,
    # or "agreement", the top score, for corpora whose scores are vote shares (they always sum to 1).
    intensity: str = "sum"

    def prepare(self, root) -> list[Utterance]:
        """Check the folder, collect its utterances, fail loudly when nothing matches the published layout."""
        root = Path(root)
        if not root.is_dir():
            raise CorpusError(f"{self.name}: {root} is not a folder. Expected the {self.title} layout:\n{self.layout}")
        found = sorted(self.items(root), key=lambda u: u.path)
        if not found:
            raise CorpusError(
                f"{self.name}: no {self.title} files found under {root}. Expected the layout:\n{self.layout}"
            )
        return found


def audio_files(root: Path) -> Iterable[Path]:
    """Every audio file below root, whatever its extension case, skipping hidden and macOS resource files."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__MACOSX")))
        for name in sorted(filenames):
            if not name.startswith((".", "._")) and Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                yield Path(dirpath) / name


def scan(root: Path, pattern: str, parse: Callable[[re.Match, Path], Utterance | None]) -> list[Utterance]:
    """File-name-coded corpora: match `pattern` (a regex, case-insensitive) against each audio file's path relative
    to root, without extension and with '/' separators, and let `parse` turn the match into an Utterance (or None
    to leave a file out on purpose, e.g. the song half of RAVDESS)."""
    regex = re.compile(pattern, re.IGNORECASE)
    found = []
    for path in audio_files(root):
        relative = path.relative_to(root).with_suffix("").as_posix()
        match = regex.search(relative)
        if match:
            utterance = parse(match, path)
            if utterance is not None:
                found.append(utterance)
    return found


def find_file(root: Path, *names: str) -> Path:
    """The first of `names` (relative paths, tried case-insensitively) that exists below root."""
    for name in names:
        for candidate in [root / name, *root.rglob(Path(name).name)]:
            if candidate.is_file():
                return candidate
    raise CorpusError(f"{root}: none of {', '.join(names)} found")


def read_table(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(handle, delimiter=delimiter)]


def index_audio(root: Path) -> dict[str, Path]:
    """Stem (lower case) -> path, for corpora whose annotation files name utterances without folders."""
    return {path.stem.lower(): path for path in audio_files(root)}


def one_label(label: str) -> dict[str, float]:
    return {label: 1.0}

"""MELD (Poria et al. 2019), https://github.com/declare-lab/MELD.

Expected tree: train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv (columns Dialogue_ID, Utterance_ID,
Emotion, Speaker) and the clips of train_splits/, dev_splits_complete/, output_repeated_splits_test/ as
dia<D>_utt<U>.wav. MELD ships MP4 video, which libsndfile cannot read: extract the audio first, e.g.
`for f in */*.mp4; do ffmpeg -i "$f" -ac 1 -ar 16000 "${f%.mp4}.wav"; done`. Emotions: anger, disgust, fear, joy,
neutral, sadness, surprise. Official count: 13708 utterances. Partition: train/dev/test.
"""

import re

from .base import Corpus, CorpusError, Utterance, audio_files, read_table

SPLITS = {"train": ("train_sent_emo.csv", "train_splits"), "dev": ("dev_sent_emo.csv", "dev_splits_complete"),
          "test": ("test_sent_emo.csv", "output_repeated_splits_test")}


def items(root):
    tables = {split: next(iter(sorted(root.rglob(csv))), None) for split, (csv, _) in SPLITS.items()}
    if not any(tables.values()):
        raise CorpusError(f"meld: none of {', '.join(c for c, _ in SPLITS.values())} under {root}")
    clips = {}
    for path in audio_files(root):
        match = re.fullmatch(r"dia(\d+)_utt(\d+)", path.stem)
        for split, (_, folder) in SPLITS.items():
            if match and folder in path.parts:
                clips[(split, int(match.group(1)), int(match.group(2)))] = path
    found = []
    for split, table in tables.items():
        for row in read_table(table) if table else []:
            path = clips.get((split, int(row["Dialogue_ID"]), int(row["Utterance_ID"])))
            if path is not None:
                found.append(Utterance(str(path), row["Speaker"], {row["Emotion"].lower(): 1.0},
                                       text=row.get("Utterance"), partition=split))
    return found


CORPUS = Corpus(
    name="meld", title="MELD", language="en", official_count=13708, license="GPL-3.0",
    url="https://github.com/declare-lab/MELD",
    layout="MELD.Raw/train_sent_emo.csv, train_splits/dia0_utt0.wav (audio extracted from the MP4s)",
    items=items,
)

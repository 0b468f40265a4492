"""URDU (Latif et al. 2018), https://github.com/siddiquelatif/URDU-Dataset.

Expected tree: <Angry|Happy|Neutral|Sad>/<speaker>_<file>_<E><nn>.wav, e.g. Angry/SM1_F1_A01.wav, with the
speaker (SM1, SF2, ...) first and the emotion letter (A S H N) last. Urdu talk-show speech, 38 speakers.
Official count: 400 (100 per emotion).
"""

from .base import Corpus, Utterance, scan

EMOTION = {"A": "anger", "H": "happiness", "N": "neutral", "S": "sadness"}


def _parse(match, path):
    speaker, emotion = match.group(1).upper(), match.group(2).upper()
    return Utterance(str(path), speaker, {EMOTION[emotion]: 1.0})


CORPUS = Corpus(
    name="urdu", title="URDU", language="ur", official_count=400, license="free for research",
    url="https://github.com/siddiquelatif/URDU-Dataset",
    layout="URDU-Dataset/Angry/SM1_F1_A01.wav ... Sad/SM9_F9_S09.wav",
    items=lambda root: scan(root, r"(?:^|/)(?:Angry|Happy|Neutral|Sad)/(S[MF]\d+)_[^/]*_([AHNS])\d+$", _parse),
)

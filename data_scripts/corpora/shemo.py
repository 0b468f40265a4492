"""ShEMO, Sharif emotional speech database (Mohamad Nezami et al. 2019), https://github.com/mansourehk/ShEMO.

Expected tree: female/ and male/ with files <G><nn><E><nn>.wav, e.g. F01A01.wav: speaker F01, emotion A.
Emotion letters: A anger, F fear, H happiness, N neutral, S sadness, W surprise. Persian radio plays, 87 speakers.
Official count: 3000.
"""

from .base import Corpus, Utterance, scan

EMOTION = {"A": "anger", "F": "fear", "H": "happiness", "N": "neutral", "S": "sadness", "W": "surprise"}


def _parse(match, path):
    speaker, emotion = match.group(1).upper(), match.group(2).upper()
    return Utterance(str(path), speaker, {EMOTION[emotion]: 1.0}, gender="female" if speaker[0] == "F" else "male")


CORPUS = Corpus(
    name="shemo", title="ShEMO", language="fa", official_count=3000, license="free for academic research",
    url="https://github.com/mansourehk/ShEMO",
    layout="ShEMO/female/F01A01.wav ... male/M56S12.wav",
    items=lambda root: scan(root, r"(?:^|/)(?:female|male)/([FM]\d\d)([AFHNSW])\d\d$", _parse),
)

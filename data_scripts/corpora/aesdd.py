"""AESDD, Acted Emotional Speech Dynamic Database (Vryzas et al. 2018), http://m3c.web.auth.gr/research/aesdd-speech-emotion-recognition/.

Expected tree: one folder per emotion (anger, disgust, fear, happiness, sadness), files `<x><AA> (<B>).wav`:
x the emotion's first letter, AA the utterance (01-20), B the speaker (1, 2, ...); a few takes carry a suffix
letter (`a01 (1)b.wav`). Greek. Official count: 604 (the paper's Table 1; v1.0 had about 500).
"""

from .base import Corpus, Utterance, scan

EMOTION = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "s": "sadness"}


def _parse(match, path):
    emotion, speaker = match.group(1).lower(), match.group(2)
    return Utterance(str(path), f"speaker{speaker}", {EMOTION[emotion]: 1.0})


CORPUS = Corpus(
    name="aesdd", title="AESDD", language="el", official_count=604, license="free for research",
    url="http://m3c.web.auth.gr/research/aesdd-speech-emotion-recognition/",
    layout="Acted Emotional Speech Dynamic Database/anger/a01 (1).wav ... sadness/s20 (6).wav",
    items=lambda root: scan(root, r"(?:^|/)([adfhs])\d\d ?\((\d+)\)[a-z]?$", _parse),
)

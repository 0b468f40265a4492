"""SAVEE, Surrey audio-visual expressed emotion (Jackson & Haq 2014), http://kahlan.eps.surrey.ac.uk/savee/.

Expected tree, as published: AudioData/<SPEAKER>/<code><nn>.wav with speakers DC, JE, JK, KL (male, British
English); the widely mirrored flat copy `<SPEAKER>_<code><nn>.wav` is accepted too. Codes: a anger, d disgust,
f fear, h happiness, n neutral, sa sadness, su surprise. Official count: 480 (120 neutral, 60 of each other).
"""

from .base import Corpus, Utterance, scan

EMOTION = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness",
           "su": "surprise"}


def _parse(match, path):
    speaker, code = match.group(1).upper(), match.group(2).lower()
    return Utterance(str(path), speaker, {EMOTION[code]: 1.0}, gender="male")


CORPUS = Corpus(
    name="savee", title="SAVEE", language="en", official_count=480, license="free for research use after registration",
    url="http://kahlan.eps.surrey.ac.uk/savee/",
    layout="SAVEE/AudioData/DC/a01.wav ... KL/su15.wav (or flat: DC_a01.wav ... KL_su15.wav)",
    items=lambda root: scan(root, r"(?:^|/)(DC|JE|JK|KL)[/_](sa|su|a|d|f|h|n)(\d\d)$", _parse),
)

"""MASC, Mandarin Affective Speech Corpus (Wu et al. 2006), LDC2007S09.

Expected tree: <...>/<speaker>/<emotion>/<utterance>.wav with emotion in {neutral, anger, elation, panic, sadness};
68 speakers. Official count: 25636 (paper's Table 1). elation -> happiness, panic -> fear (Shaver: terror/panic is
in the fear cluster).
"""

from .base import Corpus, Utterance, scan

EMOTION = {"neutral": "neutral", "anger": "anger", "elation": "joy", "panic": "fear", "sadness": "sadness"}


def _parse(match, path):
    speaker, emotion = match.group(1), match.group(2).lower()
    return Utterance(str(path), speaker, {EMOTION[emotion]: 1.0})


CORPUS = Corpus(
    name="masc", title="MASC", language="zh", official_count=25636, license="LDC user agreement",
    url="https://catalog.ldc.upenn.edu/LDC2007S09",
    layout="MASC/wav/<speaker>/{neutral,anger,elation,panic,sadness}/<utterance>.wav",
    items=lambda root: scan(root, r"(?:^|/)([^/]+)/(neutral|anger|elation|panic|sadness)/[^/]+$", _parse),
)

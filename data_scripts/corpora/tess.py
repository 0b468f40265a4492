"""TESS, Toronto emotional speech set (Dupuis & Pichora-Fuller 2010), https://doi.org/10.5683/SP2/E8H2MF.

Expected tree: one folder per speaker and emotion (names vary in case and spelling: `OAF_Fear`, `YAF_pleasant_surprised`,
`OAF_Pleasant_surprise`), files `<SPEAKER>_<word>_<emotion>.wav`, emotion in {angry, disgust, fear, happy, neutral,
ps, sad} (ps = pleasant surprise). Two speakers, OAF (older) and YAF (younger), both female; 200 words each.
Official count: 2800 (400 per emotion). The speaker is read from the folder because one file is named `OA_bite_neutral`.
Published quirks: one file at 96 kHz, two AIFF files named .wav (soundfile reads them by content).
"""

from .base import Corpus, Utterance, scan

EMOTION = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
           "ps": "pleasant surprise", "sad": "sad"}


def _parse(match, path):
    folder_speaker, emotion = match.group(1).upper(), match.group(2).lower()
    return Utterance(str(path), folder_speaker, {EMOTION[emotion]: 1.0}, gender="female")


CORPUS = Corpus(
    name="tess", title="TESS", language="en", official_count=2800, license="CC BY-NC-ND 4.0",
    url="https://doi.org/10.5683/SP2/E8H2MF",
    layout="TESS/OAF_angry/OAF_back_angry.wav ... YAF_sad/YAF_youth_sad.wav (14 folders)",
    items=lambda root: scan(root, r"(?:^|/)(OAF|YAF)_[^/]+/[^/]+_(angry|disgust|fear|happy|neutral|ps|sad)$", _parse),
)

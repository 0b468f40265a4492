"""CREMA-D (Cao et al. 2014), https://github.com/CheyneyComputerScience/CREMA-D.

Expected tree: AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav (16 kHz; AudioMP3/ holds the same as MP3),
actor 1001-1091, emotion ANG DIS FEA HAP NEU SAD, level LO MD HI or XX (unspecified). Official count: 7442
(1076_MTI_SAD_XX holds no signal: the build lists it as silent). Soft label: the acted emotion scored by its
level (LO 0.5, MD 0.75, HI 1.0, XX 1.0), so neutral smoothing softens the low-intensity takes.
"""

from .base import Corpus, Utterance, scan

EMOTION = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness", "NEU": "neutral", "SAD": "sadness"}
LEVEL = {"LO": 0.5, "MD": 0.75, "HI": 1.0, "XX": 1.0, "X": 1.0}


def _parse(match, path):
    actor, emotion, level = match.group(1), match.group(2).upper(), match.group(3).upper()
    return Utterance(str(path), actor, {EMOTION[emotion]: LEVEL[level]})


CORPUS = Corpus(
    name="cremad", title="CREMA-D", language="en", official_count=7442, license="Open Database License (ODbL)",
    url="https://github.com/CheyneyComputerScience/CREMA-D",
    layout="CREMA-D/AudioWAV/1001_DFA_ANG_XX.wav ... 1091_WSI_SAD_XX.wav",
    items=lambda root: scan(root, r"(?:^|/)AudioWAV/(1\d{3})_[A-Z]{3}_(ANG|DIS|FEA|HAP|NEU|SAD)_(LO|MD|HI|XX|X)$", _parse),
)

"""SUBESCO, SUST Bangla emotional speech corpus (Sultana et al. 2021), https://doi.org/10.5281/zenodo.4526477.

Expected tree: <G>_<nn>_<NAME>_S_<sentence>_<EMOTION>_<take>.wav, e.g. F_01_OISHI_S_1_ANGRY_1.wav; EMOTION in
ANGRY DISGUST FEAR HAPPY NEUTRAL SAD SURPRISE; 20 speakers. Official count: 7000.
"""

from .base import Corpus, Utterance, scan


def _parse(match, path):
    gender, number, emotion = match.group(1).upper(), match.group(2), match.group(3).lower()
    return Utterance(str(path), f"{gender}{number}", {emotion: 1.0}, gender="female" if gender == "F" else "male")


CORPUS = Corpus(
    name="subesco", title="SUBESCO", language="bn", official_count=7000, license="CC BY 4.0",
    url="https://doi.org/10.5281/zenodo.4526477",
    layout="SUBESCO/F_01_OISHI_S_1_ANGRY_1.wav ... M_10_SADIK_S_10_SURPRISE_5.wav",
    items=lambda root: scan(root, r"(?:^|/)([MF])_(\d+)_[A-Z]+_S_\d+_(ANGRY|DISGUST|FEAR|HAPPY|NEUTRAL|SAD|SURPRISE)_\d$", _parse),
)

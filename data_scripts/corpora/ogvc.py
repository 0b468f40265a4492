"""OGVC, Online Gaming Voice Chat corpus, acted part (Arimoto et al. 2012), https://research.nii.ac.jp/src/en/OGVC.html.

Expected tree (Vol. 2, acted speech): Acted/wav/<speaker F1|F2|M1|M2>/<...>/<7-character prefix><EMO><level>.wav,
EMO in ACC (acceptance), ANG, ANT (anticipation), DIS, FEA, JOY, SAD, SUR, level 0-3. Level 0 is read without
emotion and becomes neutral; levels 1-3 score the emotion 1/3, 2/3, 1. Official count of the acted part: 2656.
Left out: the spontaneous part (Vol. 1), whose ratings come in a separate table this parser does not read yet.
"""

from .base import Corpus, Utterance, scan

EMOTION = {"ACC": "acceptance", "ANG": "anger", "ANT": "anticipation", "DIS": "disgust", "FEA": "fear",
           "JOY": "joy", "SAD": "sadness", "SUR": "surprise"}


def _parse(match, path):
    speaker, emotion, level = match.group(1).upper(), match.group(2).upper(), int(match.group(3))
    labels = {"neutral": 1.0} if level == 0 else {EMOTION[emotion]: level / 3}
    return Utterance(str(path), speaker, labels, gender="female" if speaker[0] == "F" else "male")


CORPUS = Corpus(
    name="ogvc", title="OGVC (acted)", language="ja", official_count=2656, license="NII-SRC research license",
    url="https://research.nii.ac.jp/src/en/OGVC.html",
    layout="OGVC/Acted/wav/F1/<session>/FOY0101ANG1.wav",
    items=lambda root: scan(root, r"(?:^|/)([FM][12])/(?:[^/]+/)*[^/]{7}(ACC|ANG|ANT|DIS|FEA|JOY|SAD|SUR)([0-3])$", _parse),
)

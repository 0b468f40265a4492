"""EmoDB, Berlin database of emotional speech (Burkhardt et al. 2005), http://emodb.bilderbar.info/.

Expected tree: wav/<speaker><text><emotion><version>.wav, e.g. 03a01Fa.wav: speaker 03, text a01, emotion F, take a.
Emotion letters (German): W Ärger anger, L Langeweile boredom, E Ekel disgust, A Angst fear, F Freude happiness,
T Trauer sadness, N neutral. Ten speakers (03 08 09 10 11 12 13 14 15 16). Official count: 535.
"""

from .base import Corpus, Utterance, scan

EMOTION = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}
MALE = {"03", "10", "11", "12", "15"}


def _parse(match, path):
    speaker, emotion = match.group(1), match.group(2).upper()
    return Utterance(str(path), speaker, {EMOTION[emotion]: 1.0}, gender="male" if speaker in MALE else "female")


CORPUS = Corpus(
    name="emodb", title="EmoDB", language="de", official_count=535, license="free for research",
    url="http://emodb.bilderbar.info/",
    layout="emodb/wav/03a01Fa.wav ... 16b10Wb.wav",
    items=lambda root: scan(root, r"(?:^|/)(\d\d)[ab]\d\d([WLEAFTN])[a-z]$", _parse),
)

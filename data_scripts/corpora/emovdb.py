"""EmoV-DB (Adigwe et al. 2018), https://github.com/numediart/EmoV-DB (the "sorted" release, or OpenSLR 115).

Expected tree: <speaker>/<Emotion>/<emotion>_<a>-<b>_<nnnn>.wav with speakers bea, jenie (female), josh, sam (male)
and Emotion in {Amused, Angry, Disgusted, Neutral, Sleepy}; OpenSLR's flat folders `<speaker>_<Emotion>/` work too.
Official count: 6893 (the paper's Table 1; Adigwe et al. report about 7000).
"""

from .base import Corpus, Utterance, scan

GENDER = {"bea": "female", "jenie": "female", "josh": "male", "sam": "male"}


def _parse(match, path):
    speaker, emotion = match.group(1).lower(), match.group(2).lower()
    return Utterance(str(path), speaker, {emotion: 1.0}, gender=GENDER[speaker])


CORPUS = Corpus(
    name="emovdb", title="EmoV-DB", language="en", official_count=6893, license="custom, non-commercial research",
    url="https://github.com/numediart/EmoV-DB",
    layout="EmoV-DB_sorted/bea/Amused/amused_1-15_0001.wav ... sam/Sleepy/*.wav (or bea_Amused/*.wav)",
    items=lambda root: scan(root, r"(?:^|/)(bea|jenie|josh|sam)[/_](amused|angry|disgusted|neutral|sleepy)/[^/]+$", _parse),
)

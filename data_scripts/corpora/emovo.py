"""EMOVO, Italian emotional speech (Costantini et al. 2014), http://voice.fub.it/activities/corpora/emovo/.

Expected tree: <actor f1 f2 f3 m1 m2 m3>/<emo>-<actor>-<sentence>.wav, emo in dis (disgusto), gio (gioia),
neu, pau (paura), rab (rabbia), sor (sorpresa), tri (tristezza). Official count: 588.
"""

from .base import Corpus, Utterance, scan

EMOTION = {"dis": "disgust", "gio": "happiness", "neu": "neutral", "pau": "fear", "rab": "anger", "sor": "surprise",
           "tri": "sadness"}


def _parse(match, path):
    emotion, actor = match.group(1).lower(), match.group(2).lower()
    return Utterance(str(path), actor, {EMOTION[emotion]: 1.0}, gender="female" if actor[0] == "f" else "male")


CORPUS = Corpus(
    name="emovo", title="EMOVO", language="it", official_count=588, license="free for research",
    url="http://voice.fub.it/activities/corpora/emovo/",
    layout="EMOVO/f1/dis-f1-b1.wav ... m3/tri-m3-n5.wav",
    items=lambda root: scan(root, r"(?:^|/)(dis|gio|neu|pau|rab|sor|tri)-([fm][1-3])-[a-z]+\d$", _parse),
)

"""CaFE, Canadian French emotional speech (Gournay et al. 2018), https://zenodo.org/record/1478765.

Expected tree: <Émotion>/[Faible|Fort/]<actor>-<E>-<intensity>-<sentence>.wav (48 kHz WAV or 192 kHz AIFF),
actors 01-12 (odd male), E in C colère, D dégoût, J joie, N neutre, P peur, S surprise, T tristesse; intensity
1 faible (weak, score 0.5), 2 fort (strong, 1.0); neutral has none. Official count: 936.
"""

from .base import Corpus, Utterance, scan

EMOTION = {"C": "anger", "D": "disgust", "J": "happiness", "N": "neutral", "P": "fear", "S": "surprise", "T": "sadness"}


def _parse(match, path):
    actor, emotion, intensity = match.group(1), match.group(2).upper(), match.group(3)
    score = 0.5 if emotion != "N" and intensity == "1" else 1.0
    return Utterance(str(path), actor, {EMOTION[emotion]: score}, gender="male" if int(actor) % 2 else "female")


CORPUS = Corpus(
    name="cafe", title="CaFE", language="fr", official_count=936, license="CC BY-NC-SA 4.0",
    url="https://zenodo.org/record/1478765",
    layout="CaFE/Colère/Faible/01-C-1-1.wav ... Neutre/12-N-6.wav",
    items=lambda root: scan(root, r"(?:^|/)(\d\d)-([CDJNPST])-(\d)(?:-\d)?$", _parse),
)

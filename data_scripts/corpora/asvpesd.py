"""ASVP-ESD (Landry et al. 2020), https://zenodo.org/record/7132783 (ASVP-ESD-Update).

Expected tree: Audio/actor_<nn>/<modality>-<vocal channel>-<emotion>-<intensity>-...wav: speech (vocal channel 01)
and non-speech sounds (02) collected from films, TV and the web, in several languages. Emotion codes: 01 boredom/sigh,
02 neutral/calm, 03 happy/laugh, 04 sad/cry, 05 angry/grunt, 06 fearful/scream, 07 disgust, 08 surprised, 09 excited,
10 pleasure, 11 pain, 12 disappointment, 13 breath/other; intensity 01 normal, 02 high. Official count: 7812
(plus 1204 baby sounds, which are left out: they are not speech of the labelled emotion categories).
The language is not recorded consistently, so it is set to "multi".
"""

from .base import Corpus, Utterance, scan

EMOTION = {"01": "boredom", "02": "neutral", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
           "07": "disgust", "08": "surprised", "09": "excited", "10": "pleasure", "11": "pain",
           "12": "disappointment", "13": "other"}
INTENSITY = {"01": 0.5, "02": 1.0}


def _parse(match, path):
    actor, emotion, intensity = match.group(1), match.group(2), match.group(3)
    return Utterance(str(path), f"actor{actor}", {EMOTION[emotion]: INTENSITY.get(intensity, 1.0)})


CORPUS = Corpus(
    name="asvpesd", title="ASVP-ESD", language="multi", official_count=7812, license="CC BY 4.0",
    url="https://zenodo.org/record/7132783",
    layout="ASVP-ESD-Update/Audio/actor_01/03-01-05-01-02-....wav",
    items=lambda root: scan(root, r"(?:^|/)actor_?(\d+)/\d\d-0[12]-(0[1-9]|1[0-3])-(0[12])(?:-[^/]*)?$", _parse),
)

"""RAVDESS speech (Livingstone & Russo 2018), https://zenodo.org/record/1188976 (Audio_Speech_Actors_01-24.zip).

Expected tree: Actor_01/ ... Actor_24/, each with 60 files `MM-VV-EE-II-SS-RR-AA.wav` (48 kHz):
MM modality (03 audio-only), VV vocal channel (01 speech, 02 song: the song download is left out),
EE emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised),
II intensity (01 normal, 02 strong; neutral has no strong take), SS statement, RR repetition, AA actor
(odd male, even female). Official count: 1440 speech files (96 neutral, 192 of each other emotion).
Soft label: the emotion scored 1.0 when strong and 0.5 when normal (neutral 1.0), so that neutral smoothing
(paper 2.2) softens the normal-intensity takes. Note: 03-01-03-01-02-01-07 and 03-01-03-01-02-02-07 are
byte-identical in the published release; the build keeps them in one split.
"""

from .base import Corpus, Utterance, scan

EMOTION = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
           "07": "disgust", "08": "surprised"}
INTENSITY = {"01": 0.5, "02": 1.0}


def _parse(match, path):
    modality, channel, emotion, intensity, _, _, actor = match.groups()
    if channel != "01":  # 02 = song
        return None
    score = 1.0 if emotion == "01" else INTENSITY[intensity]
    return Utterance(str(path), f"actor{actor}", {EMOTION[emotion]: score}, gender="male" if int(actor) % 2 else "female")


CORPUS = Corpus(
    name="ravdess", title="RAVDESS (speech)", language="en", official_count=1440, license="CC BY-NC-SA 4.0",
    url="https://zenodo.org/record/1188976",
    layout="RAVDESS/Actor_01/03-01-01-01-01-01-01.wav ... Actor_24/03-01-08-02-02-02-24.wav",
    items=lambda root: scan(root, r"(?:^|/)(0[1-3])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$", _parse),
)

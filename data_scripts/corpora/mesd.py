"""MESD, Mexican Emotional Speech Database (Duville et al. 2021), https://data.mendeley.com/datasets/cy34mh68j9.

Expected tree: <Emotion>_<voice>_<corpus>_<word>.wav, Emotion in {Anger, Disgust, Fear, Happiness, Neutral,
Sadness}, voice F (female adult), M (male adult) or C (child). Mexican Spanish single words. Official count: 864.
The voice type is the only speaker information the release gives, so it stands for the speaker.
"""

from .base import Corpus, Utterance, scan


def _parse(match, path):
    emotion, voice = match.group(1).lower(), match.group(2).upper()
    return Utterance(str(path), voice, {emotion: 1.0}, gender={"F": "female", "M": "male"}.get(voice))


CORPUS = Corpus(
    name="mesd", title="MESD", language="es", official_count=864, license="CC BY 4.0",
    url="https://data.mendeley.com/datasets/cy34mh68j9",
    layout="MESD/Anger_C_A_abajo.wav ... Sadness_M_B_zapato.wav",
    items=lambda root: scan(root, r"(?:^|/)(Anger|Disgust|Fear|Happiness|Neutral|Sadness)_([FMC])_[A-Z]_[^/]+$", _parse),
)

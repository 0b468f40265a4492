"""TurEV-DB, Turkish emotional voice database (Canpolat et al., SLTU-CCURL 2020), https://github.com/Xeonen/TurEV-DB.

Expected tree: `Sound Source/<Emotion>/<speaker>_<code>_<word>.wav` with Emotion in {Angry, Calm, Happy, Sad};
single words by 6 speakers (speaker 1157 has no Calm or Happy). The first name field is the speaker, the second an
emotion code (not a speaker). Official count: 1735 (Angry 487, Calm 408, Happy 357, Sad 483).
"""

from .base import Corpus, Utterance, scan


def _parse(match, path):
    emotion, speaker = match.group(1).lower(), match.group(2)
    return Utterance(str(path), speaker, {emotion: 1.0})


CORPUS = Corpus(
    name="turevdb", title="TurEV-DB", language="tr", official_count=1735, license="CC BY-NC-ND 4.0",
    url="https://github.com/Xeonen/TurEV-DB",
    layout="TurEV-DB/Sound Source/{Angry,Calm,Happy,Sad}/<speaker>_<code>_<word>.wav",
    items=lambda root: scan(root, r"(?:^|/)(Angry|Calm|Happy|Sad)/([^/_]+)_[^/_]+_[^/]+$", _parse),
)

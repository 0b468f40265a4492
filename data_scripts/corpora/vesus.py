"""VESUS (Sager et al. 2019), https://engineering.jhu.edu/nsa/vesus/.

Expected tree: <actor>/<Emotion>/<phrase>.wav, 10 actors, Emotion in {Neutral, Happy, Sad, Angry, Fearful}
(250 phrases each). Official count: 14868 (paper's Table 1). The layout follows the VESUS paper's description;
the crowd ratings that come with the release are not read yet (the acted emotion is the label), see docs/data.md.
"""

from .base import Corpus, Utterance, scan


def _parse(match, path):
    return Utterance(str(path), match.group(1), {match.group(2).lower(): 1.0})


CORPUS = Corpus(
    name="vesus", title="VESUS", language="en", official_count=14868, license="VESUS research license",
    url="https://engineering.jhu.edu/nsa/vesus/",
    layout="VESUS/Audio/<actor>/{Neutral,Happy,Sad,Angry,Fearful}/<phrase>.wav",
    items=lambda root: scan(root, r"(?:^|/)([^/]+)/(Neutral|Happy|Sad|Angry|Fearful)/[^/]+$", _parse),
)

"""JL-Corpus (James et al. 2018), https://www.kaggle.com/tli725/jl-corpus.

Expected tree: `Raw JL corpus (unchecked and unannotated)/JL(wav+txt)/<speaker>_<emotion>_<sentence><a|b>_<take>.wav`
(the checked release's folders work too), speakers female1, female2, male1, male2 (New Zealand English),
primary emotions angry, sad, neutral, happy, excited and secondary anxious, apologetic, assertive, concerned,
encouraging. Official count: 2400 (primary and secondary, raw release).
"""

from .base import Corpus, Utterance, scan


def _parse(match, path):
    speaker, emotion = match.group(1).lower(), match.group(2).lower()
    return Utterance(str(path), speaker, {emotion: 1.0}, gender="female" if speaker.startswith("f") else "male")


CORPUS = Corpus(
    name="jlcorpus", title="JL-Corpus", language="en", official_count=2400, license="CC0 1.0",
    url="https://www.kaggle.com/tli725/jl-corpus",
    layout="JL(wav+txt)/female1_angry_1a_1.wav ... male2_sad_15b_2.wav",
    items=lambda root: scan(
        root, r"(?:^|/)((?:fe)?male[12])_(angry|sad|neutral|happy|excited|anxious|apologetic|assertive|concerned|"
              r"encouraging)_\d+[ab]_\d$", _parse),
)

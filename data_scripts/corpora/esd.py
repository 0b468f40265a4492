"""ESD, Emotional Speech Dataset (Zhou et al. 2021), https://github.com/HLTSingapore/Emotional-Speech-Data.

Expected tree: <speaker 0001..0020>/<Emotion>/[train|evaluation|test/]<speaker>_<nnnnnn>.wav, Emotion in
{Angry, Happy, Neutral, Sad, Surprise}; speakers 0001-0010 speak Mandarin, 0011-0020 English.
Official count: 35000 (350 per speaker and emotion; the paper lists 34827). Partition: train/evaluation/test.
"""

from .base import Corpus, Utterance, scan

MALE = {4, 5, 6, 8, 10, 11, 12, 13, 14, 20}


def _parse(match, path):
    speaker, emotion, partition = match.group(1), match.group(2).lower(), match.group(3)
    return Utterance(str(path), speaker, {emotion: 1.0}, language="zh" if int(speaker) <= 10 else "en",
                     gender="male" if int(speaker) in MALE else "female", partition=partition)


CORPUS = Corpus(
    name="esd", title="ESD", language="en", official_count=35000, license="ESD research license (non-commercial)",
    url="https://github.com/HLTSingapore/Emotional-Speech-Data",
    layout="ESD/0001/Angry/train/0001_000351.wav ... 0020/Surprise/test/0020_001750.wav",
    items=lambda root: scan(root, r"(?:^|/)(00[0-2]\d)/(Angry|Happy|Neutral|Sad|Surprise)/(?:(train|evaluation|test)/)?"
                                  r"00[0-2]\d_\d{6}$", _parse),
)

"""ASED v1, Amharic speech emotional dataset (Retta et al., ACM TALLIP 2022), https://github.com/Ethio2021/ASED_V1.

Expected tree: five folders `01Neutral 02Fearful 03Happy 04Sad 05Angry`, files `<xn>-<yy>-<aa>-<gg>-<bb>.wav`
(16 kHz mono): xn emotion letter and folder number (n1 neutral, f2 fearful, h3 happy, s4 sad, a5 angry), yy
sentence, aa repetition, gg gender (01 female, 02 male), bb speaker 01..65. Official count: 2474 (clips accepted by
at least five of eight judges). The publisher states no licence: research use only. Four pairs are byte-identical
across repetitions (n1-07-0x-02-53, h3-01-0x-02-08, s4-03-0x-01-23, a5-07-0x-02-63); the build keeps each pair in
one split. The emotion is read from the file name's first field; the folder must agree.
"""

from .base import Corpus, CorpusError, Utterance, scan

EMOTION = {"n1": "neutral", "f2": "fearful", "h3": "happy", "s4": "sad", "a5": "angry"}
FOLDER = {"n1": "01neutral", "f2": "02fearful", "h3": "03happy", "s4": "04sad", "a5": "05angry"}
GENDER = {"01": "female", "02": "male"}


def _parse(match, path):
    folder, code, _, _, gender, speaker = match.groups()
    code = code.lower()
    if folder.lower() != FOLDER[code]:
        raise CorpusError(f"ased: {path} is coded {code} ({EMOTION[code]}) but lies in folder {folder}")
    return Utterance(str(path), speaker, {EMOTION[code]: 1.0}, gender=GENDER.get(gender))


CORPUS = Corpus(
    name="ased", title="ASED v1", language="am", official_count=2474,
    license="none stated by the publisher: research use only", url="https://github.com/Ethio2021/ASED_V1",
    layout="ASED/01Neutral/n1-01-01-01-01.wav ... 05Angry/a5-07-02-02-65.wav",
    items=lambda root: scan(root, r"(?:^|/)(\d\d[a-z]+)/(n1|f2|h3|s4|a5)-(\d\d)-(0[12])-(0[12])-(\d\d)$", _parse),
)

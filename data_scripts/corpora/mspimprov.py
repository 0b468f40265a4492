"""MSP-IMPROV (Busso et al. 2017), https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Improv.html.

Expected tree: session{1..6}/S<nn><E>/<P|R|S|T>/MSP-IMPROV-S<nn><E>-<speaker>-<P|R|S|T>-<dyad><n>.wav and
Evaluation.txt, whose blocks start `UTD-IMPROV-<name>.avi; <consensus>; A:..; V:..; D:.. ; N:..;` followed by one
line per rater `<rater>; <Angry|Happy|Sad|Neutral|Other>; ...`. Official count: 8438.
Soft label from the raters' votes; without Evaluation.txt, from the target emotion in the file name (S01A: A angry,
H happy, S sad, N neutral).
"""

import re
from collections import defaultdict

from .base import Corpus, Utterance, audio_files

NAME = re.compile(r"^MSP-IMPROV-S(\d\d)([AHSN])-([MF]\d\d)-([PRST])-([MF][MF]\d\d)", re.IGNORECASE)
HEADER = re.compile(r"^UTD-IMPROV-([A-Z0-9-]+)\.avi;", re.IGNORECASE)
LETTER = {"A": "anger", "H": "happiness", "S": "sadness", "N": "neutral", "O": "other"}


def read_votes(path) -> dict:
    votes, current = defaultdict(lambda: defaultdict(float)), None
    for line in path.read_text(errors="replace").splitlines():
        header = HEADER.match(line.strip())
        if header:
            current = "MSP-IMPROV-" + header.group(1)
        elif current and line.count(";") >= 1:
            label = line.split(";")[1].strip()[:1].upper()
            if label in LETTER:
                votes[current][LETTER[label]] += 1.0
    return votes


def items(root):
    evaluation = next(iter(sorted(root.rglob("Evaluation.txt"))), None)
    votes = read_votes(evaluation) if evaluation else {}
    found = []
    for path in audio_files(root):
        match = NAME.match(path.stem)
        if not match:
            continue
        counts = votes.get(path.stem)
        if counts:
            total = sum(counts.values())
            labels = {k: v / total for k, v in sorted(counts.items())}
        else:
            labels = {LETTER[match.group(2).upper()]: 1.0}
        speaker = match.group(3).upper()
        found.append(Utterance(str(path), speaker, labels, gender="female" if speaker[0] == "F" else "male"))
    return found


CORPUS = Corpus(
    name="mspimprov", title="MSP-IMPROV", language="en", official_count=8438, license="MSP-IMPROV academic license",
    url="https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Improv.html",
    layout="MSP-IMPROV/session1/S01A/P/MSP-IMPROV-S01A-F01-P-FM01.wav and Evaluation.txt",
    items=items, intensity="agreement",  # vote shares: see labels.intensity
)

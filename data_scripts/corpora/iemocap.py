"""IEMOCAP (Busso et al. 2008), https://sail.usc.edu/iemocap/ (release 'IEMOCAP_full_release').

Expected tree: Session{1..5}/sentences/wav/<dialog>/<utterance>.wav and
Session{1..5}/dialog/EmoEvaluation/<dialog>.txt, whose blocks read
`[start - end]<TAB><utterance><TAB><label><TAB>[V, A, D]` followed by one line per evaluator,
`C-E1:<TAB>Frustration; Anger;<TAB>(comment)`. Official count: 10039 utterances.
Soft label from the votes: each external evaluator (C-E*, not the actors' self-reports C-F*/C-M*) has one vote,
split equally among the categories they ticked. Speaker: session + gender of the utterance's speaker (Ses01F...).
Partition: the session, so that Session 4 (the paper's test set) can be selected.
"""

import re
from collections import defaultdict

from .base import Corpus, CorpusError, Utterance, audio_files

HEADER = re.compile(r"^\[(\d+\.\d+) - (\d+\.\d+)\]\t(\S+)\t(\w+)\t")
VOTE = re.compile(r"^C-(E\d+):\t(.*)$")


def read_votes(path) -> dict:
    votes, current = defaultdict(lambda: defaultdict(float)), None
    for line in path.read_text(errors="replace").splitlines():
        header = HEADER.match(line)
        if header:
            current = header.group(3)
            continue
        vote = VOTE.match(line)
        if vote and current:
            categories = [c.strip().lower() for c in vote.group(2).split(";")[:-1] if c.strip()]
            for category in categories:
                votes[current][category] += 1.0 / len(categories)
    return votes


def items(root):
    votes = {}
    for path in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt")):
        votes.update(read_votes(path))
    if not votes:
        raise CorpusError(f"iemocap: no Session*/dialog/EmoEvaluation/*.txt under {root}")
    found = []
    for path in audio_files(root):
        name = path.stem
        if "/sentences/wav/" not in path.as_posix() or name not in votes:
            continue
        total = sum(votes[name].values())
        labels = {label: count / total for label, count in sorted(votes[name].items())}
        speaker = name[:5] + name.split("_")[-1][0]  # Ses01 + gender of the utterance's speaker
        found.append(Utterance(str(path), speaker, labels, gender={"F": "female", "M": "male"}[speaker[-1]],
                               partition=name[:5]))
    return found


CORPUS = Corpus(
    name="iemocap", title="IEMOCAP", language="en", official_count=10039, license="IEMOCAP release agreement",
    url="https://sail.usc.edu/iemocap/",
    layout="IEMOCAP_full_release/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav and "
           "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt",
    items=items, intensity="agreement",  # vote shares: see labels.intensity
)

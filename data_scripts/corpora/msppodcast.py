"""MSP-Podcast (Lotfian & Busso 2017), https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Podcast.html.

Expected tree: Audios/<file>.wav and Labels/labels_consensus.csv (older releases spell it labels_concensus.csv)
with columns FileName, EmoClass (A S H U F D C N O X), SpkrID, Gender, Split_Set; optionally
Labels/labels_detailed.json, {FileName: {worker: {"EmoClass_Major": ...}}}, whose votes then give the soft label
(a vote share per class). Without it the consensus class is the label; X (no agreement) is then left out.
Official count: depends on the release (v1.11: 151,654 files; the paper used 104,096).
"""

import json

from .base import Corpus, CorpusError, Utterance, find_file, index_audio, read_table

CODE = {"A": "anger", "S": "sadness", "H": "happiness", "U": "surprise", "F": "fear", "D": "disgust",
        "C": "contempt", "N": "neutral", "O": "other"}
WORDS = {"angry": "A", "sad": "S", "happy": "H", "surprise": "U", "fear": "F", "disgust": "D", "contempt": "C",
         "neutral": "N", "other": "O"}


def _code(value: str) -> str | None:
    value = value.strip()
    code = WORDS.get(value.lower(), value[:1].upper())
    return code if code in CODE else None


def items(root):
    consensus = read_table(find_file(root, "Labels/labels_consensus.csv", "Labels/labels_concensus.csv"))
    votes = {}
    try:
        detailed = json.loads(find_file(root, "Labels/labels_detailed.json").read_text())
        for name, workers in detailed.items():
            codes = [_code(w.get("EmoClass_Major", "")) for w in workers.values()]
            codes = [c for c in codes if c]
            if codes:
                votes[name] = {CODE[c]: codes.count(c) / len(codes) for c in sorted(set(codes))}
    except CorpusError:
        pass
    audio = index_audio(root / "Audios") if (root / "Audios").is_dir() else index_audio(root)
    found = []
    for row in consensus:
        name = row["FileName"]
        path = audio.get(name.rsplit(".", 1)[0].lower())
        labels = votes.get(name) or ({CODE[c]: 1.0} if (c := _code(row.get("EmoClass", ""))) else None)
        if path is None or labels is None:
            continue
        found.append(Utterance(str(path), f"spk{row.get('SpkrID', 'unknown')}", labels,
                               gender=row.get("Gender", "").lower() or None, partition=row.get("Split_Set")))
    return found


CORPUS = Corpus(
    name="msppodcast", title="MSP-Podcast", language="en", official_count=None,
    license="MSP-Podcast academic license", url="https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Podcast.html",
    layout="MSP-Podcast/Audios/MSP-PODCAST_0001_0008.wav and Labels/labels_consensus.csv",
    items=items, intensity="agreement",  # vote shares: see labels.intensity
)

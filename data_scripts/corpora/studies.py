"""STUDIES, Japanese empathetic dialogue speech (Saito et al. 2022), https://sites.google.com/site/shinnosuketakamichi/research-topics/studies_corpus.

Expected tree: <part>/<set>/<Teacher|FStudent|MStudent>/wav/<name>.wav with part in {ITA, Long_dialogue,
Short_dialogue}. The ITA part names its emotion in the set folder (Emotion100-Angry, -Happy, -Sad, -Neutral); the
dialogue parts label each utterance in the set's text files, where a line holds the utterance name and its emotion
(平静 neutral, 喜び happy, 悲しみ sad, 怒り angry, or the English words). Official count: 5689 (paper's Table 1).
"""

import re

from .base import Corpus, Utterance, audio_files

JAPANESE = {"平静": "neutral", "喜び": "happy", "悲しみ": "sad", "怒り": "angry"}
ENGLISH = {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry"}
SPEAKERS = ("Teacher", "FStudent", "MStudent")


def _labels_in_texts(folder) -> dict:
    labels = {}
    for text in folder.rglob("*.txt"):
        for line in text.read_text(encoding="utf-8", errors="replace").splitlines():
            words = re.split(r"[\s|,:\t]+", line.strip())
            emotion = next((JAPANESE.get(w) or ENGLISH.get(w.lower()) for w in words
                            if w in JAPANESE or w.lower() in ENGLISH), None)
            if emotion:
                for word in words:
                    labels.setdefault(word, emotion)
    return labels


def items(root):
    found, cache = [], {}
    for path in audio_files(root):
        parts = path.relative_to(root).parts
        speaker = next((p for p in parts if p in SPEAKERS), None)
        if speaker is None:
            continue
        set_dir = path.parents[len(parts) - 1 - parts.index(speaker)]
        ita = re.search(r"Emotion\d*-(Angry|Happy|Sad|Neutral)", set_dir.name, re.IGNORECASE)
        if ita:
            emotion = ita.group(1).lower()
        else:
            if set_dir not in cache:
                cache[set_dir] = _labels_in_texts(set_dir)
            emotion = cache[set_dir].get(path.stem)
        if emotion:
            found.append(Utterance(str(path), speaker, {emotion: 1.0},
                                   gender="male" if speaker == "MStudent" else "female"))
    return found


CORPUS = Corpus(
    name="studies", title="STUDIES", language="ja", official_count=5689, license="STUDIES terms of use (research)",
    url="https://sites.google.com/site/shinnosuketakamichi/research-topics/studies_corpus",
    layout="STUDIES/ITA/Emotion100-Angry/Teacher/wav/*.wav, STUDIES/Short_dialogue/SD01/Teacher/wav/*.wav (+ txt)",
    items=items,
)

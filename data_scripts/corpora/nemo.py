"""nEMO, Polish emotional speech (Christop, LREC-COLING 2024), https://github.com/amu-cai/nEMO.

Expected tree: `samples/<speaker>_<emotion>_<n>.wav` (24 kHz mono; any extension soundfile reads) beside the
publisher's `data.tsv` with columns file_id, emotion, raw_text, normalized_text, speaker_id, gender, age. The table
is authoritative: it gives the label, the speaker, gender and transcript of every clip (its speaker_id values are
left-padded with spaces in the published file). file_id names the original `.wav`; a copy in another format is
found by its stem. 9 actors. Official count: 4481 (anger 749, fear 736, happiness 749, neutral 809, sadness 769,
surprised 669). A row without audio, or audio without a row, is a layout error: the build says which.
"""

from .base import Corpus, CorpusError, Utterance, find_file, index_audio, read_table


def items(root):
    table = read_table(find_file(root, "data.tsv"), delimiter="\t")
    audio = index_audio(root)
    found, missing = [], []
    for row in table:
        stem = row["file_id"].rsplit(".", 1)[0].lower()
        if stem not in audio:
            missing.append(row["file_id"])
            continue
        found.append(Utterance(str(audio.pop(stem)), row["speaker_id"], {row["emotion"]: 1.0},
                               gender=row.get("gender") or None, text=row.get("raw_text") or None))
    if missing:
        raise CorpusError(f"nemo: {len(missing)} row(s) of data.tsv have no audio under {root}, e.g. {missing[0]}")
    if audio:  # files the table does not label: never guess their label from the name
        raise CorpusError(f"nemo: {len(audio)} audio file(s) under {root} have no row in data.tsv, "
                          f"e.g. {next(iter(audio.values()))}")
    return found


CORPUS = Corpus(
    name="nemo", title="nEMO", language="pl", official_count=4481, license="CC BY-NC-SA 4.0",
    url="https://github.com/amu-cai/nEMO",
    layout="nEMO/data.tsv and nEMO/samples/EB0_anger_1.wav ... WR0_surprised_99.wav",
    items=items,
)

import json
import logging
import shutil

import numpy as np
import pytest

import corpus_fixtures
from data_scripts import build
from data_scripts.corpora.base import CorpusError


SHARED = ("ravdess", "tess", "savee", "turevdb", "nemo", "ased")  # the corpora this machine has for real


def make_trees(root, names=SHARED):
    for name in names:
        corpus_fixtures.BUILDERS[name](root / name)
    return [f"--corpus={name}={root / name}" for name in names]


def run(args):
    from datasets import load_from_disk

    out = build.main(args + ["--num_proc", "1"])
    return load_from_disk(str(out))


def test_build_columns_labels_domains_and_summary(tmp_path):
    corpora = make_trees(tmp_path, sorted(corpus_fixtures.BUILDERS))  # every registered corpus at once
    data = run(corpora + ["--out", str(tmp_path / "out")])
    rows = data["train"].to_list() + data["validation"].to_list()
    assert len(rows) == sum(len(b(tmp_path / "again" / n)) for n, b in corpus_fixtures.BUILDERS.items())
    for column in ("audio", "duration", "soft_label", "label", "dataset", "speaker", "language", "domain"):
        assert column in data["train"].column_names
    assert data["train"].features["audio"].decode is False
    soft = np.asarray([r["soft_label"] for r in rows])
    assert np.allclose(soft.sum(1), 1, atol=1e-6) and (np.asarray([r["label"] for r in rows]) == soft.argmax(1)).all()
    vocabulary = json.loads((tmp_path / "out" / "domains.json").read_text())
    assert all(vocabulary[r["domain"]] == r["domain_name"] for r in rows)
    assert {r["language"] for r in rows} >= {"en", "tr", "zh", "de", "ja", "fr", "it", "fa", "bn", "el", "ur", "es"}
    # RAVDESS normal intensity is softened by neutral smoothing, strong stays one-hot
    ravdess = {r["path"].split("/")[-1]: r for r in rows if r["dataset"] == "ravdess"}
    assert max(ravdess["03-01-05-02-01-01-01.wav"]["soft_label"]) == 1.0
    assert 0.4 < max(ravdess["03-01-05-01-01-01-01.wav"]["soft_label"]) < 0.9
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| ravdess | 10 | 1440 | 0 | 2 |" in summary


def test_bad_files_are_skipped_and_listed_never_fatal(tmp_path, caplog):
    root = tmp_path / "savee"
    corpus_fixtures.savee(root)
    (root / "AudioData" / "DC" / "a09.wav").write_bytes(b"")  # empty
    (root / "AudioData" / "DC" / "a10.wav").write_bytes(b"RIFF not really audio" * 10)  # corrupt
    corpus_fixtures.silence(root, "AudioData/JE/n09")  # silent
    with caplog.at_level(logging.WARNING):
        data = run([f"--corpus=savee={root}", "--out", str(tmp_path / "out")])
    assert len(data["train"]) + len(data["validation"]) == 28
    skipped = json.loads((tmp_path / "out" / "skipped.json").read_text())
    reasons = {s["path"].split("/")[-1]: s["reason"].split(":")[0] for s in skipped}
    assert reasons == {"a09.wav": "unreadable", "a10.wav": "unreadable", "n09.wav": "silent"}
    assert "a10.wav: unreadable" in (tmp_path / "out" / "summary.md").read_text()
    assert "found 31 files, the official release has 480" in caplog.text


def test_identical_audio_never_straddles_splits(tmp_path):
    root = tmp_path / "ravdess"
    corpus_fixtures.ravdess(root)
    shutil.copy(root / "Actor_01/03-01-05-01-01-01-01.wav", root / "Actor_01/03-01-05-01-02-01-01.wav")
    for split in ("random", "speaker"):
        for seed in range(6):
            out = tmp_path / f"out-{split}-{seed}"
            data = run([f"--corpus=ravdess={root}", "--out", str(out), "--split", split, "--seed", str(seed),
                        "--validation_fraction", "0.5"])
            where = {r["audio_sha1"]: set() for part in data for r in data[part]}
            for part in data:
                for r in data[part]:
                    where[r["audio_sha1"]].add(part)
            assert all(len(parts) == 1 for parts in where.values())


def test_speaker_split_keeps_speakers_apart(tmp_path):
    corpora = make_trees(tmp_path)
    data = run(corpora + ["--out", str(tmp_path / "out"), "--split", "speaker", "--validation_fraction", "0.3"])
    train, validation = set(data["train"]["speaker"]), set(data["validation"]["speaker"])
    assert validation and not train & validation
    assert set(data["train"]["dataset"]) == set(SHARED)  # every corpus keeps training speakers


def test_rebuild_is_identical_and_rerun_is_a_no_op(tmp_path):
    corpora = make_trees(tmp_path)
    first = run(corpora + ["--out", str(tmp_path / "a")])
    second = run(corpora + ["--out", str(tmp_path / "b")])
    for part in first:
        assert first[part].to_list() == second[part].to_list()
    stamp = tmp_path / "a" / "build_config.json"
    before = (stamp.stat().st_mtime_ns, (tmp_path / "a" / "summary.md").stat().st_mtime_ns)
    run(corpora + ["--out", str(tmp_path / "a")])
    assert (stamp.stat().st_mtime_ns, (tmp_path / "a" / "summary.md").stat().st_mtime_ns) == before


def test_command_line_errors_are_clear(tmp_path):
    with pytest.raises(CorpusError, match="unknown corpus. Known:"):
        build.main(["--corpus", f"nosuch={tmp_path}", "--out", str(tmp_path / "o")])
    with pytest.raises(CorpusError, match="NAME=PATH"):
        build.main(["--corpus", "ravdess", "--out", str(tmp_path / "o")])


def test_regions_of_long_recordings_become_clips(tmp_path):
    from modeling_emotion_whisper.packing import ClipCollator
    from transformers import WhisperFeatureExtractor

    corpus_fixtures.cmumosei(tmp_path / "mosei")
    data = run([f"--corpus=cmumosei={tmp_path / 'mosei'}", "--out", str(tmp_path / "out"), "--split", "random"])
    rows = sorted(data["train"].to_list() + data["validation"].to_list(), key=lambda r: r["offset"])
    assert [(r["offset"], round(r["duration"], 3)) for r in rows] == [(0.5, 1.0), (2.5, 0.5)]
    assert rows[0]["audio_sha1"] != rows[1]["audio_sha1"]
    batch = ClipCollator(WhisperFeatureExtractor(feature_size=80, return_attention_mask=True))(rows)
    assert batch["attention_mask"].sum(1).tolist() == [100, 50]  # each clip is its region, not the whole video


def test_rows_hold_absolute_paths_when_the_corpus_is_given_relative(tmp_path, monkeypatch):
    """A dataset built from `--corpus savee=corpora/savee` loads and trains from any folder."""
    corpus_fixtures.BUILDERS["savee"](tmp_path / "corpora" / "savee")
    monkeypatch.chdir(tmp_path)
    data = run(["--corpus=savee=corpora/savee", "--out", "built"])
    paths = list(data["train"]["path"]) + list(data["validation"]["path"])
    assert paths and all(p.startswith(str(tmp_path.resolve())) for p in paths)


def test_smoothing_target_neutral_moves_the_mass_to_neutral(tmp_path):
    """RAVDESS normal intensity: spread over all classes by the formula, onto neutral with --smoothing_target."""
    from modeling_emotion_whisper.configuration_emotion_whisper import EMOTIONS

    corpus_fixtures.BUILDERS["ravdess"](tmp_path / "ravdess")
    labels = {}
    for target in ("uniform", "neutral"):
        data = run([f"--corpus=ravdess={tmp_path / 'ravdess'}", "--out", str(tmp_path / target),
                    "--smoothing_target", target])
        labels[target] = {p: np.asarray(s) for p, s in zip(data["train"]["path"], data["train"]["soft_label"])}
    changed = [p for p in labels["uniform"] if not np.allclose(labels["uniform"][p], labels["neutral"][p])]
    assert changed
    other = EMOTIONS.index("other")
    assert all(labels["neutral"][p][other] == 0 and labels["uniform"][p][other] > 0 for p in changed)

"""Scoring archives (archive.py): rows written as they go, resumed after a kill, Parquet as JSONL, file lists,
datasets, and two accelerate processes giving the rows of one."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, synth_speech
from modeling_emotion_whisper import archive, cli


@pytest.fixture
def corpus(tiny_model, tmp_path, write_audio):
    """A saved tiny model, a folder of short clips (one in a subfolder), a damaged file."""
    tiny_model.save_pretrained(tmp_path / "model")
    for i in range(9):
        write_audio(f"clips/{'sub/' if i == 4 else ''}c{i}.wav", seconds=0.4 + 0.15 * i, seed=i, f0=110 + 25 * i)
    (tmp_path / "clips" / "damaged.wav").write_bytes(b"RIFF not really")
    return tmp_path


def predict(tmp_path, *args):
    return cli.main(["predict", "--model", str(tmp_path / "model"), *map(str, args)])


def jsonl(path):
    return [json.loads(line) for line in open(path)]


def parquet(path):
    import pyarrow.parquet as pq

    return [{k: v for k, v in row.items() if v is not None or k == "path"} for row in pq.read_table(path).to_pylist()]


def assert_same_rows(rows, expected):
    assert [archive.row_key(r) for r in rows] == [archive.row_key(r) for r in expected]
    for row, want in zip(rows, expected):
        assert row.keys() == want.keys()
        assert row.get("label") == want.get("label") and row.get("error") == want.get("error")
        if "scores" in want:
            assert list(row["scores"]) == list(want["scores"])
            np.testing.assert_allclose(list(row["scores"].values()), list(want["scores"].values()), rtol=1e-5,
                                       atol=1e-6)
            assert row["duration"] == pytest.approx(want["duration"])


class Killed(Exception):
    pass


def kill_after(monkeypatch, chunks):
    """Let `chunks` chunks be scored and written, then stop the run as a kill would."""
    score, calls = archive.score_chunk, []

    def scoring(*args, **kwargs):
        if len(calls) == chunks:
            raise Killed
        calls.append(1)
        return score(*args, **kwargs)

    monkeypatch.setattr(archive, "score_chunk", scoring)


def count_scored(monkeypatch):
    scored, score = [], archive.score_chunk

    def scoring(model, extractor, sources, *args):
        scored.extend(name for _, name in sources)
        return score(model, extractor, sources, *args)

    monkeypatch.setattr(archive, "score_chunk", scoring)
    return scored


def test_jsonl_is_written_as_it_goes_and_a_killed_run_resumes(corpus, monkeypatch, capsys):
    whole = corpus / "whole.jsonl"
    assert predict(corpus, corpus / "clips", "--out", whole, "--batch-size", 2) == 0
    expected = jsonl(whole)
    errors = [r for r in expected if "error" in r]
    assert len(expected) == 10
    assert errors == [{"path": str(corpus / "clips" / "damaged.wav"), "error": errors[0]["error"]}]
    assert {"label", "scores", "duration"} <= expected[0].keys()

    out = corpus / "out.jsonl"
    kill_after(monkeypatch, 2)  # --batch-size 1: chunks of 4 clips
    with pytest.raises(Killed):
        predict(corpus, corpus / "clips", "--out", out, "--batch-size", 1)
    assert len(jsonl(out)) == 8  # two chunks of 4 were on disk before the kill
    with open(out, "ab") as handle:  # and the kill cut the third chunk's first row in half
        handle.write(json.dumps(expected[8])[:30].encode())
    monkeypatch.undo()
    scored = count_scored(monkeypatch)
    capsys.readouterr()
    assert predict(corpus, corpus / "clips", "--out", out, "--batch-size", 2) == 0
    assert "8 of 10 inputs already in" in capsys.readouterr().err
    assert sorted(scored) == sorted(r["path"] for r in expected[8:])  # the cut row was scored again, nothing else
    assert_same_rows(jsonl(out), expected)

    scored.clear()  # a finished output: nothing left to score
    assert predict(corpus, corpus / "clips", "--out", out) == 0
    assert scored == [] and len(jsonl(out)) == 10


def test_errors_stay_unless_retried(corpus, write_audio):
    out = corpus / "out.jsonl"
    assert predict(corpus, corpus / "clips", "--out", out) == 0
    write_audio("clips/damaged.wav", seconds=1.0)  # repaired
    assert predict(corpus, corpus / "clips", "--out", out) == 0
    before = jsonl(out)
    assert "error" in before[8] and before[8]["path"].endswith("damaged.wav")
    assert predict(corpus, corpus / "clips", "--out", out, "--retry-errors") == 0
    rows = jsonl(out)  # in its place, once
    assert [r["path"] for r in rows] == [r["path"] for r in before] and "label" in rows[8]


def test_parquet_holds_the_jsonl_rows_and_resumes(corpus, monkeypatch):
    assert predict(corpus, corpus / "clips", "--out", corpus / "rows.jsonl") == 0
    out = corpus / "rows.parquet"
    kill_after(monkeypatch, 1)
    with pytest.raises(Killed):
        predict(corpus, corpus / "clips", "--out", out, "--batch-size", 1)
    journal = corpus / "rows.parquet.rank-0.jsonl"
    assert not out.exists() and len(jsonl(journal)) == 4  # the rows so far, in the journal
    monkeypatch.undo()
    scored = count_scored(monkeypatch)
    assert predict(corpus, corpus / "clips", "--out", out) == 0
    assert len(scored) == 6 and not journal.exists()
    assert_same_rows(parquet(out), jsonl(corpus / "rows.jsonl"))


def test_a_file_list(corpus, capsys):
    listing = corpus / "lists" / "clips.txt"
    listing.parent.mkdir()
    listing.write_text("# clips of the first speaker\n../clips/c1.wav\n\n../clips/sub\n"
                       f"{corpus / 'clips' / 'c2.wav'}\n../clips/missing.wav\n")
    out = corpus / "out.jsonl"
    assert predict(corpus, "--list", listing, "--out", out) == 0
    rows = jsonl(out)
    base = str(corpus / "lists")
    assert [r["path"] for r in rows] == [os.path.join(base, "../clips/c1.wav"),
                                         os.path.join(base, "../clips/sub/c4.wav"), str(corpus / "clips" / "c2.wav"),
                                         os.path.join(base, "../clips/missing.wav")]
    assert "label" in rows[0] and rows[3]["error"].endswith("no such file")
    # without --out, the list joins the files of an ordinary predict
    capsys.readouterr()
    assert predict(corpus, corpus / "clips" / "c3.wav", "--list", listing) == 0
    table = capsys.readouterr().out
    assert "c3.wav" in table and "c1.wav" in table and "c4.wav" in table


def wav_bytes(seconds, seed, rate=16000):
    buffer = io.BytesIO()
    sf.write(buffer, synth_speech(seconds, rate, 150 + 10 * seed, seed), rate, format="WAV")
    return buffer.getvalue()


def test_a_dataset_with_an_audio_column(corpus, capsys):
    from datasets import Audio, Dataset

    files = sorted(str(p) for p in (corpus / "clips").glob("c*.wav"))[:3]
    encoded = [{"bytes": wav_bytes(1.0, 0, rate=22050), "path": "a.wav"},
               {"bytes": wav_bytes(31.0, 1), "path": "long.wav"},  # over 30 s: scored as windows
               {"bytes": b"not audio", "path": "broken.wav"},
               {"bytes": None, "path": files[0]}]  # a path only: save_to_disk embeds the file, under its base name
    # as data_scripts.build stores clips (Audio's own encoder would need torchcodec)
    data = Dataset.from_dict({"speech": encoded, "speaker": ["a"] * 4}).cast_column("speech", Audio(decode=False))
    data.save_to_disk(corpus / "audio")
    out = corpus / "audio.jsonl"
    assert predict(corpus, "--dataset", corpus / "audio", "--audio-column", "speech", "--out", out) == 0
    rows = jsonl(out)
    assert [(r["index"], r["path"]) for r in rows] == [(0, "a.wav"), (1, "long.wav"), (2, "broken.wav"),
                                                       (3, "c0.wav")]
    assert rows[1]["duration"] == pytest.approx(31.0) and rows[2]["error"].startswith("broken.wav: cannot decode")
    alone = corpus / "alone.jsonl"
    assert predict(corpus, files[0], "--out", alone) == 0
    np.testing.assert_allclose(list(rows[3]["scores"].values()), list(jsonl(alone)[0]["scores"].values()), rtol=1e-5)

    # a column of paths, in a dataset with splits
    from datasets import DatasetDict

    paths = Dataset.from_dict({"file": files})
    DatasetDict({"train": paths, "test": paths}).save_to_disk(corpus / "paths")
    capsys.readouterr()
    assert predict(corpus, "--dataset", corpus / "paths", "--out", corpus / "paths.jsonl") == 2
    assert "splits train, test: choose one with --split" in capsys.readouterr().err
    assert predict(corpus, "--dataset", corpus / "paths", "--split", "test", "--out", corpus / "paths.jsonl") == 2
    assert "has no column 'audio' (its columns: file)" in capsys.readouterr().err
    assert predict(corpus, "--dataset", corpus / "paths", "--split", "test", "--audio-column", "file",
                   "--out", corpus / "paths.jsonl") == 0
    assert [r["path"] for r in jsonl(corpus / "paths.jsonl")] == files


def test_refusals(corpus, capsys):
    assert predict(corpus, corpus / "clips", "--out", corpus / "rows.csv") == 2
    assert "end the name in .jsonl or .parquet" in capsys.readouterr().err
    assert predict(corpus, corpus / "clips", "--out", corpus / "rows.jsonl", "--adapt-to-inputs") == 2
    assert "--adaptation" in capsys.readouterr().err
    assert predict(corpus, corpus / "clips", "--retry-errors") == 2
    assert "--retry-errors works with --out" in capsys.readouterr().err
    (corpus / "other.jsonl").write_text(json.dumps({"path": "x.wav", "label": "a", "scores": {"a": 1.0}}) + "\n")
    assert predict(corpus, corpus / "clips", "--out", corpus / "other.jsonl") == 2
    assert "give another --out for this model" in capsys.readouterr().err


def test_two_accelerate_processes_give_the_rows_of_one_and_resume(corpus):
    """Over gloo on CPU, as the two-process training test launches; the run also resumes what a killed
    single-process run left (with a cut last line) and leaves no parts behind."""
    single = corpus / "single.jsonl"
    assert predict(corpus, corpus / "clips", "--out", single, "--batch-size", 2) == 0
    expected = jsonl(single)
    out = corpus / "sharded.jsonl"
    out.write_text("".join(json.dumps(row) + "\n" for row in expected[:3]) + json.dumps(expected[3])[:25])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "modeling_emotion_whisper.cli", "predict", str(corpus / "clips"), "--model", str(corpus / "model"),
               "--out", str(out), "--batch-size", "1"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "3 of 10 inputs already in" in result.stderr and "in 2 processes" in result.stderr
    assert_same_rows(jsonl(out), expected)
    assert not list(corpus.glob("sharded.jsonl.rank-*"))

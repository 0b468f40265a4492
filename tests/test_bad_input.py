"""Every entry point against the bad-input matrix (tests/bad_inputs.py): a valid answer, or a one-line error that
names the file and says what is wrong; a batch with bad files in it still scores the others."""

import json
import shutil

import numpy as np
import pytest

import bad_inputs
from modeling_emotion_whisper import cli

BAD = {name for name, words in bad_inputs.EXPECTED.items() if words}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return bad_inputs.make(tmp_path_factory.mktemp("bad") / "inputs")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import torch

    from conftest import tiny_config
    from modeling_emotion_whisper import WhisperForEmotionClassification

    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(num_domains=4, label_prior=[1 / 8] * 8)).eval()
    model.config.source_feature_mean, model.config.source_feature_std = [0.0] * 32, [1.0] * 32
    path = tmp_path_factory.mktemp("bad") / "model"
    model.save_pretrained(path)
    return path


def check_message(message: str, name: str):
    words = bad_inputs.EXPECTED[name]
    assert "\n" not in message.strip() and name in message and words in message, message
    assert "Traceback" not in message


def test_pipeline(files, model_dir):
    from transformers import pipeline

    pipe = pipeline("audio-classification", model=str(model_dir), trust_remote_code=True)
    for name, path in files.items():
        if name in BAD:
            with pytest.raises(ValueError) as caught:  # the saved code's AudioError, a ValueError
                pipe(str(path))
            assert type(caught.value).__name__ == "AudioError"
            check_message(str(caught.value), name)
        else:
            scores = pipe(str(path), top_k=None)
            assert len(scores) == 8 and sum(s["score"] for s in scores) == pytest.approx(1.0, abs=1e-5), name


def test_predict_scores_the_good_files_of_a_batch(files, model_dir, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert cli.main(["predict", *map(str, files.values()), "--model", str(model_dir), "--batch-size", "4",
                     "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("skipped ")]
    assert len(errors) == len(BAD)
    for name, path in files.items():
        result = results[str(path)]
        if name in BAD:
            check_message(result["error"], name)
            assert any(str(path) in line for line in errors)
        else:
            assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-5) and name in captured.out
    assert results[str(files["minutes.flac"])]["duration"] == pytest.approx(180.0)
    # a folder is every audio file in it: the same answers
    folder_out = tmp_path / "folder.json"
    cli.main(["predict", str(files["25ms.wav"].parent), "--model", str(model_dir), "--json", str(folder_out)])
    assert json.loads(folder_out.read_text()).keys() == results.keys()


def test_timeline(files, model_dir, capsys):
    for name, path in files.items():
        code = cli.main(["timeline", str(path), "--model", str(model_dir)])
        captured = capsys.readouterr()
        if name in BAD:
            assert code == 2, name
            (error,) = [line for line in captured.err.splitlines() if line.startswith("error: ")]
            check_message(error, name)
        else:
            assert code == 0 and "real-time factor" in captured.out, (name, captured.err)
    # silence is a valid answer: no speech, no segments
    cli.main(["timeline", str(files["silence.wav"]), "--model", str(model_dir)])
    assert "no speech" in capsys.readouterr().out


def test_adapt_skips_bad_files_and_uses_the_rest(files, model_dir, tmp_path, capsys):
    folder = files["25ms.wav"].parent
    out = tmp_path / "a.json"
    assert cli.main(["adapt", str(folder), "--model", str(model_dir), "--method", "feature", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["clips"] == len(files) - len(BAD)
    err = capsys.readouterr().err
    for name in BAD:
        assert any(name in line and bad_inputs.EXPECTED[name] in line for line in err.splitlines()), name


def test_data_build_and_evaluation(files, model_dir, tmp_path):
    """The build skips what training and evaluation could not use (same rules; silence too, which has no emotion
    label to learn), with the reason; evaluation then scores every clip that was kept."""
    from data_scripts import build
    import evaluate_model

    corpus = tmp_path / "savee"
    corpus.mkdir()
    names = {}
    for i, (name, path) in enumerate(sorted(files.items())):  # SAVEE's flat layout, one clip per name
        target = corpus / f"DC_a{i + 1:02d}{path.suffix}"
        shutil.copy(path, target)
        names[target.name] = name
    build.main([f"--corpus=savee={corpus}", "--out", str(tmp_path / "data"), "--split", "random", "--num_proc", "1"])
    skipped = {names[s["path"].split("/")[-1]]: s["reason"] for s in
               json.loads((tmp_path / "data" / "skipped.json").read_text())}
    assert set(skipped) == BAD | {"silence.wav"}
    for name in BAD:
        assert bad_inputs.EXPECTED[name] in skipped[name], (name, skipped[name])
    assert skipped["silence.wav"].startswith("silent")
    results = evaluate_model.main(["--model", str(model_dir), "--dataset_path", str(tmp_path / "data"), "--split",
                                   "all", "--out", str(tmp_path / "eval")])
    assert results["per_corpus"]["savee"]["n"] == len(files) - len(BAD) - 1
    assert np.isfinite(results["per_corpus"]["savee"]["micro_f1"])


def test_integer_pcm_is_scaled_as_soundfile_reads_it():
    from modeling_emotion_whisper.audio import to_mono

    # signed: full scale 2^(bits-1); unsigned (8-bit WAV): centred on its midpoint, so its silence is 0, not 0.5
    np.testing.assert_array_equal(to_mono(np.array([0, 16384, -32768], dtype=np.int16)), [0.0, 0.5, -1.0])
    np.testing.assert_array_equal(to_mono(np.array([128, 192, 0], dtype=np.uint8)), [0.0, 0.5, -1.0])
    np.testing.assert_array_equal(to_mono(np.array([32768, 0], dtype=np.uint16)), [0.0, -1.0])
    assert to_mono(np.array([1 << 30], dtype=np.int32))[0] == 0.5

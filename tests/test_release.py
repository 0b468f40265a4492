import json

import pytest
import yaml

from modeling_emotion_whisper import cli
from modeling_emotion_whisper.release import ReleaseError, push, release

EVALUATION = {"split": "validation", "zero_shot": False, "per_corpus": {
    "ravdess": {"n": 300, "micro_f1": 0.5, "macro_f1": 0.45, "ua": 0.48, "wa": 0.5, "per_class_f1": {}}}}


def test_release_folder_card_and_fresh_process_check(tiny_model, tmp_path):
    from data_scripts.corpora import corpus_cards
    from modeling_emotion_whisper.trainer import record_training_data

    hours = {"nemo": 2.5, "ased": 1.25, "mydata": 0.5}
    record_training_data(tiny_model.config, hours, corpus_cards(hours))
    record_training_data(tiny_model.config, {"nemo": 2.0})  # trained on again: the same audio, not more
    tiny_model.config.interpolated_from = {"start": "release-1", "finetuned": "runs/six/final", "alpha": 0.2}
    tiny_model.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "eval.json").write_text(json.dumps(EVALUATION))
    (tmp_path / "notes.md").write_text("Chosen by leave one corpus out (docs/release-rule.md).\n")
    folder = release(tmp_path / "ckpt", "someone/emotion-whisper-tiny", out=tmp_path / "release",
                     eval_json=[tmp_path / "eval.json"], notes=tmp_path / "notes.md")
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "modeling_emotion_whisper.py",
                 "pipeline_emotion_whisper.py", "README.md", "eval_results.json"):
        assert (folder / name).exists(), name
    card = (folder / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    metrics = front["model-index"][0]["results"][0]["metrics"]
    assert [m["value"] for m in metrics] == [50.0, 48.0, 50.0] and front["pipeline_tag"] == "audio-classification"
    assert "| ravdess | validation | 300 | 50.00 | 45.00 | 48.00 | 50.00 |" in card
    assert "{{" not in card and "revision=" in card and "| contempt | disgust 0.5 |" in card
    assert json.loads((folder / "config.json").read_text())["dtype"] == "float16"  # half the download
    # Every corpus the model saw, with its licence (from the corpus registry), hours and languages.
    assert "| nEMO | Polish | 2.50 | CC BY-NC-SA 4.0 |" in card
    assert "| ASED v1 | Amharic | 1.25 | none stated by the publisher: research use only |" in card
    assert "| mydata | unknown | 0.50 | not in the project's corpus registry" in card
    assert "0.8 x `release-1` + 0.2 x `runs/six/final`" in card  # how the weights were made
    assert "## How this model was made and chosen\n\nChosen by leave one corpus out (docs/release-rule.md)." in card
    assert "3 corpora, 4.2 hours" in card and "Languages heard in training: Amharic, Polish, unknown." in card


def test_release_run_as_a_module_writes_the_code(tiny_model, tmp_path):
    """`python -m modeling_emotion_whisper.release` in a fresh process (nothing registered with transformers yet):
    the folder still gets the code that trust_remote_code runs, and passes its own fresh-process check."""
    import subprocess
    import sys

    tiny_model.save_pretrained(tmp_path / "ckpt")
    done = subprocess.run([sys.executable, "-m", "modeling_emotion_whisper.release", str(tmp_path / "ckpt"),
                           "--repo-id", "someone/x", "--out", str(tmp_path / "r")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("modeling_emotion_whisper.py", "configuration_emotion_whisper.py", "pipeline_emotion_whisper.py"):
        assert (tmp_path / "r" / name).exists(), name


def test_push_without_token_says_why_and_keeps_the_folder(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    tiny_model.save_pretrained(tmp_path / "ckpt")
    code = cli.main(["release", str(tmp_path / "ckpt"), "--repo-id", "someone/x", "--out", str(tmp_path / "r"),
                     "--push"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no Hugging Face token" in err and str(tmp_path / "r") in err
    assert (tmp_path / "r" / "model.safetensors").exists()


def test_release_notes_missing_file_is_refused(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "ckpt")
    with pytest.raises(ReleaseError, match="--notes: .*no-such-notes.md"):
        release(tmp_path / "ckpt", "someone/x", out=tmp_path / "release", notes=tmp_path / "no-such-notes.md")
    assert not (tmp_path / "release").exists()


def test_push_without_network_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "f").mkdir()
    with pytest.raises(ReleaseError, match="upload to someone/x failed .*ready in"):
        push(tmp_path / "f", "someone/x", "test")


def test_code_inside_the_bundled_model_is_the_package_code():
    """checkpoints/emotion-whisper-base carries copies of the code trust_remote_code runs: they must not drift."""
    from conftest import REPO

    bundled = REPO / "checkpoints" / "emotion-whisper-base"
    if not bundled.exists():
        pytest.skip("no bundled model")
    copies = sorted(p.name for p in bundled.glob("*.py"))
    assert {"modeling_emotion_whisper.py", "configuration_emotion_whisper.py", "pipeline_emotion_whisper.py"} <= set(copies)
    for name in copies:
        assert (bundled / name).read_bytes() == (REPO / "modeling_emotion_whisper" / name).read_bytes(), (
            f"{bundled / name} differs from the package; re-export the model (release.py) or copy the file")

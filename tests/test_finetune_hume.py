import csv

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import save_tiny_whisper, synth_speech

import finetune_hume
from finetune_hume import HUME_CLASSES


def write_hume(root, n_train=48, n_devel=16, n_test=6):
    """The challenge layout; each target is a known function of the clip's pitch."""
    rng = np.random.default_rng(0)
    (root / "wav").mkdir(parents=True)
    (root / "lab").mkdir()
    slopes = np.array([1, -1, 0.8, -0.8, 0.6, 1, -0.6, -1, 0.5])
    for part, n in (("train", n_train), ("devel", n_devel), ("test", n_test)):
        with open(root / "lab" / f"{part}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["filename", *HUME_CLASSES])
            for i in range(n):
                level = rng.uniform()
                name = f"{part}_{i:05d}.wav"
                sf.write(root / "wav" / name, synth_speech(rng.uniform(1.0, 2.0), f0=110 + 200 * level, seed=i), 16000)
                targets = np.clip(0.5 + 0.45 * slopes * (level - 0.5) * 2, 0, 1)
                writer.writerow([name, *([f"{t:.4f}" for t in targets] if part != "test" else [""] * 9)])


@pytest.fixture(scope="module")
def hume(tmp_path_factory):
    root = tmp_path_factory.mktemp("hume")
    write_hume(root / "data")
    save_tiny_whisper(root / "whisper")
    return root


def common(root, out, epochs):
    return ["--data_dir", str(root / "data"), "--model_name_or_path", str(root / "whisper"), "--output_dir", str(out),
            "--num_epochs", str(epochs), "--window_seconds", "8", "--packs_per_batch", "2", "--learning_rate", "3e-3",
            "--warmup_steps", "0.1", "--use_cpu", "true", "--report_to", "none", "--save_steps", "1000",
            "--seed", "0", "--augment_p", "0", "--spec_augment_p", "0", "--dataloader_num_workers", "0"]


def test_a_few_steps_raise_the_correlation_and_write_a_submission(hume):
    before = finetune_hume.main(common(hume, hume / "before", 0.01))["devel"]  # one step: an untrained head
    after = finetune_hume.main(common(hume, hume / "after", 25))["devel"]
    assert after["mean_pearson"] > before["mean_pearson"] + 0.3, (before, after)
    assert after["mean_pearson"] > 0.5
    assert set(after["pearson"]) == set(HUME_CLASSES) and 0 <= after["micro_f1"] <= 1
    rows = list(csv.reader(open(hume / "after" / "predictions_test.csv")))
    assert rows[0] == ["filename", *HUME_CLASSES] and len(rows) == 7
    assert all(0 <= float(v) <= 1 for row in rows[1:] for v in row[1:])


def test_own_categorical_labels(hume, tmp_path):
    labels = tmp_path / "mine.csv"
    with open(labels, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "emotion"])
        for i in range(12):
            name = f"clip{i}.wav"
            sf.write(tmp_path / name, synth_speech(1.0, f0=120 if i % 2 else 300, seed=i), 16000)
            writer.writerow([name, "calm" if i % 2 else "excited"])
    results = finetune_hume.main(["--labels_csv", str(labels), "--audio_column", "path", "--label_column", "emotion",
                                  *common(hume, tmp_path / "out", 2)[4:], "--model_name_or_path",
                                  str(hume / "whisper")])
    assert results["devel"]["n"] >= 1 and set(results["devel"]["per_class_f1"]) <= {"calm", "excited"}


def test_missing_columns_are_named(hume, tmp_path):
    with pytest.raises(SystemExit, match="target column"):
        finetune_hume.main(["--data_dir", str(hume / "data"), "--target_columns", "Anger,Joy",
                            "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--augment_p is a probability: give a value from 0 to 1"):
        finetune_hume.main(["--data_dir", str(hume / "data"), "--augment_p", "-0.1", "--output_dir", str(tmp_path)])


def test_own_labels_start_from_the_trained_emotion_rows():
    import torch

    from conftest import tiny_config
    from modeling_emotion_whisper import EMOTIONS, WhisperForEmotionClassification

    torch.manual_seed(0)
    trained = WhisperForEmotionClassification(tiny_config())
    classes = ["anger", "happy", "pleasant surprise", "gibberish"]
    model = WhisperForEmotionClassification(tiny_config(id2label=dict(enumerate(classes))))
    random_row = model.emotion_head.weight[3].clone()
    assert finetune_hume.start_from_trained_rows(model, trained, classes) == classes[:3]
    rows, old = model.emotion_head.weight, trained.emotion_head.weight
    torch.testing.assert_close(rows[0], old[EMOTIONS.index("anger")])
    torch.testing.assert_close(rows[1], old[EMOTIONS.index("happiness")])  # through the harmonization table
    torch.testing.assert_close(rows[2], 0.7 * old[EMOTIONS.index("surprise")] + 0.3 * old[EMOTIONS.index("happiness")])
    torch.testing.assert_close(rows[3], random_row)  # an unknown label keeps its new row

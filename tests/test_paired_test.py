"""benchmarks/paired_test.py: per-clip decisions from saved logits, and the exact McNemar test."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import paired_test  # noqa: E402


def test_mcnemar_exact_p_values():
    assert paired_test.mcnemar_p(0, 0) == 1.0
    assert paired_test.mcnemar_p(5, 5) == pytest.approx(1.0)
    assert paired_test.mcnemar_p(0, 10) == pytest.approx(2 / 2**10)  # all ten discordant clips favour B
    assert paired_test.mcnemar_p(3, 12) == pytest.approx(paired_test.mcnemar_p(12, 3))


def test_decisions_ban_absent_emotions_and_refuse_other_clips(tmp_path):
    from datasets import Dataset

    from modeling_emotion_whisper.evaluation import corpus_label_sets

    rows = Dataset.from_dict({"path": ["a.wav", "b.wav", "c.wav"], "label": [0, 1, 5],
                              "dataset": ["x", "x", "y"]})
    logits = np.zeros((3, 8), dtype=np.float32)
    logits[0, 0] = 2.0  # right
    logits[1, 2] = 3.0  # disgust is not among corpus x's labels (0, 1): banned, so the next best, 1, decides
    logits[1, 1] = 1.0
    logits[2, 0] = 1.0  # corpus y has only anger (5): banning leaves it the only choice
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"label_prior": None}))
    np.savez(tmp_path / "out.npz", logits=logits, paths=np.asarray(rows["path"]))
    right = paired_test.correct(tmp_path / "model", tmp_path / "out.npz", rows, corpus_label_sets(rows))
    assert right.tolist() == [True, True, True]
    np.savez(tmp_path / "other.npz", logits=logits, paths=np.asarray(["a.wav", "c.wav", "b.wav"]))
    with pytest.raises(SystemExit, match="other clips"):
        paired_test.correct(tmp_path / "model", tmp_path / "other.npz", rows, corpus_label_sets(rows))

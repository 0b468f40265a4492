import numpy as np
import pytest

from modeling_emotion_whisper.configuration_emotion_whisper import EMOTIONS
from modeling_emotion_whisper.labels import (HARMONIZATION, MAX_ALPHA, harmonize, label_table_markdown,
                                             neutral_smoothing, soft_labels)

ANGER, NEUTRAL, DISGUST = EMOTIONS.index("anger"), EMOTIONS.index("neutral"), EMOTIONS.index("disgust")


def test_table_covers_the_papers_examples_and_stays_within_one():
    assert harmonize({"contempt": 1.0})[DISGUST] == 0.5  # paper 2.1
    assert harmonize({"calm": 1.0})[NEUTRAL] == 1.0
    for label, (weights, why) in HARMONIZATION.items():
        assert set(weights) <= set(EMOTIONS), label
        assert 0 < sum(weights.values()) <= 1.0 + 1e-9, label
        assert why, label
    assert "| contempt | disgust 0.5 |" in label_table_markdown()


def test_harmonize_votes_and_unknown_labels():
    scores = harmonize({"angry": 0.6, "frustrated": 0.4})  # votes: anger 0.6 + frustration 0.4 * 0.5
    assert scores[ANGER] == pytest.approx(0.8)
    with pytest.raises(KeyError, match="HARMONIZATION"):
        harmonize({"schadenfreude": 1.0})


def test_neutral_smoothing_by_hand():
    e = np.zeros(8)
    e[ANGER] = 0.5
    # E_i = 0.5, E_bar = 0.75 -> alpha = 0.25 / 0.75 = 1/3
    out = neutral_smoothing(e, 0.75)
    assert out[ANGER] == pytest.approx(0.5 * (2 / 3) + 0.5 * (1 / 3) / 8)  # 0.3541667
    others = np.delete(out, ANGER)
    assert np.allclose(others, (1 / 3) / 8)  # 0.0416667
    assert int(np.argmax(out)) == ANGER


def test_neutral_smoothing_towards_neutral_by_hand():
    e = np.zeros(8)
    e[ANGER] = 0.5
    out = neutral_smoothing(e, 0.75, target="neutral")  # alpha = 1/3, all of it to neutral
    assert out[ANGER] == pytest.approx(0.5 * (2 / 3)) and out[NEUTRAL] == pytest.approx(1 / 3)
    assert np.count_nonzero(out) == 2
    # anger 1/3 against neutral 1/3 + a hair: the primary emotion is kept on top
    e[ANGER] = 0.45
    out = neutral_smoothing(e, 0.9, target="neutral")  # alpha = 0.5 -> capped at 0.45
    assert int(np.argmax(out)) == ANGER
    with pytest.raises(ValueError, match="target must be one of"):
        neutral_smoothing(e, 0.9, target="flat")


def test_alpha_is_capped_and_strong_samples_untouched():
    e = np.zeros(8)
    e[ANGER] = 0.1
    out = neutral_smoothing(e, 1.0)  # alpha would be 0.9
    assert out[ANGER] == pytest.approx(0.1 * (1 - MAX_ALPHA) + 0.9 * MAX_ALPHA / 8)
    strong = np.zeros(8)
    strong[ANGER] = 1.0
    assert np.array_equal(neutral_smoothing(strong, 0.75), strong)


def test_soft_labels_of_a_dataset_by_hand():
    strong, normal = np.zeros(8), np.zeros(8)
    strong[ANGER], normal[ANGER] = 1.0, 0.5
    soft = soft_labels([strong, normal])  # E_bar = 0.75
    assert soft[0][ANGER] == pytest.approx(1.0)
    total = 0.3541667 + 7 * 0.0416667
    assert soft[1][ANGER] == pytest.approx(0.3541667 / total, abs=1e-5)  # 0.548387
    assert soft[1][NEUTRAL] == pytest.approx(0.0416667 / total, abs=1e-5)  # 0.064516
    assert np.allclose(soft.sum(axis=1), 1.0)
    unsmoothed = soft_labels([strong, normal], smoothing=False)
    assert unsmoothed[1][ANGER] == 1.0

import sys

import numpy as np
import pytest

from conftest import REPO
from modeling_emotion_whisper.inference import Timeline

sys.path.insert(0, str(REPO / "benchmarks"))
import temporal  # noqa: E402

LABELS = ["happiness", "sadness", "disgust", "fear", "surprise", "anger", "other", "neutral"]


def fake_timeline(frame_labels, speech=None):
    n = len(frame_labels)
    probs = np.full((n, 8), 0.01)
    probs[np.arange(n), frame_labels] = 0.93
    speech = np.ones(n, dtype=bool) if speech is None else speech
    return Timeline(LABELS, temporal.RATE, probs, speech, duration=n / temporal.RATE)


def test_perfect_timeline_scores_perfectly():
    reference = [(0.0, 2.0, 5), (2.0, 5.0, 1), (5.0, 6.0, 0)]
    frames = np.repeat([5, 1, 0], [100, 150, 50])
    score = temporal.evaluate_one(fake_timeline(frames), reference, [0, 1, 5, 7], 0.0, 0.0)
    assert score["frame_accuracy"] == 1.0 and score["eder"] == 0.0
    assert score["segments"] == (3, 3, 3) and score["changes"] == (2, 2, 2)


def test_late_change_and_missed_speech_are_counted():
    reference = [(0.0, 2.0, 5), (2.0, 4.0, 1)]
    frames = np.repeat([5, 1], [120, 80])  # the change comes 0.4 s late: still a hit within 0.5 s
    speech = np.ones(200, dtype=bool)
    speech[180:] = False  # the last 0.4 s heard as no speech: missed in EDER
    score = temporal.evaluate_one(fake_timeline(frames, speech), reference, [1, 5], 0.0, 0.0)
    assert score["changes"] == (1, 1, 1)
    assert score["frame_accuracy"] == pytest.approx(180 / 200)
    assert score["eder"] == pytest.approx((20 + 20) / 200)  # 0.4 s confused + 0.4 s missed
    assert score["segments"][0] == 2  # both segments overlap their reference with IoU >= 0.5


def test_concatenations_change_emotion_and_respect_lengths():
    rows = {"label": [0, 1, 5, 0, 1, 5] * 5, "duration": [3.0] * 30}
    rng = np.random.default_rng(0)
    for _ in range(20):
        chosen = temporal.make_concatenation(rows, rng)
        labels = [rows["label"][i] for i in chosen]
        assert 2 <= len(chosen) <= 16 and all(a != b for a, b in zip(labels, labels[1:]))
        assert 10.0 <= 3.0 * len(chosen) <= 60.0


def test_speech_span_trims_silence_and_changes_sit_in_pauses():
    from conftest import synth_speech

    wave = np.concatenate([np.zeros(8000, np.float32), synth_speech(1.0), np.zeros(16000, np.float32)])
    start, end = temporal.speech_span(wave)
    assert start == pytest.approx(0.5, abs=0.05) and end == pytest.approx(1.5, abs=0.05)
    # reference: speech 0-1 s and 2-3 s; prediction: the same, so the change is at 1.5 s for both
    reference = [(0.0, 1.0, 5), (2.0, 3.0, 1)]
    frames = np.repeat([5, 5, 1], [50, 50, 50])
    speech = np.ones(150, dtype=bool)
    speech[50:100] = False
    score = temporal.evaluate_one(fake_timeline(frames, speech), reference, [1, 5], 0.0, 0.0)
    assert score["changes"] == (1, 1, 1) and score["eder"] == 0.0 and score["segments"] == (2, 2, 2)


def test_stream_settings_bins_count_changes_not_the_onset_after_silence():
    import stream_settings

    rate = 10.0  # frames per second
    truth = np.repeat([-1, 2, 5], [10, 30, 50])  # 1 s silence, 3 s of one emotion, then a change to another
    top = truth.copy()
    top[40:45] = 2  # the first 0.5 s after the change still shows the old emotion
    table = stream_settings.by_since_change(top, truth, truth, lead_frames=10, rate=rate)
    # only the 50 frames after the change are binned: 10 in 0-1 s (5 right), 10 in 1-2 s, 20 in 2-4 s, 10 from 4 s
    np.testing.assert_array_equal(table, [[5, 10], [10, 10], [20, 20], [10, 10]])

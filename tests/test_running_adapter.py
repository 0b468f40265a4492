"""RunningAdapter: adapting to a stream of single calls, exactly as adapting to the whole group seen so far."""

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from conftest import synth_speech, tiny_config


@pytest.fixture
def model():
    from modeling_emotion_whisper import WhisperForEmotionClassification

    torch.manual_seed(0)
    config = tiny_config(init_std=0.2, source_feature_mean=[0.1] * 32, source_feature_std=[0.5] * 32)
    return WhisperForEmotionClassification(config).eval()


def test_each_call_is_scored_as_adapt_to_inputs_scores_it_within_the_calls_so_far(model):
    from modeling_emotion_whisper.inference import RunningAdapter, predict_clips

    extractor = WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)
    calls = [synth_speech(0.5 + 0.1 * (i % 7), f0=110 + 25 * i, seed=i) for i in range(8)]
    adapter = RunningAdapter(model, extractor, min_clips=5)
    plain = predict_clips(model, extractor, calls)
    for i, call in enumerate(calls):
        result = adapter(call)
        assert result["adapted"] == (i >= 4)
        if i < 4:  # too few calls yet: the plain score
            assert result["scores"] == pytest.approx(plain[i]["scores"], abs=1e-6)
            continue
        group = predict_clips(model, extractor, calls[: i + 1], adapt_to_inputs=True, min_clips=5)
        expected = np.array(list(group[i]["scores"].values()))
        np.testing.assert_allclose(list(result["scores"].values()), expected, atol=1e-4)
        assert result["label"] == group[i]["label"]
        assert not np.allclose(expected, list(plain[i]["scores"].values()), atol=1e-3)  # adapting changed it
    # the statistics survive a restart
    again = RunningAdapter(model, extractor, min_clips=5)
    again.load_state_dict(adapter.state_dict())
    extra = synth_speech(0.9, f0=300, seed=99)
    assert again(extra)["scores"] == pytest.approx(adapter(extra)["scores"], abs=1e-6)


def test_bad_calls_leave_the_statistics_alone_and_bad_settings_are_refused(model, tmp_path):
    from modeling_emotion_whisper.audio import AudioError
    from modeling_emotion_whisper.inference import RunningAdapter

    extractor = WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)
    adapter = RunningAdapter(model, extractor, min_clips=3)
    adapter(synth_speech(0.6))
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError):
        adapter(str(tmp_path / "empty.wav"))
    assert adapter.state_dict()["count"] == 1
    with pytest.raises(ValueError, match="at least 2"):
        RunningAdapter(model, extractor, min_clips=1)
    with pytest.raises(ValueError, match="another model"):
        adapter.load_state_dict({"count": 3, "sum": [0.0] * 5, "sum_of_squares": [0.0] * 5})
    # a loaded adaptation and the running statistics are two adaptations: refused, not one silently dropped
    model.set_adaptation({"logit_shift": [0.5] * model.config.num_labels})
    with pytest.raises(ValueError, match="holds an adaptation"):
        RunningAdapter(model, extractor, min_clips=3)
    model.set_adaptation(None)
    assert RunningAdapter(model, extractor, min_clips=3).count == 0


def test_the_leave_one_corpus_out_simulation_standardizes_as_adapt_to_inputs_on_each_prefix():
    """benchmarks/loco_head_variants.py --running scores cached features as the adapter would: clip k (k >= min_clips)
    standardized on clips 1..k, earlier clips with the stored source statistics."""
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from modeling_emotion_whisper.adaptation import feature_standardization

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import loco_head_variants

    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(30, 6))
    config = SimpleNamespace(feature_standardization="corpus", source_feature_mean=[1.0] * 6,
                             source_feature_std=[0.5] * 6)
    order = rng.permutation(30)
    z = loco_head_variants.running_inputs(x, order, config, min_clips=5)
    np.testing.assert_allclose(z[:4], (x[order[:4]] - 1.0) / 0.5)
    for k in range(4, 30):
        expected = feature_standardization(x[order[: k + 1]], 0.0, 1.0)
        row = x[order[k]] * np.asarray(expected["feature_scale"]) + np.asarray(expected["feature_shift"])
        np.testing.assert_allclose(z[k], row, rtol=1e-9, atol=1e-9)

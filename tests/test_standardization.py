"""Feature standardization by domain (config.feature_standardization): training with each packed clip's group
statistics, their running update, the single-clip fallback, and group adaptation at inference."""

import json

import numpy as np
import pytest
import torch

from conftest import tiny_config


def standardizing_model(**overrides):
    from modeling_emotion_whisper import WhisperForEmotionClassification

    torch.manual_seed(0)
    settings = dict(num_domains=4, feature_standardization="speaker", layer_weighting=True, standardization_momentum=0.1)
    return WhisperForEmotionClassification(tiny_config(**{**settings, **overrides}))


def z_score(mean, var):
    """The adaptation that z-scores features with these statistics."""
    std = np.sqrt(np.asarray(var) + 1e-5)
    return {"feature_scale": (1 / std).tolist(), "feature_shift": (-np.asarray(mean) / std).tolist()}


def test_settings_are_saved_and_checked(tmp_path):
    from modeling_emotion_whisper import EmotionWhisperConfig, WhisperForEmotionClassification

    model = standardizing_model(feature_standardization="corpus")
    model.save_pretrained(tmp_path)
    loaded = WhisperForEmotionClassification.from_pretrained(tmp_path)
    assert loaded.config.feature_standardization == "corpus" and loaded.config.standardization_momentum == 0.1
    with pytest.raises(ValueError, match="feature_standardization must be one of"):
        EmotionWhisperConfig(feature_standardization="utterance")


def test_a_model_without_statistics_says_what_to_do():
    model = standardizing_model().eval()
    with pytest.raises(ValueError, match="holds no statistics yet: train it with train.py"):
        model(input_features=torch.randn(1, 80, 100))


def test_training_standardizes_each_clip_with_its_group_and_tracks_the_groups():
    """Two rows, one clip each, from groups 0 and 1: the training forward's clip logits are the eval forward's under
    the z-score of that group, and each group's statistics move toward the clip by the momentum."""
    model = standardizing_model()
    rng = np.random.default_rng(0)
    mean, var = rng.normal(size=(2, 32)), rng.uniform(0.5, 2.0, size=(2, 32))
    model.set_group_statistics(mean, var, group_of_domain=[0, 0, 1, 1])
    features = torch.randn(2, 80, 120)
    segments = torch.ones(2, 120, dtype=torch.long)
    segments[1, 100:] = 0  # the second clip is shorter
    model.train()
    out = model(input_features=features, segment_ids=segments, domain_labels=torch.tensor([1, 2]))

    model.eval()
    for row, group in ((0, 0), (1, 1)):
        model.set_adaptation(z_score(mean[group], var[group]))
        alone = model(input_features=features[row : row + 1, :, : int((segments[row] > 0).sum())])
        torch.testing.assert_close(out.segment_logits[row], alone.logits[0], rtol=1e-4, atol=1e-5)
        pooled = alone.pooled_features[0].detach().double().numpy()
        expected = 0.9 * mean[group] + 0.1 * pooled  # momentum 0.1, one clip
        np.testing.assert_allclose(model.group_mean[group].numpy(), expected, rtol=1e-4, atol=1e-5)
    model.set_adaptation(None)
    # without group statistics a single clip is z-scored with the source statistics, once they exist
    model.set_group_statistics(None, None, None)
    model.config.source_feature_mean, model.config.source_feature_std = mean[0].tolist(), np.sqrt(var[0]).tolist()
    plain = model(input_features=features[:1])
    model.set_adaptation(z_score(mean[0], var[0] - 1e-5))
    torch.testing.assert_close(plain.logits, model(input_features=features[:1]).logits, rtol=1e-4, atol=1e-5)


def test_feature_adaptation_of_a_standardizing_model_z_scores_the_group():
    from modeling_emotion_whisper.adaptation import apply_offline, estimate, speaker_standardize

    model = standardizing_model().eval()
    rng = np.random.default_rng(1)
    features = rng.normal(3.0, 2.0, size=(40, 32))
    adaptation = estimate("feature", model, None, features)
    z = features * np.asarray(adaptation["feature_scale"]) + np.asarray(adaptation["feature_shift"])
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    weight, bias = model.emotion_head.weight.detach().numpy(), model.emotion_head.bias.detach().numpy()
    logits = apply_offline(adaptation, np.zeros((40, 8)), features, weight, bias)
    np.testing.assert_allclose(logits, z @ weight.T + bias, rtol=1e-6, atol=1e-6)
    per_speaker = speaker_standardize(features, [0] * 20 + [1] * 20, np.zeros(32), np.ones(32))
    np.testing.assert_allclose(per_speaker[:20].mean(0), 0, atol=1e-9)


def test_training_groups_by_speaker_or_corpus():
    from datasets import Dataset

    from modeling_emotion_whisper.adaptation import training_groups

    rows = Dataset.from_dict({"domain": [0, 0, 3, 4, 4], "dataset": ["a", "a", "a", "b", "b"]})
    clips, of_domain = training_groups(rows, "speaker", num_domains=6)
    assert clips.tolist() == [0, 0, 1, 2, 2] and of_domain.tolist() == [0, 0, 0, 1, 2, 0]
    clips, of_domain = training_groups(rows, "corpus", num_domains=6)
    assert clips.tolist() == [0, 0, 0, 1, 1] and of_domain[[0, 3, 4]].tolist() == [0, 0, 1]


def test_skewed_subset_keeps_one_or_two_emotions_per_speaker_and_all_per_corpus():
    from datasets import Dataset

    from modeling_emotion_whisper.evaluation import skewed_subset

    labels = [e for _ in range(9) for e in range(6) for _ in range(3)]  # 9 speakers x 6 emotions x 3 clips
    speakers = [s for s in range(9) for _ in range(18)]
    rows = Dataset.from_dict({"label": labels + [0, 1, 2, 3], "speaker": [str(s) for s in speakers] + ["x", "x", "y", "y"],
                              "dataset": ["nemo"] * len(labels) + ["two"] * 4})
    keep = skewed_subset(rows, seed=0)
    assert keep.tolist() == skewed_subset(rows, seed=0).tolist()  # seeded
    assert keep.tolist() != skewed_subset(rows, seed=1).tolist()
    kept = rows.select(keep)
    nemo = [(s, l) for s, l, d in zip(kept["speaker"], kept["label"], kept["dataset"]) if d == "nemo"]
    per_speaker = {s: {l for t, l in nemo if t == s} for s, _ in nemo}
    assert len(per_speaker) == 9 and all(1 <= len(v) <= 2 for v in per_speaker.values())
    assert {l for _, l in nemo} == set(range(6))
    assert len(nemo) == 3 * sum(len(v) for v in per_speaker.values())  # every clip of a kept emotion stays
    # 2 speakers with 2 emotions each, 4 in the corpus: each keeps both, so the corpus keeps all 4
    assert sorted(l for l, d in zip(kept["label"], kept["dataset"]) if d == "two") == [0, 1, 2, 3]


def _clips(tmp_path, count, prefix):
    import soundfile as sf

    from conftest import synth_speech

    paths = []
    for i in range(count):
        path = tmp_path / f"{prefix}_{i:02d}.wav"
        sf.write(path, synth_speech(0.5 + 0.1 * i, f0=120 + 30 * i, seed=i), 16000)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("standardizing", [True, False])
def test_predict_adapts_to_its_inputs_per_group(tmp_path, standardizing):
    """predict_clips(adapt_to_inputs=True) gives the model's scores under the z-score (standardizing model) or the
    source mapping (plain model) of each group's own pooled features; too small a group is refused first."""
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper.adaptation import apply_offline, estimate
    from modeling_emotion_whisper.inference import predict_clips

    model = standardizing_model(feature_standardization="speaker" if standardizing else "none").eval()
    model.config.source_feature_mean, model.config.source_feature_std = [0.1] * 32, [2.0] * 32
    extractor = WhisperFeatureExtractor(feature_size=80)
    paths = _clips(tmp_path, 6, "a") + _clips(tmp_path, 5, "b")
    groups = ["a"] * 6 + ["b"] * 5
    raw = predict_clips(model, extractor, paths, return_raw=True)
    adapted = predict_clips(model, extractor, paths, return_raw=True, adapt_to_inputs=True, groups=groups,
                            min_clips=5)
    weight, bias = model.emotion_head.weight.detach().numpy(), model.emotion_head.bias.detach().numpy()
    for rows in (slice(0, 6), slice(6, 11)):
        features = np.stack([r["features"] for r in raw[rows]])
        expected = apply_offline(estimate("feature", model, None, features), None, features, weight, bias)
        np.testing.assert_allclose(np.stack([r["logits"] for r in adapted[rows]]), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.stack([r["features"] for r in adapted[rows]]), features, rtol=1e-5, atol=1e-6)
    assert not np.allclose(adapted[0]["logits"], raw[0]["logits"], atol=1e-3)
    with pytest.raises(ValueError, match="at least 6 clips per group.*'b': 5"):
        predict_clips(model, extractor, paths, adapt_to_inputs=True, groups=groups, min_clips=6)


def test_predict_command_groups_by_pattern_or_table(tmp_path, capsys):
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper import cli
    from modeling_emotion_whisper.inference import predict_clips

    model = standardizing_model().eval()
    model.config.source_feature_mean, model.config.source_feature_std = [0.0] * 32, [1.0] * 32
    model.save_pretrained(tmp_path / "model")
    folder = tmp_path / "clips"
    folder.mkdir()
    paths = _clips(folder, 4, "spkA") + _clips(folder, 4, "spkB")
    common = ["predict", str(folder), "--model", str(tmp_path / "model"), "--min-clips", "4"]
    assert cli.main(common + ["--speaker-pattern", "^(spk[AB])_", "--json", str(tmp_path / "p.json")]) == 0
    by_pattern = json.loads((tmp_path / "p.json").read_text())
    assert sorted(by_pattern) == sorted(paths) and all({"label", "scores"} <= set(r) for r in by_pattern.values())
    # relative paths in the table are relative to the table
    (tmp_path / "speakers.csv").write_text("path,who\n" + "".join(f"clips/{p.split('/')[-1]},{p.split('/')[-1][:4]}\n"
                                                                  for p in paths))
    assert cli.main(common + ["--speaker-csv", str(tmp_path / "speakers.csv"), "--speaker-column", "who",
                              "--json", str(tmp_path / "c.json")]) == 0
    assert json.loads((tmp_path / "c.json").read_text()) == by_pattern  # the same groups either way
    assert cli.main(common + ["--adapt-to-inputs", "--json", str(tmp_path / "all.json")]) == 0
    assert json.loads((tmp_path / "all.json").read_text()) != by_pattern
    capsys.readouterr()
    assert cli.main(common[:-1] + ["5", "--speaker-pattern", "^(spk[AB])_"]) == 2
    assert "at least 5 clips per group" in capsys.readouterr().err
    assert cli.main(common + ["--speaker-pattern", "^(nobody)_"]) == 2
    assert "does not match spkA_00.wav" in capsys.readouterr().err
    assert cli.main(common + ["--speaker-csv", str(tmp_path / "speakers.csv")]) == 2
    assert "no 'speaker' column" in capsys.readouterr().err
    # a saved adaptation and the inputs' own statistics are two adaptations: refused together, not one dropped
    (tmp_path / "adaptation.json").write_text(json.dumps({"logit_shift": [0.0] * model.config.num_labels}))
    assert cli.main(common + ["--adapt-to-inputs", "--adaptation", str(tmp_path / "adaptation.json")]) == 2
    assert "pass one" in capsys.readouterr().err
    model.set_adaptation({"logit_shift": [0.5] * model.config.num_labels})
    with pytest.raises(ValueError, match="holds an adaptation"):
        predict_clips(model, WhisperFeatureExtractor(feature_size=80), paths, adapt_to_inputs=True, min_clips=4)

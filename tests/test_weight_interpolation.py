"""benchmarks/weight_interpolation.py: the average of two models in weight space (WiSE-FT)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import weight_interpolation  # noqa: E402


def test_interpolation_moves_encoder_and_frame_head_and_saves_the_paper_layout(tmp_path):
    from modeling_emotion_whisper import WhisperForEmotionClassification

    torch.manual_seed(0)
    start_prior = [0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.0, 0.2]
    start = WhisperForEmotionClassification(tiny_config(num_domains=3, label_prior=start_prior))
    # the fine-tuned model was refitted: its per-frame head is frame_head, its clip head reads every layer
    finetuned = WhisperForEmotionClassification(tiny_config(layer_concatenation=True, frame_head=True,
                                                            feature_standardization="corpus", num_domains=5,
                                                            label_prior=[0.125] * 8))
    start.save_pretrained(tmp_path / "start")
    finetuned.save_pretrained(tmp_path / "finetuned")
    weight_interpolation.main(["--start", str(tmp_path / "start"), "--finetuned", str(tmp_path / "finetuned"),
                               "--alpha", "0.25", "--out", str(tmp_path / "mix")])
    mix = WhisperForEmotionClassification.from_pretrained(tmp_path / "mix")
    assert not mix.config.layer_concatenation and mix.config.feature_standardization == "none"
    assert not mix.config.frame_head and mix.config.num_domains == 5  # the fine-tuned model's config
    # logit adjustment of the averaged head: the log priors averaged too (a class absent from one keeps the other's)
    expected = np.array([np.exp(0.75 * np.log(a) + 0.25 * np.log(0.125)) if a > 0 else 0.125 for a in start_prior])
    np.testing.assert_allclose(mix.config.label_prior, expected / expected.sum(), rtol=1e-6)
    assert mix.config.interpolated_from["alpha"] == 0.25
    ours, a, b = mix.encoder.state_dict(), start.encoder.state_dict(), finetuned.encoder.state_dict()
    for name in ours:
        torch.testing.assert_close(ours[name], 0.75 * a[name] + 0.25 * b[name])
    torch.testing.assert_close(mix.emotion_head.weight, 0.75 * start.emotion_head.weight
                               + 0.25 * finetuned.frame_head.weight)
    assert mix.domain_head.out_features == 5

    # From a Whisper checkpoint (no trained head): the encoder moves back towards it, the head is the fine-tuned one.
    from transformers import WhisperConfig, WhisperForAudioClassification

    whisper = WhisperForAudioClassification(WhisperConfig(**{k: v for k, v in tiny_config().to_dict().items()
                                                             if k in WhisperConfig().to_dict()}))
    whisper.save_pretrained(tmp_path / "whisper")
    weight_interpolation.main(["--start", str(tmp_path / "whisper"), "--finetuned", str(tmp_path / "finetuned"),
                               "--alpha", "0.5", "--out", str(tmp_path / "from-whisper")])
    mix = WhisperForEmotionClassification.from_pretrained(tmp_path / "from-whisper")
    ours, a = mix.encoder.state_dict(), whisper.encoder.state_dict()
    for name in ours:
        torch.testing.assert_close(ours[name], 0.5 * a[name] + 0.5 * b[name])
    torch.testing.assert_close(mix.emotion_head.weight, finetuned.frame_head.weight)

    with pytest.raises(SystemExit, match="paper's layout"):
        weight_interpolation.main(["--start", str(tmp_path / "finetuned"), "--finetuned", str(tmp_path / "start"),
                                   "--alpha", "0.5", "--out", str(tmp_path / "bad")])
    with pytest.raises(SystemExit, match="within"):
        weight_interpolation.main(["--start", str(tmp_path / "start"), "--finetuned", str(tmp_path / "finetuned"),
                                   "--alpha", "1.5", "--out", str(tmp_path / "bad")])
    WhisperForEmotionClassification(tiny_config(d_model=48, encoder_ffn_dim=96)).save_pretrained(tmp_path / "other")
    with pytest.raises(SystemExit, match="trained from --start"):
        weight_interpolation.main(["--start", str(tmp_path / "start"), "--finetuned", str(tmp_path / "other"),
                                   "--alpha", "0.5", "--out", str(tmp_path / "bad")])


def test_soup_averages_encoders_and_frame_heads_uniformly(tmp_path):
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.release import provenance

    torch.manual_seed(1)
    priors = ([0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.0, 0.2], [0.125] * 8, [0.1, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    models = [WhisperForEmotionClassification(tiny_config(frame_head=True, feature_standardization="corpus",
                                                          label_prior=list(p))) for p in priors[:2]]
    models.append(WhisperForEmotionClassification(tiny_config(label_prior=list(priors[2]))))  # the paper's layout
    paths = []
    for i, model in enumerate(models):
        model.save_pretrained(tmp_path / str(i))
        paths.append(str(tmp_path / str(i)))
    weight_interpolation.main(["--soup", *paths, "--out", str(tmp_path / "soup")])
    soup = WhisperForEmotionClassification.from_pretrained(tmp_path / "soup")
    assert not soup.config.frame_head and soup.config.feature_standardization == "none"
    states = [m.encoder.state_dict() for m in models]
    for name, value in soup.encoder.state_dict().items():
        torch.testing.assert_close(value, sum(s[name] for s in states) / 3)
    heads = [models[0].frame_head.weight, models[1].frame_head.weight, models[2].emotion_head.weight]
    torch.testing.assert_close(soup.emotion_head.weight, sum(heads) / 3)
    # the geometric mean of the priors where all three have one; a class absent from the first keeps the others'
    expected = np.exp(np.log(np.maximum(priors, 1e-30)).mean(0))
    expected[6] = np.exp(0.5 * np.log(0.125) + 0.5 * np.log(0.1))
    np.testing.assert_allclose(soup.config.label_prior, expected / expected.sum(), rtol=1e-5)
    assert "3 models" in provenance(soup.config)

    with pytest.raises(SystemExit, match="either --soup"):
        weight_interpolation.main(["--soup", *paths, "--alpha", "0.5", "--out", str(tmp_path / "bad")])
    with pytest.raises(SystemExit, match="at least two"):
        weight_interpolation.main(["--soup", paths[0], "--out", str(tmp_path / "bad")])
    WhisperForEmotionClassification(tiny_config(input_normalization="utterance")).save_pretrained(tmp_path / "cmn")
    with pytest.raises(SystemExit, match="input_normalization"):
        weight_interpolation.main(["--soup", paths[0], str(tmp_path / "cmn"), "--out", str(tmp_path / "bad")])

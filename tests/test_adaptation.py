import json

import numpy as np
import pytest
import torch

from modeling_emotion_whisper.adaptation import (apply_offline, em_prior, estimate, feature_standardization,
                                                 few_shot_finetune, load_adaptation, save_adaptation,
                                                 speaker_standardize)


def shifted_domains(seed=0, n=400, dim=16, classes=4, offset=8.0):
    """Source and target features of the same classes; the target is moved by a known per-domain offset."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, size=(classes, dim))
    y_source, y_target = rng.integers(0, classes, n), rng.integers(0, classes, n)
    source = centers[y_source] + rng.normal(0, 1, (n, dim))
    target = centers[y_target] + rng.normal(0, 1, (n, dim)) + offset * rng.normal(0, 1, dim)
    return source, y_source, target, y_target


def fit_head(features, labels, classes, steps=300):
    torch.manual_seed(0)
    head = torch.nn.Linear(features.shape[1], classes)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    x, y = torch.tensor(features, dtype=torch.float32), torch.tensor(labels)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head(x), y).backward()
        optimizer.step()
    return head.weight.detach().numpy(), head.bias.detach().numpy()


def test_feature_standardization_recovers_what_the_domain_offset_costs():
    source, y_source, target, y_target = shifted_domains()
    weight, bias = fit_head(source, y_source, 4)
    accuracy = lambda logits, y: float((logits.argmax(1) == y).mean())  # noqa: E731
    in_domain = accuracy(source @ weight.T + bias, y_source)
    unadapted = accuracy(target @ weight.T + bias, y_target)
    stats = feature_standardization(target, source.mean(0), source.std(0))  # no target labels used
    adapted = accuracy(apply_offline(stats, target @ weight.T + bias, target, weight, bias), y_target)
    assert in_domain > 0.9 and unadapted < in_domain - 0.2, (in_domain, unadapted)
    assert adapted > unadapted + 0.2 and adapted > in_domain - 0.1, (unadapted, adapted)
    speakers = np.arange(len(target)) % 4
    per_speaker = speaker_standardize(target, speakers, source.mean(0), source.std(0))
    assert accuracy(per_speaker @ weight.T + bias, y_target) > unadapted + 0.2


def test_em_recovers_a_shifted_prior():
    rng = np.random.default_rng(1)
    source_prior = np.array([0.25, 0.25, 0.25, 0.25, 0.0])  # class 4 never occurred in training
    true_target = np.array([0.7, 0.1, 0.1, 0.1, 0.0])
    labels = rng.choice(5, size=5000, p=true_target)
    # a noisy observation of the label, and its posterior under the source prior (calibrated there)
    confusion = np.full((5, 5), 0.4 / 3)
    np.fill_diagonal(confusion, 0.6)
    observed = np.array([rng.choice(5, p=confusion[y] / confusion[y].sum()) for y in labels])
    posterior = confusion[:, observed].T * source_prior
    posterior /= posterior.sum(1, keepdims=True)
    naive = posterior.mean(0)
    estimated = em_prior(posterior, source_prior)
    assert np.abs(estimated - true_target).max() < 0.05 < np.abs(naive - true_target).max()
    assert estimated[4] == 0


def test_model_applies_an_adaptation_exactly_as_offline(tiny_model, tmp_path):
    features = torch.randn(6, 80, 120)
    with torch.no_grad():
        raw = tiny_model(input_features=features)
    tiny_model.config.source_feature_mean = [0.0] * 32
    tiny_model.config.source_feature_std = [1.0] * 32
    tiny_model.config.label_prior = [0.125] * 8
    weight = tiny_model.emotion_head.weight.detach().numpy()
    bias = tiny_model.emotion_head.bias.detach().numpy()
    for method in ("feature", "logit", "prior"):
        stats = estimate(method, tiny_model, raw.logits.numpy(), raw.pooled_features.numpy())
        save_adaptation(stats, tmp_path / f"{method}.json")
        tiny_model.set_adaptation(load_adaptation(tmp_path / f"{method}.json"))
        with torch.no_grad():
            adapted = tiny_model(input_features=features).logits.numpy()
        tiny_model.set_adaptation(None)
        expected = apply_offline(stats, raw.logits.numpy(), raw.pooled_features.numpy(), weight, bias)
        np.testing.assert_allclose(adapted, expected, atol=1e-4)
    with pytest.raises(ValueError, match="expected"):
        tiny_model.set_adaptation({"logit_shift": [0.0, 1.0]})
    (tmp_path / "bad.json").write_text(json.dumps({"x": 1}))
    with pytest.raises(ValueError, match="not an adaptation file"):
        load_adaptation(tmp_path / "bad.json")


def test_few_shot_head_training_learns_the_support_set(tmp_path):
    from datasets import Dataset
    from transformers import WhisperFeatureExtractor
    import soundfile as sf

    from conftest import synth_speech, tiny_config
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.packing import ClipCollator

    torch.manual_seed(0)
    tiny_model = WhisperForEmotionClassification(tiny_config(init_std=0.2)).eval()  # pitch survives the random stem

    rows = []
    for i in range(12):
        path = tmp_path / f"{i}.wav"
        sf.write(path, synth_speech(1.0, f0=120 if i % 2 else 320, seed=i), 16000)
        label = [0.0] * 8
        label[5 if i % 2 else 0] = 1.0
        rows.append({"path": str(path), "offset": 0.0, "duration": 1.0, "soft_label": label})
    support = Dataset.from_list(rows)
    collator = ClipCollator(WhisperFeatureExtractor(feature_size=80, return_attention_mask=True))
    for layers in (0, 1):
        model = few_shot_finetune(tiny_model, support, collator, train_layers=layers, steps=80, lr=0.05)
        batch = collator(rows)
        with torch.no_grad():
            predicted = model(input_features=batch["input_features"], attention_mask=batch["attention_mask"]).logits
        assert (predicted.argmax(1).numpy() == np.array([0, 5] * 6)).mean() == 1.0
        assert not any(p.requires_grad for p in model.parameters())


def test_cli_adapt_then_predict_and_pipeline_apply_it(tiny_model, tmp_path, capsys):
    import soundfile as sf
    from transformers import pipeline

    from conftest import synth_speech
    from modeling_emotion_whisper import cli

    tiny_model.config.source_feature_mean = [0.0] * 32
    tiny_model.config.source_feature_std = [1.0] * 32
    tiny_model.save_pretrained(tmp_path / "model")
    target = tmp_path / "target"
    target.mkdir()
    for i in range(5):
        sf.write(target / f"{i}.wav", synth_speech(1.0 + 0.2 * i, seed=i), 16000)
    (target / "broken.wav").write_bytes(b"not audio")
    assert cli.main(["adapt", str(target), "--model", str(tmp_path / "model"), "--method", "feature",
                     "--out", str(tmp_path / "a.json")]) == 0
    stats = json.loads((tmp_path / "a.json").read_text())
    assert stats["clips"] == 5 and len(stats["feature_scale"]) == 32
    assert "broken.wav" in capsys.readouterr().err
    assert cli.main(["predict", str(target / "0.wav"), "--model", str(tmp_path / "model"),
                     "--adaptation", str(tmp_path / "a.json")]) == 0
    pipe = pipeline("audio-classification", model=str(tmp_path / "model"), trust_remote_code=True)
    wave = synth_speech(1.0, seed=0)
    as_dict = lambda result: {r["label"]: r["score"] for r in result}  # noqa: E731
    same = lambda a, b: as_dict(a) == pytest.approx(as_dict(b), abs=1e-6)  # noqa: E731  one model, same input
    plain = pipe(wave, top_k=None)
    adapted = pipe(wave, top_k=None, adaptation=str(tmp_path / "a.json"))
    assert not same(plain, adapted)
    # a call's adaptation applies to that call only
    assert same(pipe(wave, top_k=None), plain) and pipe.model.adaptation is None
    # one given at construction applies to every call, until a call says otherwise
    adapted_pipe = pipeline("audio-classification", model=str(tmp_path / "model"), trust_remote_code=True,
                            adaptation=str(tmp_path / "a.json"))
    assert same(adapted_pipe(wave, top_k=None), adapted) and same(adapted_pipe(wave, top_k=None), adapted)
    assert same(adapted_pipe(wave, top_k=None, adaptation="none"), plain)
    assert same(adapted_pipe(wave, top_k=None), adapted)
    # the same for logit adjustment
    pipe.model.config.label_prior = [0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.0, 0.05]
    adjusted = pipe(wave, top_k=None, apply_logit_adjustment=True)
    assert not same(adjusted, plain) and same(pipe(wave, top_k=None), plain)

"""Layer concatenation and the head refit (modeling_emotion_whisper.head_fit), alone and through train.py."""

import json

import numpy as np
import pytest
import torch

from conftest import synth_speech, tiny_config
from test_train import setup  # noqa: F401  (the tiny checkpoint and fixture corpus, built once per module)


def test_logistic_regression_matches_scikit_learn():
    """The torch L-BFGS fit minimizes scikit-learn's objective: same decision function on the same data."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    from modeling_emotion_whisper.head_fit import ABSENT_CLASS_MARGIN, fit_logistic_regression

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 12))
    y = rng.choice([0, 2, 3, 5], size=300, p=[0.5, 0.2, 0.2, 0.1])  # classes 1, 4, 6, 7 never occur; unbalanced
    x = centres[np.searchsorted([0, 2, 3, 5], y)] + 1.5 * rng.normal(size=(300, 12))
    weight, bias = fit_logistic_regression(x, y, num_classes=8, C=0.5)
    reference = sklearn.LogisticRegression(C=0.5, class_weight="balanced", max_iter=2000, tol=1e-10).fit(x, y)
    ours = x @ weight.T + bias
    theirs = reference.decision_function(x)
    # multinomial logits are defined up to a constant per row
    centred = lambda z: z - z.mean(1, keepdims=True)  # noqa: E731
    torch.testing.assert_close(centred(ours[:, [0, 2, 3, 5]]), centred(theirs), atol=2e-3, rtol=1e-3)
    assert (ours.argmax(1) == reference.predict(x)).all()
    assert (weight[[1, 4, 6, 7]] == 0).all() and np.allclose(bias[[1, 4, 6, 7]], bias[[0, 2, 3, 5]].min() - ABSENT_CLASS_MARGIN)
    # explicit sample weights (benchmarks/refit_variants.py weighs corpora) are scikit-learn's sample_weight
    sample_weight = rng.uniform(0.2, 3.0, size=300)
    weight, bias = fit_logistic_regression(x, y, num_classes=8, C=0.5, sample_weight=sample_weight)
    reference = sklearn.LogisticRegression(C=0.5, max_iter=2000, tol=1e-10).fit(x, y, sample_weight=sample_weight)
    torch.testing.assert_close(centred((x @ weight.T + bias)[:, [0, 2, 3, 5]]), centred(reference.decision_function(x)),
                               atol=2e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="one per clip"):
        fit_logistic_regression(x, y, num_classes=8, sample_weight=sample_weight[:10])
    with pytest.raises(ValueError, match="at least two emotions"):
        fit_logistic_regression(x, np.zeros(300, dtype=int), num_classes=8)


def test_layer_concatenation_feeds_every_hidden_state_to_the_heads():
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.features import mel_features
    from transformers import WhisperFeatureExtractor

    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(num_domains=3, layer_concatenation=True)).eval()
    assert model.head_input_size == 3 * 32 and model.emotion_head.in_features == 96 and model.domain_head.in_features == 96
    extractor = WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)
    features, mask = mel_features(extractor, [synth_speech(1.0), synth_speech(2.3, seed=1)])
    with torch.no_grad():
        out = model(input_features=features, attention_mask=mask, output_hidden_states=True)
    assert out.pooled_features.shape == (2, 96) and out.frame_logits.shape[-1] == 8
    # the pooled features are the clip means of [input embedding, layer 1, final output] side by side
    frames = out.frame_mask.float()[..., None]
    states = [*out.hidden_states[:-1], model.encoder.layer_norm(out.hidden_states[-1])]
    expected = torch.cat([(h * frames).sum(1) / frames.sum(1) for h in states], dim=-1)
    torch.testing.assert_close(out.pooled_features, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.logits, model.emotion_head(expected), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="exclude each other"):
        tiny_config(layer_concatenation=True, layer_weighting=True)


def test_probe_model_from_train_py_without_fine_tuning(setup):  # noqa: F811
    """--num_epochs 0 --refit_head: the encoder as it is, every layer side by side, per-speaker z-scores and a
    balanced logistic regression, saved as an ordinary model whose head is the fitted probe."""
    import train
    from datasets import load_from_disk

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.adaptation import pooled_features, speaker_standardize, training_groups
    from modeling_emotion_whisper.head_fit import fit_logistic_regression
    from modeling_emotion_whisper.packing import ClipCollator
    from transformers import WhisperFeatureExtractor

    out = setup / "probe"
    with pytest.raises(SystemExit, match="must be none, speaker or corpus"):
        train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--num_epochs", "0", "--refit_head", "true"])
    with pytest.raises(SystemExit, match="trains nothing"):
        train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--num_epochs", "0"])
    train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--num_epochs", "0", "--refit_head", "speaker",
                "--bf16", "false"])
    fit = json.loads((out / "refit_head.json").read_text())
    rows = load_from_disk(str(setup / "data"))["train"]
    assert fit["clips"] == len(rows) and fit["level"] == "speaker" and fit["groups"] == len(set(rows["domain"]))
    model = WhisperForEmotionClassification.from_pretrained(out / "final").eval()
    config = json.loads((out / "final" / "config.json").read_text())
    assert config["layer_concatenation"] and config["feature_standardization"] == "speaker"
    assert not config["frame_head"]  # nothing trained the Whisper checkpoint's head: frames use the probe
    assert len(config["source_feature_mean"]) == 96 and config["training_corpora"].keys() == {"savee"}
    # The saved head is the probe fitted on the saved encoder's features: refit it by hand and compare.
    collator = ClipCollator(WhisperFeatureExtractor(feature_size=80, return_attention_mask=True))
    features = pooled_features(model, rows, collator)
    # a single clip is z-scored with the statistics of the clips the head was fitted on, not the validation clips'
    np.testing.assert_allclose(config["source_feature_mean"], features.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(config["source_feature_std"], features.std(0), rtol=1e-4, atol=1e-5)
    groups, _ = training_groups(rows, "speaker", model.config.num_domains)
    weight, bias = fit_logistic_regression(speaker_standardize(features.astype(np.float64), groups, 0.0, 1.0),
                                           np.asarray(rows["label"]), model.config.num_labels)
    torch.testing.assert_close(model.emotion_head.weight.double(), torch.from_numpy(weight), atol=5e-3, rtol=5e-3)
    # the bias carries tau * log(prior), so that logit adjustment gives back the class-balanced fit
    present = np.unique(rows["label"])
    adjusted = model.adjust_logits(model.emotion_head.bias.detach()[None])[0].double()
    torch.testing.assert_close(adjusted[present], torch.from_numpy(bias)[present], atol=5e-3, rtol=5e-3)
    evaluation = json.loads((out / "final" / "eval_results.json").read_text())
    assert evaluation["overall"]["n"] > 0

    # Fine-tuning (the paper's layout: last layer, no standardization), then the refit, in one run: the saved model
    # has the fine-tuned encoder of the last checkpoint and the probe layout; per corpus here.
    tuned = setup / "tuned-refit"
    trainer = train.main([str(setup / "tiny.yaml"), "--output_dir", str(tuned), "--max_steps", "6",
                          "--refit_head", "corpus", "--bf16", "false"])
    refitted = WhisperForEmotionClassification.from_pretrained(tuned / "final")
    assert refitted.emotion_head.in_features == 96 and refitted.config.feature_standardization == "corpus"
    assert not trainer.model.config.layer_concatenation  # the layout it was fine-tuned in
    # frames keep the fine-tuned per-frame head: the same frame logits as the model before the refit
    assert refitted.config.frame_head
    from modeling_emotion_whisper.features import mel_features

    features, mask = mel_features(collator.feature_extractor, [synth_speech(1.5), synth_speech(0.7, seed=3)])
    with torch.no_grad():
        before = trainer.model.eval()(input_features=features, attention_mask=mask)
        after = refitted.eval()(input_features=features, attention_mask=mask)
    torch.testing.assert_close(after.frame_logits, before.frame_logits, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(after.logits, before.logits, atol=1e-2)  # clips: the refitted head
    for name, value in refitted.encoder.state_dict().items():
        assert torch.equal(value, trainer.model.encoder.state_dict()[name]), name
        assert not torch.equal(value, model.encoder.state_dict()[name]) or "conv" in name or "embed_positions" in name
    assert json.loads((tuned / "refit_head.json").read_text())["groups"] == 1  # one corpus

    # Refitting a refitted model (--num_epochs 0) replaces the clip head and keeps the fine-tuned frame head.
    again = setup / "refit-again"
    train.main([str(setup / "tiny.yaml"), "--output_dir", str(again), "--model_name_or_path", str(tuned / "final"),
                "--num_epochs", "0", "--refit_head", "speaker", "--refit_head_levels", "speaker,all", "--bf16", "false"])
    assert json.loads((again / "refit_head.json").read_text())["levels"] == {"speaker": len(set(rows["domain"])), "all": 1}
    twice = WhisperForEmotionClassification.from_pretrained(again / "final").eval()
    assert twice.config.frame_head and twice.config.feature_standardization == "speaker"
    with torch.no_grad():
        torch.testing.assert_close(twice(input_features=features, attention_mask=mask).frame_logits,
                                   before.frame_logits, atol=1e-4, rtol=1e-4)


def test_concatenating_standardizing_model_exports_to_onnx(tmp_path):
    """The probe layout (every layer side by side, z-scored) goes through the ONNX export and its self-check."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.onnx_export import export_onnx

    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(layer_concatenation=True, feature_standardization="corpus",
                                                        frame_head=True))
    model.config.source_feature_mean, model.config.source_feature_std = [0.1] * 96, [0.5] * 96
    model.save_pretrained(tmp_path / "model")
    report = export_onnx(tmp_path / "model", tmp_path / "onnx")
    assert report["model.onnx"]["logits"] < 1e-4 and report["model.onnx"]["same_label"] == 1.0


def test_refit_on_several_standardization_levels_stacks_the_clips():
    """fit_head(levels=...): the training clips z-scored within each grouping, stacked, one fit; the default is the
    model's own level alone, exactly as before."""
    from datasets import Dataset

    from modeling_emotion_whisper.head_fit import fit_head, fit_logistic_regression
    from modeling_emotion_whisper.adaptation import speaker_standardize

    rng = np.random.default_rng(0)
    n = 120
    labels = rng.integers(0, 3, n)
    corpus = np.where(np.arange(n) < 60, "a", "b")
    domain = (np.arange(n) // 20).astype(int)  # six speakers, three per corpus
    features = rng.standard_normal((n, 6)) + labels[:, None] + 3.0 * (corpus == "b")[:, None]
    rows = Dataset.from_dict({"label": labels.tolist(), "dataset": corpus.tolist(), "domain": domain.tolist()})
    config = tiny_config(feature_standardization="corpus", num_domains=6)
    single, _, summary = fit_head(features, rows, config, C=0.5)
    by_corpus = speaker_standardize(features, corpus, 0.0, 1.0)
    expected, _ = fit_logistic_regression(by_corpus, labels, 8, C=0.5)
    np.testing.assert_allclose(single, expected, atol=1e-6)
    assert summary["levels"] == {"corpus": 2} and summary["groups"] == 2
    stacked, _, summary = fit_head(features, rows, config, C=0.5, levels=["corpus", "speaker", "all"])
    z = np.concatenate([by_corpus, speaker_standardize(features, domain, 0.0, 1.0),
                        speaker_standardize(features, np.zeros(n), 0.0, 1.0)])
    expected, _ = fit_logistic_regression(z, np.tile(labels, 3), 8, C=0.5)
    np.testing.assert_allclose(stacked, expected, atol=1e-6)
    assert summary == {**summary, "clips": n, "groups": 2, "levels": {"corpus": 2, "speaker": 6, "all": 1}}
    with pytest.raises(ValueError, match="refit levels"):
        fit_head(features, rows, config, levels=["utterance"])

"""Two decision rules of evaluation and serving (issue 30.3, 30.5a).

A prior adaptation (log target prior - log training prior) already replaces the training prior: logit adjustment,
asked for or on by default, must not subtract it again (model forward, CLI, pipeline, evaluate_model.py).
Label banning keeps each corpus's emotions as the whole build has them, not those among the clips being scored.
"""

import json

import numpy as np
import pytest
import torch

import corpus_fixtures
from conftest import synth_speech, tiny_config

PRIOR = [0.30, 0.20, 0.04, 0.08, 0.16, 0.12, 0.0, 0.10]  # far from uniform: adjusting twice moves decisions


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny model with a skewed training prior, and a SAVEE-shaped build split by speaker."""
    from data_scripts import build
    from modeling_emotion_whisper import WhisperForEmotionClassification

    from datasets import concatenate_datasets, load_from_disk
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper.batch import predict_logits
    from modeling_emotion_whisper.packing import ClipCollator

    root = tmp_path_factory.mktemp("rules")
    corpus_fixtures.savee(root / "savee", per_code=2)
    build.main([f"--corpus=savee={root / 'savee'}", "--out", str(root / "data"), "--split", "speaker",
                "--validation_fraction", "0.25", "--num_proc", "1"])
    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(init_std=0.2, label_prior=PRIOR)).eval()
    data = load_from_disk(str(root / "data"))
    logits = predict_logits(model, concatenate_datasets([data[s] for s in data]),
                            ClipCollator(WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)))
    mean, std = torch.from_numpy(logits.mean(0)), torch.from_numpy(logits.std(0))
    # As a trained model's: logits vary by about a nat from clip to clip (a random head's differ by tens, and the
    # prior would decide nothing), and they carry the training prior (else EM collapses onto one emotion).
    log_prior = torch.log(torch.tensor(PRIOR).clamp(min=1e-4))
    with torch.no_grad():
        head = model.emotion_head
        head.weight.div_(std[:, None])
        head.bias.sub_(mean).div_(std).add_(log_prior)
    model.save_pretrained(root / "model")
    return root


def evaluate(built, out, *extra):
    import evaluate_model

    return evaluate_model.main(["--model", str(built / "model"), "--out", str(built / out), "--save_outputs",
                                *extra])


def test_forward_removes_the_training_prior_once_under_a_prior_adaptation(built):
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.adaptation import estimate, load_adaptation, save_adaptation

    model = WhisperForEmotionClassification.from_pretrained(built / "model").eval()
    features = torch.randn(12, 80, 150)
    with torch.no_grad():
        raw = model(input_features=features, apply_logit_adjustment=False)
    stats = estimate("prior", model, raw.logits.numpy(), raw.pooled_features.numpy())
    save_adaptation(stats, built / "prior.json")
    model.set_adaptation(load_adaptation(built / "prior.json"))
    with torch.no_grad():
        adjusted = model(input_features=features, apply_logit_adjustment=True)
        plain = model(input_features=features, apply_logit_adjustment=False)
    source = np.asarray(PRIOR) / sum(PRIOR)
    target = np.asarray(stats["target_prior"])
    clear = (source > 0) & (target > 1e-6)  # the shift is log t - log s (floored where EM drove t to ~0)
    np.testing.assert_allclose(np.asarray(stats["logit_shift"])[clear], np.log(target[clear] / source[clear]),
                               atol=1e-6)
    np.testing.assert_allclose(adjusted.logits.numpy(), raw.logits.numpy() + np.asarray(stats["logit_shift"]),
                               atol=1e-4)
    np.testing.assert_allclose(adjusted.logits.numpy(), plain.logits.numpy(), atol=1e-6)
    np.testing.assert_allclose(adjusted.frame_logits.numpy(), plain.frame_logits.numpy(), atol=1e-6)
    # any other adaptation leaves logit adjustment as asked
    model.set_adaptation({"logit_shift": stats["logit_shift"]})
    with torch.no_grad():
        shifted = model(input_features=features, apply_logit_adjustment=True).logits.numpy()
    assert not np.allclose(shifted, plain.logits.numpy(), atol=1e-3)
    with pytest.raises(ValueError, match="logit_shift"):
        model.set_adaptation({"target_prior": stats["target_prior"]})


def test_cli_and_pipeline_apply_a_prior_adaptation_once(built, tmp_path):
    import soundfile as sf
    from transformers import pipeline

    from modeling_emotion_whisper import cli

    folder = tmp_path / "target"
    folder.mkdir()
    for i in range(8):
        sf.write(folder / f"{i}.wav", synth_speech(1.0 + 0.1 * i, f0=120 + 30 * i, seed=i), 16000)
    model = str(built / "model")
    assert cli.main(["adapt", str(folder), "--model", model, "--method", "prior",
                     "--out", str(tmp_path / "p.json")]) == 0
    runs = {}
    for name, flags in (("adjusted", ["--logit-adjustment"]), ("plain", [])):
        assert cli.main(["predict", str(folder), "--model", model, "--adaptation", str(tmp_path / "p.json"),
                         "--json", str(tmp_path / f"{name}.json"), *flags]) == 0
        runs[name] = json.loads((tmp_path / f"{name}.json").read_text())
    for path, result in runs["plain"].items():
        assert runs["adjusted"][path]["scores"] == pytest.approx(result["scores"], abs=1e-6), path

    pipe = pipeline("audio-classification", model=model, trust_remote_code=True)
    wave = synth_speech(1.2, f0=200, seed=3)
    as_dict = lambda result: {r["label"]: r["score"] for r in result}  # noqa: E731
    adjusted = pipe(wave, top_k=None, adaptation=str(tmp_path / "p.json"), apply_logit_adjustment=True)
    plain = pipe(wave, top_k=None, adaptation=str(tmp_path / "p.json"), apply_logit_adjustment=False)
    assert as_dict(adjusted) == pytest.approx(as_dict(plain), abs=1e-6)


def test_evaluation_scores_a_prior_adaptation_without_adjusting_again(built):
    from datasets import concatenate_datasets, load_from_disk

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.adaptation import adapt_logits, estimate, save_adaptation

    common = ["--dataset_path", str(built / "data"), "--split", "all", "--adaptation", "none,prior"]
    on = evaluate(built, "eval-prior", *common)
    off = evaluate(built, "eval-prior-off", *common, "--no_logit_adjustment")
    assert on["prior"]["per_corpus"] == off["prior"]["per_corpus"]
    assert on["none"]["per_corpus"] != off["none"]["per_corpus"]  # adjustment moves decisions of these logits
    # and it is the decision under the estimated target prior: raw logits + log t - log s, banned, arg-max
    saved = np.load(built / "eval-prior" / "outputs.npz")
    model = WhisperForEmotionClassification.from_pretrained(built / "model")
    adapted = adapt_logits("prior", model, saved["logits"], saved["features"])
    data = load_from_disk(str(built / "data"))
    labels = np.asarray(concatenate_datasets([data[s] for s in data])["label"])
    allowed = sorted(set(labels))
    banned = np.full(8, -np.inf)
    banned[allowed] = 0.0
    expected = float(((adapted + banned).argmax(1) == labels).mean())
    assert on["prior"]["per_corpus"]["savee"]["micro_f1"] == pytest.approx(expected)
    # the same adaptation saved and applied in the model (--adaptation_json): scored the same, adjustment left out
    save_adaptation(estimate("prior", model, saved["logits"], saved["features"]), built / "eval-prior.json")
    applied = evaluate(built, "eval-prior-json", "--dataset_path", str(built / "data"), "--split", "all",
                       "--adaptation_json", str(built / "eval-prior.json"))
    assert applied["per_corpus"] == on["prior"]["per_corpus"] and not applied["logit_adjustment"]


def test_banning_keeps_the_corpus_emotions_a_validation_split_lacks(built, tmp_path):
    """The validation speaker never acted two of the corpus's emotions: scores must not ban them."""
    from datasets import DatasetDict, load_from_disk

    from modeling_emotion_whisper.metrics import evaluate_logits

    data = load_from_disk(str(built / "data"))
    corpus_set = sorted(set(data["train"]["label"]) | set(data["validation"]["label"]))
    full = evaluate(built, "eval-full", "--dataset_path", str(built / "data"), "--split", "validation")
    # drop the two emotions the model picks most on these clips, so that banning them would change decisions
    picked = np.asarray(full["per_corpus"]["savee"]["confusion_matrix"]).sum(0)  # predictions per emotion
    dropped = [int(x) for x in np.argsort(-picked, kind="stable")[:2]]
    assert set(dropped) <= set(corpus_set) and picked[dropped].sum() > 0
    lacking = DatasetDict({"train": data["train"],
                           "validation": data["validation"].filter(lambda y: y not in dropped, input_columns="label")})
    lacking.save_to_disk(str(tmp_path / "lacking"))
    result = evaluate(built, "eval-lacking", "--dataset_path", str(tmp_path / "lacking"), "--split", "validation")

    saved = np.load(built / "eval-lacking" / "outputs.npz")
    rows = lacking["validation"]
    labels = np.asarray(rows["label"])
    names = [f"e{i}" for i in range(8)]
    right = evaluate_logits(saved["logits"], labels, names, corpus_set, PRIOR)
    wrong = evaluate_logits(saved["logits"], labels, names, sorted(set(labels)), PRIOR)
    assert right["micro_f1"] != wrong["micro_f1"]  # the test can tell the two rules apart
    assert result["per_corpus"]["savee"]["micro_f1"] == pytest.approx(right["micro_f1"])
    assert result["per_corpus"]["savee"]["confusion_matrix"] == right["confusion_matrix"]
    assert result["overall"]["micro_f1"] == pytest.approx(right["micro_f1"])

"""One clip, one answer: every way of scoring clips (the pipeline at batch size 1 and 8, `predict_clips`, the
predict command, evaluation) gives the same scores, long clips included (30 s windows pooled by valid frames)."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import synth_speech
from modeling_emotion_whisper import cli
from modeling_emotion_whisper.features import label_names, mel_features, scores_from_logits
from modeling_emotion_whisper.inference import predict_clips

SECONDS = [45.0, 3.0, 0.5, 31.0, 7.3]  # a 45 s clip, one just over a window, and mixed short ones
# Different batch shapes sum in different orders: float32 rounding moves scores by ~1e-7. 1e-5 still catches a clip
# scored with another clip's padding (3e-4 on the 0.5 s clip), a dropped window or unweighted window means.
TOLERANCE = dict(rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers import WhisperFeatureExtractor

    from conftest import tiny_config
    from modeling_emotion_whisper import WhisperForEmotionClassification

    root = tmp_path_factory.mktemp("paths")
    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(num_domains=2, init_std=0.2)).eval()
    model.save_pretrained(root / "model")
    paths = []
    for i, seconds in enumerate(SECONDS):
        wave = np.concatenate([synth_speech(min(10.0, seconds - s), seed=10 * i + k, f0=120 + 40 * k)
                               for k, s in enumerate(np.arange(0, seconds, 10.0))])
        paths.append(root / f"clip{i}.wav")
        sf.write(paths[-1], wave, 16000)
    return model, WhisperFeatureExtractor(feature_size=80, return_attention_mask=True), root, paths


def as_matrix(results, names):
    return torch.tensor([[r["scores"][n] for n in names] for r in results])


def test_every_path_gives_the_same_scores(setup):
    from datasets import Dataset
    from transformers import pipeline

    from modeling_emotion_whisper.batch import predict_logits
    from modeling_emotion_whisper.packing import ClipCollator

    model, extractor, root, paths = setup
    names = label_names(model)
    alone = as_matrix([predict_clips(model, extractor, [str(p)])[0] for p in paths], names)

    # the 45 s clip by hand: its two windows scored alone, logits averaged by their valid frames (1500 and 750)
    wave = sf.read(paths[0], dtype="float32")[0]
    with torch.no_grad():
        logits = [model(input_features=mel_features(extractor, [w])[0]).logits[0] for w in (wave[:480000], wave[480000:])]
    by_hand = scores_from_logits((1500 * logits[0] + 750 * logits[1]) / 2250, model)
    torch.testing.assert_close(alone[0], by_hand, **TOLERANCE)

    batched = as_matrix(predict_clips(model, extractor, [str(p) for p in paths], batch_size=8), names)
    torch.testing.assert_close(batched, alone, **TOLERANCE)

    pipe = pipeline("audio-classification", model=str(root / "model"), trust_remote_code=True)
    for batch_size in (1, 8):
        results = pipe([str(p) for p in paths], top_k=None, batch_size=batch_size)
        got = torch.tensor([[{r["label"]: r["score"] for r in result}[n] for n in names] for result in results])
        torch.testing.assert_close(got, alone, **TOLERANCE)

    out = root / "cli.json"
    assert cli.main(["predict", *map(str, paths), "--model", str(root / "model"), "--json", str(out)]) == 0
    saved = json.loads(out.read_text())
    torch.testing.assert_close(as_matrix([saved[str(p)] for p in paths], names), alone, **TOLERANCE)

    rows = Dataset.from_dict({"path": [str(p) for p in paths], "duration": SECONDS})
    evaluated = predict_logits(model, rows, ClipCollator(extractor), batch_size=3)
    torch.testing.assert_close(scores_from_logits(evaluated, model), alone, **TOLERANCE)


def test_scores_are_numerically_safe(setup):
    model = setup[0]
    huge = torch.tensor([[1e4, 0.0, -1e4, 0, 0, 0, 0, 0]])
    assert torch.isfinite(scores_from_logits(huge, model)).all()
    torch.testing.assert_close(scores_from_logits(huge, model)[0, 0], torch.tensor(1.0))

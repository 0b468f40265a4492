"""ONNX export and the onnxruntime backend: the numpy features equal the Whisper feature extractor's; the exported
graph equals PyTorch at every length and in padded batches; predict and timeline on the onnx backend equal the
PyTorch ones, import no torch, and treat bad input the same way."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import REPO, synth_speech, tiny_config

onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install '.[onnx]')")
pytest.importorskip("onnxscript", reason="the torch.onnx exporter needs onnxscript (pip install '.[export]')")


@pytest.mark.parametrize("num_mel_bins", [80, 128])
def test_numpy_log_mel_equals_the_whisper_feature_extractor(num_mel_bins):
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper.mel import log_mel, mel_filter_bank

    extractor = WhisperFeatureExtractor(feature_size=num_mel_bins)
    filters = mel_filter_bank(num_mel_bins)
    np.testing.assert_allclose(filters, extractor.mel_filters, rtol=1e-10, atol=1e-12)
    for size in (400, 401, 16000, 48123):  # 25 ms (2 frames), a sample more, 1 s, a length not a multiple of 160
        wave = synth_speech(size / 16000, seed=size)
        expected = extractor([wave], sampling_rate=16000, padding="longest", return_tensors="np")["input_features"][0]
        got = log_mel(wave, filters)
        assert got.shape == expected.shape == (num_mel_bins, size // 160)
        # float64 FFT against torch's float32 STFT: ~1e-6, up to 2e-5 in near-silent bins; a wrong window, filter
        # or frame moves values by more than 1e-2
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.onnx_export import export_onnx

    root = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    # every option that adds operations to the graph: layer weighting, the prior, input normalization
    model = WhisperForEmotionClassification(tiny_config(num_domains=3, layer_weighting=True,
                                                        label_prior=[0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0, 0.2],
                                                        input_normalization="utterance"))
    model.config.source_feature_mean, model.config.source_feature_std = [0.1] * 32, [0.5] * 32
    model.save_pretrained(root / "model")
    report = export_onnx(root / "model", root / "onnx", quantize="int8")
    return root, model.eval(), report


def test_export_checks_itself_and_writes_the_runtime_files(exported):
    root, _, report = exported
    for name in ("model.onnx", "model_int8.onnx", "config.json", "emotion_head.safetensors", "export_check.json"):
        assert (root / "onnx" / name).exists(), name
    assert report["model.onnx"]["logits"] < 1e-4 and report["model.onnx"]["same_label"] == 1.0
    assert np.isfinite(report["model_int8.onnx"]["logits"])


def test_onnx_graph_equals_pytorch_at_every_length_and_padded(exported):
    """Clips alone at 25 ms to 30 s and one padded batch of them: logits within 1e-4 (float32 reordering is ~1e-6;
    a dropped mask or position table moves them by 1e-2 and more)."""
    from modeling_emotion_whisper.inference import TorchScorer
    from modeling_emotion_whisper.onnx_backend import OnnxScorer
    from transformers import WhisperFeatureExtractor

    root, model, _ = exported
    onnx = OnnxScorer(root / "onnx")
    torch_scorer = TorchScorer(model, WhisperFeatureExtractor(feature_size=80))
    waves = [synth_speech(s, seed=i) for i, s in enumerate((0.025, 0.5, 2.0, 12.5, 30.0, 47.0))]
    for group in [[w] for w in waves] + [waves]:
        for got, expected in zip(onnx.clips(group, True), torch_scorer.clips(group, True)):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    short = waves[:5]  # frames: windows of at most 30 s
    got_logits, got_mask = onnx.frames(short, False)
    expected_logits, expected_mask = torch_scorer.frames(short, False)
    np.testing.assert_array_equal(got_mask.astype(bool), expected_mask)
    np.testing.assert_allclose(got_logits[expected_mask], expected_logits[expected_mask], rtol=1e-4, atol=1e-4)


def test_predict_and_timeline_commands_on_the_onnx_backend(exported, tmp_path, capsys):
    from modeling_emotion_whisper import cli

    root, _, _ = exported
    clips = []
    for i, seconds in enumerate((0.4, 1.3, 3.0, 35.0)):
        clips.append(tmp_path / f"clip{i}.wav")
        sf.write(clips[-1], synth_speech(seconds, seed=i), 16000)
    results = {}
    for backend, model in (("torch", root / "model"), ("onnx", root / "onnx")):
        out = tmp_path / f"{backend}.json"
        assert cli.main(["predict", *map(str, clips), "--model", str(model), "--backend", backend,
                         "--logit-adjustment", "--json", str(out)]) == 0
        results[backend] = json.loads(out.read_text())
        out = tmp_path / f"{backend}-timeline.json"
        assert cli.main(["timeline", str(clips[-1]), "--model", str(model), "--backend", backend,
                         "--json", str(out)]) == 0
        results[backend + "-timeline"] = json.loads(out.read_text())
    for path in map(str, clips):
        assert results["onnx"][path]["label"] == results["torch"][path]["label"]
        for name, value in results["torch"][path]["scores"].items():
            assert results["onnx"][path]["scores"][name] == pytest.approx(value, abs=1e-4)
    assert results["onnx-timeline"]["segments"] == results["torch-timeline"]["segments"]
    frames_onnx = np.array(results["onnx-timeline"]["frames"]["probabilities"], dtype=float)
    frames_torch = np.array(results["torch-timeline"]["frames"]["probabilities"], dtype=float)
    np.testing.assert_allclose(frames_onnx, frames_torch, atol=1e-4)
    capsys.readouterr()
    assert cli.main(["predict", str(clips[0]), "--backend", "onnx"]) == 2
    assert "--backend onnx needs --model DIR" in capsys.readouterr().err
    assert cli.main(["predict", str(clips[0]), "--backend", "onnx", "--model", str(tmp_path)]) == 2
    assert "model.onnx not found" in capsys.readouterr().err


def test_onnx_backend_adapts_to_inputs_like_pytorch(exported, tmp_path):
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper.inference import predict_clips
    from modeling_emotion_whisper.onnx_backend import OnnxScorer

    root, model, _ = exported
    waves = [synth_speech(0.5 + 0.2 * i, f0=110 + 25 * i, seed=i) for i in range(6)]
    got = predict_clips(OnnxScorer(root / "onnx"), None, waves, adapt_to_inputs=True, min_clips=6, return_raw=True)
    expected = predict_clips(model, WhisperFeatureExtractor(feature_size=80), waves, adapt_to_inputs=True,
                             min_clips=6, return_raw=True)
    np.testing.assert_allclose(np.stack([r["logits"] for r in got]), np.stack([r["logits"] for r in expected]),
                               rtol=1e-4, atol=1e-4)


def test_onnx_backend_imports_no_torch_and_treats_bad_input_like_pytorch(exported, tmp_path, capsys):
    """The bad-input matrix through `predict` on both backends: the onnx one, in a fresh process, never imports torch
    or transformers, scores the same files and skips the others with the PyTorch backend's messages; `timeline`
    refuses the bad files with the same one-line errors."""
    import bad_inputs

    from modeling_emotion_whisper import cli

    root, _, _ = exported
    paths = bad_inputs.make(tmp_path / "bad")
    files = [str(p) for p in paths.values()]
    script = (
        "import sys; from modeling_emotion_whisper import cli\n"
        f"code = cli.main(['predict', *{files!r}, '--backend', 'onnx', '--model', {str(root / 'onnx')!r}])\n"
        "print('HEAVY', [m for m in ('torch', 'transformers') if m in sys.modules], 'CODE', code)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert "HEAVY [] CODE 0" in run.stdout, run.stdout + run.stderr
    assert cli.main(["predict", *files, "--model", str(root / "model")]) == 0
    captured = capsys.readouterr()
    skipped = lambda text: sorted(line for line in text.splitlines() if line.startswith("skipped"))  # noqa: E731
    assert skipped(run.stderr) == skipped(captured.err)
    assert len(skipped(captured.err)) == sum(v is not None for v in bad_inputs.EXPECTED.values())
    scored = lambda text: sorted(line.split()[0] for line in text.splitlines() if "/bad/" in line)  # noqa: E731
    assert scored(run.stdout) == scored(captured.out) and len(scored(captured.out)) >= 7
    for name, expected in bad_inputs.EXPECTED.items():
        if expected is None:
            continue
        errors = []
        for backend, model in (("torch", root / "model"), ("onnx", root / "onnx")):
            assert cli.main(["timeline", str(paths[name]), "--model", str(model), "--backend", backend]) == 2
            errors.append([line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")])
        assert errors[0] == errors[1] and len(errors[0]) == 1 and expected in errors[0][0]


def test_release_writes_the_onnx_files_and_says_how_to_use_them(exported, tmp_path):
    from modeling_emotion_whisper.inference import predict_clips
    from modeling_emotion_whisper.onnx_backend import OnnxScorer
    from modeling_emotion_whisper.release import release

    root, _, _ = exported
    folder = release(root / "model", "someone/emotion-whisper-tiny", out=tmp_path / "release", onnx=True)
    for name in ("model.onnx", "model_int8.onnx", "config.json", "emotion_head.safetensors"):
        assert (folder / "onnx" / name).exists(), name
    card = (folder / "README.md").read_text()
    assert "--backend onnx --model emotion-whisper-tiny/onnx" in card and "{{" not in card
    scored = predict_clips(OnnxScorer(folder / "onnx" / "model_int8.onnx"), None, [synth_speech(1.0)])
    assert abs(sum(scored[0]["scores"].values()) - 1) < 1e-5

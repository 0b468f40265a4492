"""Static (calibrated) int8 export: `export-onnx --quantize int8-static --calibration DATA` writes a QDQ graph that
the ONNX backend loads and that agrees with the fp32 graph; calibration comes from a folder of audio or a built
dataset's train split; a bad --calibration is refused in one line before any work."""

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import synth_speech, tiny_config

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install '.[onnx]')")
pytest.importorskip("onnxscript", reason="the torch.onnx exporter needs onnxscript (pip install '.[export]')")


def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def write_clips(folder, count=8):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        paths.append(folder / f"clip{i}.wav")
        sf.write(paths[-1], synth_speech(0.5 + 0.25 * i, f0=110 + 20 * i, seed=i), 16000)
    return paths


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.onnx_export import export_onnx

    root = tmp_path_factory.mktemp("static")
    torch.manual_seed(0)
    # four layers: the first and last stay float32 (onnx_export.STATIC_INT8), the two inner ones are quantized; weights
    # large enough (init_std 0.2) that the inner layers move the logits (at 0.02 they hardly reach them)
    model = WhisperForEmotionClassification(tiny_config(encoder_layers=4, num_domains=3, init_std=0.2)).eval()
    model.save_pretrained(root / "model")
    write_clips(root / "calibration")
    report = export_onnx(root / "model", root / "onnx", quantize="int8-static", calibration=root / "calibration",
                         calibration_clips=8)
    return root, report


def test_static_int8_export_writes_a_quantized_graph_that_agrees_with_fp32(exported):
    """Tolerance, for int8 on a tiny random model: its clip logits span about -1.4 to 1.3 and int8 (per-channel
    weights, uint8 activations calibrated on 8 generated clips of 0.5 to 2.25 s) moves them by 0.01 to 0.02, and by
    0.15 on a 0.3 s clip, shorter than any calibration clip (probabilities: 0.03; frame logits, spanning +-2, with no
    pooling to average the rounding: 0.28). The bounds, 0.25 on clip logits, 0.05 on probabilities and 0.5 on frame
    logits, leave room for other CPUs' rounding and still catch a broken graph (a wrong scale or channel axis, or a
    lost mask, moves logits by about their whole range)."""
    import onnx

    from modeling_emotion_whisper.onnx_backend import OnnxScorer
    from modeling_emotion_whisper.onnx_export import STATIC_INT8_FILE

    root, report = exported
    static = root / "onnx" / STATIC_INT8_FILE
    assert static.exists() and STATIC_INT8_FILE in report and report["model.onnx"]["logits"] < 1e-4
    ops = [node.op_type for node in onnx.load(str(static)).graph.node]
    assert ops.count("QuantizeLinear") >= 4 and ops.count("DequantizeLinear") >= 4
    waves = [synth_speech(s, f0=100 + 30 * i, seed=10 + i) for i, s in enumerate((0.3, 1.0, 2.5, 7.0))]
    fp32, int8 = OnnxScorer(root / "onnx"), OnnxScorer(static)
    for group in [[w] for w in waves] + [waves]:
        (expected, _), (got, _) = fp32.clips(group, False), int8.clips(group, False)
        np.testing.assert_allclose(got, expected, atol=0.25)
        np.testing.assert_allclose(softmax(got), softmax(expected), atol=0.05)
    (expected, mask), (got, got_mask) = fp32.frames(waves[:3], False), int8.frames(waves[:3], False)
    np.testing.assert_array_equal(got_mask, mask)
    assert np.abs(got[mask] - expected[mask]).max() < 0.5


def test_calibration_from_a_built_dataset_takes_its_train_split(tmp_path):
    from datasets import Dataset, DatasetDict

    from modeling_emotion_whisper.onnx_export import calibration_waves

    train = write_clips(tmp_path / "train", 3)
    validation = write_clips(tmp_path / "validation", 2)
    def table(paths):
        return Dataset.from_dict({"path": [str(p) for p in paths], "offset": [0.0] * len(paths),
                                  "duration": [sf.info(p).duration for p in paths]})

    DatasetDict({"train": table(train), "validation": table(validation)}).save_to_disk(str(tmp_path / "build"))
    waves = calibration_waves(tmp_path / "build", clips=10)
    assert sorted(w.size for w in waves) == sorted(sf.info(p).frames for p in train)


@pytest.mark.parametrize("extra, words", [
    (["--calibration", "/no/such/folder"], "--calibration /no/such/folder: no such folder"),
    ([], "--quantize int8-static needs --calibration"),
    (["--calibration", "EMPTY"], "no readable audio"),
])
def test_bad_calibration_is_one_line_before_any_work(extra, words, tmp_path, capsys):
    from modeling_emotion_whisper import cli

    (tmp_path / "empty").mkdir()
    extra = [str(tmp_path / "empty") if x == "EMPTY" else x for x in extra]
    code = cli.main(["export-onnx", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "onnx"),
                     "--quantize", "int8-static", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and words in err[0], err
    assert not (tmp_path / "onnx").exists()  # refused before the model was even looked for

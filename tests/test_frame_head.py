"""Every head a saved model carries is trained on every path, on the features it is served (issue 30, points 1, 2).

A refitted model scores clips with the refitted probe (`emotion_head`) and frames with `frame_head`. Timelines read
the frame head, `predict` the clip head: after each training path (train, refit, continue, Hume-style fine-tuning
with own labels, few-shot), a clip's frames must mostly say what the clip says.
"""

import csv

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import WhisperFeatureExtractor

from conftest import save_tiny_whisper, synth_speech, tiny_config
import corpus_fixtures

import finetune_hume
from modeling_emotion_whisper import WhisperForEmotionClassification
from modeling_emotion_whisper.adaptation import few_shot_finetune
from modeling_emotion_whisper.audio import load_audio
from modeling_emotion_whisper.features import mel_features
from modeling_emotion_whisper.packing import ClipCollator

EXTRACTOR = WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)


def agreement(model, paths) -> float:
    """Share of clips whose majority frame label (what a timeline shows) is the clip's label (what predict shows)."""
    model.eval()
    waves = [load_audio(p) for p in paths]
    same = []
    for wave in waves:
        features, mask = mel_features(EXTRACTOR, [wave])
        with torch.no_grad():
            out = model(input_features=features, attention_mask=mask)
        frames = out.frame_logits[0][out.frame_mask[0]].argmax(-1)
        same.append(int(torch.bincount(frames, minlength=out.logits.shape[-1]).argmax()) == int(out.logits.argmax()))
    return float(np.mean(same))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny Whisper checkpoint and a built three-emotion corpus (SAVEE's layout: anger, neutral, sadness, far apart
    in pitch), learnable in a few dozen steps so that every head can be right."""
    import yaml

    from data_scripts import build

    root = tmp_path_factory.mktemp("frames")
    save_tiny_whisper(root / "whisper-tiny")
    corpus_fixtures.savee(root / "savee", per_code=4)
    for path in (root / "savee").rglob("*.wav"):
        if path.stem[:-2] not in ("a", "n", "sa"):
            path.unlink()
    build.main([f"--corpus=savee={root / 'savee'}", "--out", str(root / "data"), "--split", "speaker",
                "--validation_fraction", "0.25", "--num_proc", "1"])
    config = {
        "model_name_or_path": str(root / "whisper-tiny"), "dataset_path": str(root / "data"),
        "window_seconds": 6, "packs_per_batch": 2, "accumulation_schedule": "0:1", "num_epochs": 100,
        "learning_rate": 3e-3, "warmup_steps": 0.1, "logging_steps": 5, "save_steps": 1000, "seed": 0,
        "report_to": "none", "dataloader_num_workers": 0, "use_cpu": True, "augment_p": 0.0,
        "spec_augment_p": 0.0, "per_device_eval_batch_size": 8, "bf16": False,
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(config))
    return root


@pytest.fixture(scope="module")
def refitted(setup):  # noqa: F811
    """The recipe's two steps on the tiny corpus: fine-tuning in the paper's layout, then the corpus refit."""
    import train

    out = setup / "frames-refit"
    train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--max_steps", "40", "--refit_head", "corpus",
                "--bf16", "false"])
    model = WhisperForEmotionClassification.from_pretrained(out / "final").eval()
    assert model.config.frame_head and model.config.layer_concatenation
    return out / "final", model


@pytest.fixture(scope="module")
def clips(setup):  # noqa: F811
    from datasets import load_from_disk

    rows = load_from_disk(str(setup / "data"))["train"]
    return rows, list(rows["path"])


def test_refit_keeps_frames_and_clips_in_agreement(refitted, clips):
    _, model = refitted
    assert agreement(model, clips[1]) >= 0.75


def test_continuing_a_refitted_model_trains_its_frame_head(setup, refitted, clips):  # noqa: F811
    import train

    folder, start = refitted
    out = setup / "frames-continued"
    trainer = train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--model_name_or_path", str(folder),
                          "--max_steps", "8", "--bf16", "false"])
    assert any("frame_loss" in entry for entry in trainer.state.log_history)  # logged beside the emotion loss
    model = WhisperForEmotionClassification.from_pretrained(out / "final").eval()
    assert model.config.frame_head
    # the encoder moved, and the frame head moved with it: it has a loss
    assert not torch.equal(model.frame_head.weight, start.frame_head.weight)
    assert agreement(model, clips[1]) >= 0.75


def test_own_labels_fine_tuning_trains_the_frame_head_of_a_refitted_model(setup, refitted, clips, tmp_path):  # noqa: F811
    folder, _ = refitted
    rows, _ = clips
    table = tmp_path / "mine.csv"
    names = {0: "calm", 1: "excited"}
    chosen = []
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "emotion"])
        for i in range(24):
            path = tmp_path / f"clip{i}.wav"
            sf.write(path, synth_speech(1.2, f0=110 if i % 2 else 330, seed=i), 16000)
            writer.writerow([path.name, names[i % 2]])
            chosen.append(path)
    finetune_hume.main(["--labels_csv", str(table), "--audio_column", "path", "--label_column", "emotion",
                        "--model_name_or_path", str(folder), "--output_dir", str(tmp_path / "out"),
                        "--num_epochs", "6", "--window_seconds", "8", "--packs_per_batch", "2",
                        "--learning_rate", "3e-3", "--warmup_steps", "0.1", "--use_cpu", "true", "--report_to",
                        "none", "--save_steps", "1000", "--seed", "0", "--augment_p", "0", "--spec_augment_p", "0",
                        "--dataloader_num_workers", "0"])
    model = WhisperForEmotionClassification.from_pretrained(tmp_path / "out" / "final").eval()
    assert model.config.frame_head and model.config.num_labels == 2
    assert agreement(model, chosen) >= 0.9


def test_few_shot_trains_every_head_on_the_features_forward_gives_it(refitted, clips, tmp_path):
    """Head only: the head's training inputs are the standardized features forward feeds it (not the raw pooled
    features), and the frame head learns the new labels with the clip head."""
    model = WhisperForEmotionClassification.from_pretrained(refitted[0]).eval()
    rows = []
    for i in range(16):  # labels the refitted model never gave these clips: every head has to learn them
        path = tmp_path / f"{i}.wav"
        sf.write(path, synth_speech(1.0, f0=110 if i % 2 else 330, seed=i), 16000)
        label = [0.0] * 8
        label[3 if i % 2 else 6] = 1.0
        rows.append({"path": str(path), "offset": 0.0, "duration": 1.0, "soft_label": label})
    from datasets import Dataset

    support = Dataset.from_list(rows)
    collator = ClipCollator(EXTRACTOR)
    seen = {"train": [], "serve": []}
    phase = {"now": "train"}

    def record(module, inputs, output):
        if inputs[0].dim() == 2:  # pooled clips (the frame call is 3-D)
            seen[phase["now"]].append(inputs[0].detach().clone())

    handle = model.emotion_head.register_forward_hook(record)
    few_shot_finetune(model, support, collator, steps=120, lr=0.05, batch_size=len(rows))
    phase["now"] = "serve"
    batch = collator(rows)
    with torch.no_grad():
        out = model(input_features=batch["input_features"], attention_mask=batch["attention_mask"])
    handle.remove()
    torch.testing.assert_close(seen["train"][-1], seen["serve"][-1], atol=1e-4, rtol=1e-4)
    expected = np.array([3 if i % 2 else 6 for i in range(16)])
    assert (out.logits.argmax(1).numpy() == expected).mean() == 1.0
    assert agreement(model, [r["path"] for r in rows]) >= 0.9


def test_few_shot_on_a_standardizing_model_serves_what_it_trained(tmp_path):
    """The issue's case with a tiny model: corpus standardization with stored statistics far from the raw scale.
    Trained on raw features and served z-scores, the head would score the support set near chance."""
    from datasets import Dataset

    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(init_std=0.2, feature_standardization="corpus")).eval()
    rows = []
    for i in range(12):
        path = tmp_path / f"{i}.wav"
        sf.write(path, synth_speech(1.0, f0=120 if i % 2 else 320, seed=i), 16000)
        label = [0.0] * 8
        label[5 if i % 2 else 0] = 1.0
        rows.append({"path": str(path), "offset": 0.0, "duration": 1.0, "soft_label": label})
    collator = ClipCollator(EXTRACTOR)
    batch = collator(rows)
    with torch.no_grad():
        model.set_adaptation({"feature_scale": [1.0] * 32, "feature_shift": [0.0] * 32})
        raw = model(input_features=batch["input_features"], attention_mask=batch["attention_mask"]).pooled_features
        model.set_adaptation(None)
    model.config.source_feature_mean = (raw.mean(0) + 3 * raw.std(0)).tolist()
    model.config.source_feature_std = (raw.std(0) * 0.05).tolist()
    few_shot_finetune(model, Dataset.from_list(rows), collator, steps=80, lr=0.05)
    with torch.no_grad():
        served = model(input_features=batch["input_features"], attention_mask=batch["attention_mask"]).logits
        expected = model.emotion_head(model.head_input(raw))
    torch.testing.assert_close(served, expected, atol=1e-4, rtol=1e-4)
    assert (served.argmax(1).numpy() == np.array([0, 5] * 6)).mean() == 1.0


@pytest.fixture(scope="module")
def streamed(setup, refitted):  # noqa: F811
    """The refitted model with a stream head fitted on 40 windows (train.py --num_epochs 0 --fit_stream_head)."""
    import train

    out = setup / "frames-stream"
    train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--model_name_or_path", str(refitted[0]),
                "--num_epochs", "0", "--fit_stream_head", "true", "--stream_head_windows", "40",
                "--stream_head_context", "2", "--bf16", "false"])
    return out


def test_the_stream_head_is_fitted_on_window_ends_and_nothing_else_changes(streamed, refitted):
    import json

    from modeling_emotion_whisper.head_fit import STREAM_HEAD_L2

    report = json.loads((streamed / "stream_head.json").read_text())
    assert report["frames"] == 40 * 25 and report["l2"] in STREAM_HEAD_L2 and report["context"] == 2
    # the pull towards the frame head is the only reason to stay near it: the windows' labels are fitted better
    assert report["stream_head_accuracy"] >= max(report["frame_head_accuracy"], 0.6)
    model = WhisperForEmotionClassification.from_pretrained(streamed / "final").eval()
    start = refitted[1]
    assert model.config.stream_head and not torch.equal(model.stream_head.weight, model.frame_head.weight)
    # a stream head alone: the source statistics stay those measured when the model was saved
    assert model.config.source_feature_mean == start.config.source_feature_mean
    assert model.config.source_feature_std == start.config.source_feature_std
    for name, tensor in start.state_dict().items():  # encoder and the other heads as they were
        torch.testing.assert_close(model.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    wave = synth_speech(2.0, f0=200, seed=3)
    features, mask = mel_features(EXTRACTOR, [wave])
    seen = []
    hook = model.frame_head.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        out = model(input_features=features, attention_mask=mask)
        hook.remove()
        # the stream head reads what the frame head reads (the final encoder output), and nothing reaches the clip
        torch.testing.assert_close(out.stream_logits, model.stream_head(seen[0]))
        torch.testing.assert_close(out.frame_logits, start(input_features=features, attention_mask=mask).frame_logits)


def test_the_live_stream_reads_the_stream_head_and_timelines_do_not(streamed, tmp_path):
    from modeling_emotion_whisper.inference import timeline
    from modeling_emotion_whisper.streaming import EmotionStream

    model = WhisperForEmotionClassification.from_pretrained(streamed / "final").eval()
    neutral = model.config.label2id["neutral"]
    with torch.no_grad():  # a stream head that says "neutral" whatever it hears; the frame head is untouched
        model.stream_head.weight.zero_()
        model.stream_head.bias.fill_(-10.0)
        model.stream_head.bias[neutral] = 10.0
    wave = np.concatenate([synth_speech(2.0, f0=120, seed=1), synth_speech(2.0, f0=330, seed=2)])
    stream = EmotionStream(model, EXTRACTOR)
    outputs = stream.feed(wave) + stream.finish()
    assert {o.label for o in outputs if o.label is not None} == {"neutral"}
    assert min(o.scores["neutral"] for o in outputs if o.scores) > 0.99
    sf.write(tmp_path / "a.wav", wave, 16000)
    line = timeline(model, EXTRACTOR, tmp_path / "a.wav")
    assert np.nanmean(line.probabilities[:, neutral]) < 0.9


def test_training_drops_a_stream_head_it_did_not_fit(setup, streamed, caplog):  # noqa: F811
    import train

    out = setup / "frames-stream-continued"
    with caplog.at_level("WARNING"):
        train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--model_name_or_path", str(streamed / "final"),
                    "--max_steps", "2", "--bf16", "false"])
    assert "dropping the saved model's stream head" in caplog.text
    model = WhisperForEmotionClassification.from_pretrained(out / "final")
    assert not model.config.stream_head and model.stream_head is None


def test_the_onnx_export_carries_the_stream_head(streamed, tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install '.[onnx]')")
    pytest.importorskip("onnxscript", reason="the torch.onnx exporter needs onnxscript (pip install '.[export]')")
    from modeling_emotion_whisper.inference import TorchScorer
    from modeling_emotion_whisper.onnx_backend import OnnxScorer
    from modeling_emotion_whisper.onnx_export import export_onnx

    export_onnx(streamed / "final", tmp_path / "onnx")
    model = WhisperForEmotionClassification.from_pretrained(streamed / "final").eval()
    waves = [synth_speech(s, seed=i) for i, s in enumerate((0.5, 2.0, 4.0))]
    onnx, torch_scorer = OnnxScorer(tmp_path / "onnx"), TorchScorer(model, EXTRACTOR)
    for method in ("frames", "stream_frames"):
        got, got_mask = getattr(onnx, method)(waves, False)
        expected, mask = getattr(torch_scorer, method)(waves, False)
        np.testing.assert_array_equal(got_mask, mask)
        np.testing.assert_allclose(got[mask], expected[mask], rtol=1e-4, atol=1e-4)
    assert not np.allclose(onnx.stream_frames(waves, False)[0], onnx.frames(waves, False)[0], atol=1e-3)


@pytest.mark.parametrize("start_share", [None, 0.1])
def test_stream_windows_label_each_frame_with_the_clip_under_it(tmp_path, start_share):
    """Clips of one speaker, each a constant level and its own one-hot label: every window's last frames carry the
    label of the clip whose samples they cover, and a window is at most `context` s and ends on a frame."""
    from datasets import Dataset

    from modeling_emotion_whisper.head_fit import stream_windows

    levels = [0.1, 0.2, 0.3, 0.4]
    rows = {"path": [], "offset": [], "duration": [], "soft_label": [], "speaker": []}
    for i, (level, seconds) in enumerate(zip(levels, (0.7, 1.3, 0.45, 2.1))):
        path = tmp_path / f"c{i}.wav"
        sf.write(path, np.full(int(seconds * 16000), level, np.float32), 16000, subtype="FLOAT")
        rows["path"].append(str(path))
        rows["offset"].append(0.0)
        rows["duration"].append(seconds)
        rows["soft_label"].append(np.eye(4)[i].tolist())
        rows["speaker"].append("s1")
    windows = list(stream_windows(Dataset.from_dict(rows), 30, context=2.0, hop=0.5, seed=1, start_share=start_share))
    assert len(windows) == 30
    for wave, labels, speaker in windows:
        assert speaker == "s1" and wave.size <= 32000 and wave.size % 320 == 0 and labels.shape == (25, 4)
        centres = wave[wave.size - 160 - 320 * np.arange(25)[::-1]]  # the sample at each frame's centre
        np.testing.assert_array_equal(np.asarray(levels)[labels.argmax(1)], centres.astype(np.float64).round(1))
    sizes = np.array([w.size for w, _, _ in windows])
    full = (sizes == 32000).mean()  # as a stream's windows are after its first `context` s
    # random lengths mix full windows with a stream's first, shorter ones; start_share 0.1 draws mostly full ones
    assert (0.1 < full < 0.9) if start_share is None else (0.7 <= full < 1)
    assert (sizes >= 24000).all()  # hop + 1 s at least
    ends = {tuple(labels.argmax(1)) for _, labels, _ in windows}
    assert len(ends) > 5  # cut at random points, not one cut


def test_the_stream_head_goes_where_the_encoder_or_the_labels_change(streamed, tmp_path):
    """finetune_hume (a new label set) starts without one; few-shot adaptation keeps it while the encoder stays as it
    is and drops it when encoder layers train; a stream asks for it at lookahead 0 and not after."""
    from types import SimpleNamespace

    from datasets import Dataset

    from modeling_emotion_whisper.streaming import EmotionStream

    args = SimpleNamespace(model_name_or_path=str(streamed / "final"), freeze_encoder_layers=0, new_head=True)
    hume = finetune_hume.build_model(args, ["Joy", "Calmness"], regression=True)
    assert hume.stream_head is None and not hume.config.stream_head
    hume.save_pretrained(tmp_path / "hume")
    assert WhisperForEmotionClassification.from_pretrained(tmp_path / "hume").stream_head is None

    rows = []
    for i in range(4):
        path = tmp_path / f"{i}.wav"
        sf.write(path, synth_speech(1.0, f0=110 if i % 2 else 330, seed=i), 16000)
        rows.append({"path": str(path), "offset": 0.0, "duration": 1.0, "soft_label": np.eye(8)[i % 2].tolist()})
    support = Dataset.from_list(rows)
    collator = ClipCollator(EXTRACTOR)
    kept = WhisperForEmotionClassification.from_pretrained(streamed / "final").eval()
    before = kept.stream_head.weight.clone()
    few_shot_finetune(kept, support, collator, steps=2)
    assert kept.config.stream_head and torch.equal(kept.stream_head.weight, before)
    dropped = WhisperForEmotionClassification.from_pretrained(streamed / "final").eval()
    few_shot_finetune(dropped, support, collator, train_layers=1, steps=2)
    assert dropped.stream_head is None and not dropped.config.stream_head

    assert EmotionStream(kept, EXTRACTOR).stream_head
    assert not EmotionStream(kept, EXTRACTOR, lookahead=0.5).stream_head
    assert EmotionStream(kept, EXTRACTOR, lookahead=0.5, stream_head=True).stream_head
    assert not EmotionStream(kept, EXTRACTOR, stream_head=False).stream_head
    with pytest.raises(ValueError, match="has no stream head"):
        EmotionStream(dropped, EXTRACTOR, stream_head=True)

"""Nothing a user passes can destroy files, exhaust memory, hang, or leak into another call (issue 31): release
deletes nothing it did not create; a pipeline call's options stay with that call; weights and configs that do not fit
are refused in one line, before anything is allocated; every input is bounded before it is decoded; FIFOs are never
opened; outputs are checked first and written whole; arguments are checked; names cannot forge rows. The 1-hour and
peak-memory cases are measured by benchmarks/input_bounds.py, not timed here."""

import json
import os
import shutil
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import synth_speech, tiny_config
from modeling_emotion_whisper import cli


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from modeling_emotion_whisper import WhisperForEmotionClassification

    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(num_domains=4, label_prior=[1 / 8] * 8)).eval()
    model.config.source_feature_mean, model.config.source_feature_std = [0.0] * 32, [1.0] * 32
    path = tmp_path_factory.mktemp("bounds") / "model"
    model.save_pretrained(path)
    return path


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.wav"
    sf.write(path, synth_speech(1.5, seed=3), 16000)
    return path


@pytest.fixture
def no_huge_resampling(monkeypatch):
    """Fail, instead of taking gigabytes, if anything resamples to more than an hour of audio (the old code did)."""
    from modeling_emotion_whisper import audio

    real = audio.soxr.resample

    def bounded(array, rate, target, **kwargs):
        assert len(array) * target / rate <= 3600 * target, f"asked to resample {len(array)} samples at {rate} Hz"
        return real(array, rate, target, **kwargs)

    monkeypatch.setattr(audio.soxr, "resample", bounded)


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


# 1. release


@pytest.mark.parametrize("repo_id", ["me/..", "me/", "me", "/x", "me/a/b", "me/-x", "me/x.", "me/a..b", "me/a--b",
                                     "me/x.git", "me/" + "x" * 97, "me/a b"])
def test_release_refuses_repo_ids_the_hub_refuses_before_touching_anything(repo_id, model_dir, tmp_path,
                                                                             monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("the user's")
    (tmp_path / "release" / "earlier").mkdir(parents=True)
    (tmp_path / "release" / "earlier" / "model.safetensors").write_text("an earlier release")
    code, _, err = run(["release", model_dir, "--repo-id", repo_id], capsys)
    assert code == 2 and "not a Hub repository id" in one_error_line(err)
    assert (tmp_path / "mine.txt").read_text() == "the user's"
    assert sorted(p.name for p in (tmp_path / "release").iterdir()) == ["earlier"]


def test_release_refuses_a_folder_with_anything_in_it_and_replaces_it_only_when_asked(model_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    code, _, err = run(["release", model_dir, "--repo-id", "someone/x", "--out", out], capsys)
    assert code == 2 and "--overwrite" in one_error_line(err) and (out / "notes.txt").read_text() == "the user's"
    # the working directory, the checkpoint and what holds them are never replaced, even with --overwrite
    for protected in (model_dir, model_dir.parent):
        code, _, err = run(["release", model_dir, "--repo-id", "someone/x", "--out", protected, "--overwrite"], capsys)
        assert code == 2 and "would delete the checkpoint" in one_error_line(err)
    assert (model_dir / "model.safetensors").exists()
    code, out_text, err = run(["release", model_dir, "--repo-id", "someone/x", "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    assert not (out / "notes.txt").exists() and (out / "model.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary folder left beside it
    mode = (out / "config.json").stat().st_mode & 0o777
    assert (out / "model.safetensors").stat().st_mode & 0o777 == mode and out.stat().st_mode & 0o777 == mode | 0o111


def test_release_refuses_the_working_directory_as_out(model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("the user's")
    for out in (".", ".."):
        code, _, err = run(["release", model_dir, "--repo-id", "someone/x", "--out", out, "--overwrite"], capsys)
        assert code == 2 and "working directory" in one_error_line(err)
    assert (tmp_path / "mine.txt").exists()


# 2. per-call options


def test_pipeline_adaptation_travels_with_the_call_across_threads(model_dir):
    from transformers import pipeline

    pipe = pipeline("audio-classification", model=str(model_dir), trust_remote_code=True)
    rng = np.random.default_rng(0)
    adaptation = {"feature_scale": (1 + rng.random(32)).tolist(), "feature_shift": rng.standard_normal(32).tolist(),
                  "logit_shift": (3 * rng.standard_normal(8)).tolist()}
    waves = [synth_speech(1.0 + 0.25 * i, seed=i) for i in range(4)]
    as_tensor = lambda result: torch.tensor([s["score"] for s in sorted(result, key=lambda s: s["label"])])  # noqa: E731
    plain = [as_tensor(pipe(w, top_k=None)) for w in waves]
    adapted = [as_tensor(pipe(w, top_k=None, adaptation=adaptation)) for w in waves]
    assert all((a - p).abs().max() > 1e-3 for a, p in zip(adapted, plain))
    results, failures = {}, []

    def work(thread):
        try:
            for call in range(10):
                k, adapt = (thread + call) % len(waves), (thread + call) % 2 == 0
                answer = pipe(waves[k], top_k=None, **({"adaptation": adaptation} if adapt else {}))
                results[thread, call] = (k, adapt, as_tensor(answer))
        except Exception as err:  # noqa: BLE001  reported below, with the thread's results
            failures.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and len(results) == 80
    for k, adapt, got in results.values():
        torch.testing.assert_close(got, (adapted if adapt else plain)[k], rtol=1e-4, atol=1e-5)
    assert pipe.model.adaptation is None  # nothing stuck to the shared model
    for w, expected in zip(waves, plain):
        torch.testing.assert_close(as_tensor(pipe(w, top_k=None)), expected, rtol=1e-4, atol=1e-5)


def test_pipeline_scores_many_windows_a_few_at_a_time(model_dir, monkeypatch):
    """A long clip through the pipeline: windows are run WINDOWS_PER_FORWARD at a time and pooled as the model
    pools them in one forward."""
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper import WhisperForEmotionClassification, pipeline_emotion_whisper
    from modeling_emotion_whisper.features import clip_batch

    monkeypatch.setattr(pipeline_emotion_whisper, "WINDOWS_PER_FORWARD", 2)
    model = WhisperForEmotionClassification.from_pretrained(model_dir).eval()
    extractor = WhisperFeatureExtractor.from_pretrained(model_dir)
    pipe = pipeline_emotion_whisper.EmotionAudioClassificationPipeline(model=model, feature_extractor=extractor)
    wave = synth_speech(100.0, seed=7)  # 4 windows
    batch = clip_batch(extractor, [wave])
    with torch.no_grad():
        expected = torch.softmax(model(**batch).logits[0], -1)
    rows = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda input_features, **kw: rows.append(len(input_features)) or
                        forward(input_features, **kw))
    got = {s["label"]: s["score"] for s in pipe(wave, top_k=None)}
    assert max(rows) == 2
    torch.testing.assert_close(torch.tensor([got[model.config.id2label[i]] for i in range(8)]), expected,
                               rtol=1e-4, atol=1e-5)


# 3, 6, 10. model folders


def variant(model_dir, root, name, **changes):
    folder = root / name
    shutil.copytree(model_dir, folder)
    saved = json.loads((model_dir / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**saved, **changes}))
    return folder


def test_folders_whose_weights_do_not_fit_are_refused_in_one_line(model_dir, good, tmp_path, capsys):
    gap = {str(i): f"class{i}" for i in (0, 1, 2, 3, 4, 5, 6, 8)}
    cases = {
        "more_layers": ({"encoder_layers": 3}, ["encoder.layers.2.", "encoder_layers=3; the weights hold 2"]),
        "fewer_layers": ({"encoder_layers": 1}, ["encoder.layers.1.", "encoder_layers=1; the weights hold 2"]),
        "wider": ({"encoder_ffn_dim": 48}, ["resized", "fc1.weight"]),
        "nine_labels": ({"id2label": {str(i): f"c{i}" for i in range(9)}, "label2id": {f"c{i}": i for i in range(9)},
                         "label_prior": None}, ["resized", "emotion_head.weight"]),
        "label_gap": ({"id2label": gap, "label2id": {v: int(k) for k, v in gap.items()}},
                      ["label ids [7] are missing"]),
    }
    for name, (changes, words) in cases.items():
        folder = variant(model_dir, tmp_path, name, **changes)
        code, _, err = run(["predict", good, "--model", folder], capsys)
        line = one_error_line(err)
        assert code == 2 and str(folder) in line and all(w in line for w in words), (name, line)


def test_pickle_only_and_damaged_folders_are_refused_in_one_line(model_dir, good, tmp_path, capsys):
    from modeling_emotion_whisper import WhisperForEmotionClassification

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(model_dir / "config.json", pickled)
    torch.save(WhisperForEmotionClassification.from_pretrained(model_dir).state_dict(), pickled / "pytorch_model.bin")
    damaged = variant(model_dir, tmp_path, "damaged")
    weights = (damaged / "model.safetensors").read_bytes()
    (damaged / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    for folder, words in ((pickled, "pickled weights are never loaded"), (damaged, "model.safetensors is damaged")):
        code, _, err = run(["predict", good, "--model", folder], capsys)
        assert code == 2 and words in one_error_line(err), err


@pytest.mark.parametrize("changes", [{"encoder_layers": 100000}, {"d_model": 10**6, "encoder_attention_heads": 1},
                                     {"num_mel_bins": 10**7}, {"encoder_ffn_dim": 10**8}, {"num_domains": 10**8},
                                     {"max_source_positions": 10**9}, {"encoder_layers": 64, "d_model": 4096,
                                                                       "encoder_ffn_dim": 16384}])
def test_configs_beyond_sane_sizes_are_refused_before_allocating(changes, model_dir, good, tmp_path, monkeypatch,
                                                                 capsys):
    from modeling_emotion_whisper import modeling_emotion_whisper

    def allocate(*args, **kwargs):
        raise AssertionError("the encoder was allocated")

    monkeypatch.setattr(modeling_emotion_whisper, "WhisperEncoder", allocate)
    folder = variant(model_dir, tmp_path, "huge", **changes)
    started = time.perf_counter()
    code, _, err = run(["predict", good, "--model", folder], capsys)
    line = one_error_line(err)
    assert code == 2 and ("must be a whole number" in line or "billion parameters" in line), line
    assert time.perf_counter() - started < 20


def test_onnx_folders_beyond_sane_sizes_or_with_unknown_operators_are_refused_in_one_line(good, tmp_path,
                                                                                         monkeypatch, capsys):
    import onnx
    from onnx import TensorProto, helper

    from modeling_emotion_whisper import onnx_backend
    from modeling_emotion_whisper.configuration_emotion_whisper import SIZE_LIMITS

    assert all(SIZE_LIMITS[name] == limits for name, limits in onnx_backend.SIZE_LIMITS.items())
    monkeypatch.setattr(onnx_backend, "mel_filter_bank", lambda n: pytest.fail(f"allocated {n} mel filters"))
    labels = {str(i): f"c{i}" for i in range(8)}
    folder = tmp_path / "onnx"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"not read before the config is checked")
    for config, words in (({"num_mel_bins": 10**7, "id2label": labels}, "num_mel_bins must be a whole number"),
                          ({"num_mel_bins": 1e7, "id2label": labels}, "num_mel_bins must be a whole number"),
                          ({"num_mel_bins": 80, "id2label": {"0": "a", "2": "b"}}, "label ids [1] are missing"),
                          ({"num_mel_bins": 80}, "not the config.json of an emotion-whisper export")):
        (folder / "config.json").write_text(json.dumps(config))
        code, _, err = run(["predict", good, "--backend", "onnx", "--model", folder], capsys)
        assert code == 2 and words in one_error_line(err), err
    monkeypatch.undo()
    node = helper.make_node("NoSuchOperator", ["input_features"], ["logits"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("input_features", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph), str(folder / "model.onnx"))
    (folder / "config.json").write_text(json.dumps({"num_mel_bins": 80, "id2label": labels}))
    code, _, err = run(["predict", good, "--backend", "onnx", "--model", folder], capsys)
    assert code == 2 and "cannot load this graph" in one_error_line(err), err


# 4, 5, 8. inputs


def test_a_header_claiming_an_absurd_rate_is_refused_and_costs_the_others_nothing(model_dir, good, tmp_path,
                                                                                 no_huge_resampling, capsys):
    bomb = tmp_path / "bomb.wav"  # 32 KB whose header says 1 Hz: 4.4 hours at 16 kHz
    sf.write(bomb, (3000 * np.random.default_rng(0).standard_normal(16000)).astype(np.int16), 1, subtype="PCM_16")
    fast = tmp_path / "fast.wav"  # the same claim the other way: 10 MHz
    sf.write(fast, synth_speech(1.0), 10**7)
    code, out, err = run(["predict", bomb, fast, good, "--model", model_dir, "--json", tmp_path / "o.json"], capsys)
    assert code == 0 and "good.wav" in out
    results = json.loads((tmp_path / "o.json").read_text())
    assert "1 Hz is outside" in results[str(bomb)]["error"] and "1e+07 Hz is outside" in results[str(fast)]["error"]
    assert sum(results[str(good)]["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    for path in (bomb, fast):
        code, _, err = run(["timeline", path, "--model", model_dir], capsys)
        assert code == 2 and "is outside" in one_error_line(err)
    from transformers import pipeline

    pipe = pipeline("audio-classification", model=str(model_dir), trust_remote_code=True)
    with pytest.raises(ValueError, match="1 Hz is outside"):  # the saved code's AudioError, a ValueError
        pipe(str(bomb))
    with pytest.raises(ValueError, match="1 Hz is outside"):
        pipe({"array": np.zeros(16000, dtype=np.float32), "sampling_rate": 1})


def test_whole_file_decoding_is_bounded(tmp_path, monkeypatch):
    from modeling_emotion_whisper import audio

    path = tmp_path / "long.wav"
    sf.write(path, synth_speech(20.0), 16000)
    monkeypatch.setattr(audio, "MAX_DECODE_SECONDS", 10)
    with pytest.raises(audio.AudioError, match="more than is decoded at once.*predict.*timeline"):
        audio.load_audio(path)
    assert audio.load_audio(path, offset=5.0, duration=8.0).size == 8 * 16000  # an excerpt is within the bound


def test_predict_scores_a_long_file_in_windows_like_the_model_pools_them(model_dir, tmp_path, monkeypatch):
    """95 s of audio: scored in 30 s windows, at most batch_size at a time and never more than one window of audio
    per clip handed to the model, with the clip's answer the model's own frame-weighted mean of its windows."""
    from modeling_emotion_whisper import inference
    from modeling_emotion_whisper.features import clip_batch

    model, extractor = inference.load_model(model_dir)
    wave = np.concatenate([synth_speech(31.0, seed=s, f0=150 + 40 * s) for s in range(3)] + [synth_speech(2.0)])
    path = tmp_path / "long.flac"
    sf.write(path, wave, 16000, subtype="PCM_24")
    wave = sf.read(path, dtype="float32")[0]
    with torch.no_grad():
        expected = model(**clip_batch(extractor, [wave]))
    seen = []
    clips = inference.TorchScorer.clips

    def spy(self, waves, logit_adjustment):
        seen.append([w.size for w in waves])
        return clips(self, waves, logit_adjustment)

    monkeypatch.setattr(inference.TorchScorer, "clips", spy)
    (result,) = inference.predict_clips(model, extractor, [str(path)], batch_size=2, return_raw=True)
    assert max(len(batch) for batch in seen) <= 2 and max(max(batch) for batch in seen) <= 30 * 16000
    assert result["duration"] == pytest.approx(95.0)
    torch.testing.assert_close(torch.from_numpy(result["logits"]), expected.logits[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.from_numpy(result["features"]), expected.pooled_features[0], rtol=1e-4,
                               atol=1e-5)
    # an array of the same audio: the same windows, the same answer
    (from_array,) = inference.predict_clips(model, extractor, [wave], batch_size=2, return_raw=True)
    torch.testing.assert_close(torch.from_numpy(from_array["logits"]), expected.logits[0], rtol=1e-4, atol=1e-5)


def test_onnx_runs_stay_the_size_of_one_window():
    """onnxruntime keeps its largest run's buffers: a batch of long clips is run a 30 s window at a time, while short
    clips still share a run."""
    from modeling_emotion_whisper import onnx_backend
    from modeling_emotion_whisper.mel import mel_filter_bank

    runs = []

    class Session:
        def run(self, names, feeds):
            rows, _, frames = feeds["input_features"].shape
            runs.append(rows * frames)
            return [np.zeros((rows, 8), np.float32), np.zeros((rows, frames // 2, 8), np.float32),
                    np.ones((rows, frames // 2), bool), np.zeros((rows, 32), np.float32)]

    scorer = onnx_backend.OnnxScorer.__new__(onnx_backend.OnnxScorer)
    scorer.filters, scorer.session, scorer.outputs = mel_filter_bank(80), Session(), list(onnx_backend.OUTPUTS)
    logits, pooled = scorer.clips([synth_speech(1.0)] * 8 + [synth_speech(70.0)] * 2, logit_adjustment=False)
    assert logits.shape == (10, 8) and pooled.shape == (10, 32)
    assert max(runs) <= onnx_backend.RUN_FRAMES and runs[0] == 8 * 100  # the short clips in one run


def test_fifos_and_devices_are_never_opened(model_dir, good, tmp_path, capsys):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    stop = time.monotonic() + 10

    def unblock():
        """Old code opened the FIFO and waited forever for a writer: be one, so that it fails instead of hanging."""
        while time.monotonic() < stop:
            try:
                handle = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader: nobody is waiting
                time.sleep(0.05)
                continue
            os.write(handle, b"garbage")
            os.close(handle)

    writer = threading.Thread(target=unblock, daemon=True)
    writer.start()
    try:
        code, out, err = run(["predict", fifo, "/dev/zero", good, "--model", model_dir], capsys)
        assert code == 0 and "good.wav" in out
        assert any("pipe.wav" in line and "FIFO" in line for line in err.splitlines()), err
        assert any("/dev/zero" in line and "character device" in line for line in err.splitlines()), err
        code, _, err = run(["timeline", fifo, "--model", model_dir], capsys)
        assert code == 2 and "FIFO" in one_error_line(err)
        # in a folder, too
        folder = tmp_path / "folder"
        folder.mkdir()
        os.mkfifo(folder / "inner.wav")
        shutil.copy(good, folder)
        code, _, err = run(["predict", folder, "--model", model_dir], capsys)
        assert code == 0 and any("inner.wav" in line and "FIFO" in line for line in err.splitlines()), err
    finally:
        stop = 0
        writer.join()


def test_unreadable_files_and_folders_and_broken_links_are_reported(model_dir, good, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "corpus"
    (folder / "locked").mkdir(parents=True)
    shutil.copy(good, folder / "a.wav")
    shutil.copy(good, folder / "secret.wav")
    shutil.copy(good, folder / "locked" / "b.wav")
    (folder / "gone.wav").symlink_to(tmp_path / "deleted.wav")
    # the tests run as root, who reads everything: permissions are simulated where they are asked
    access, scandir = os.access, os.scandir
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path).endswith("secret.wav")
                        else access(path, mode, **kw))

    def locked_scandir(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", locked_scandir)
    code, out, err = run(["predict", folder, "--model", model_dir, "--json", tmp_path / "o.json"], capsys)
    assert code == 0 and "a.wav" in out
    lines = err.splitlines()
    assert any("secret.wav" in line and "permission denied" in line for line in lines), err
    assert any("locked" in line and "permission denied" in line and "not searched" in line for line in lines), err
    assert any("gone.wav" in line and "broken symbolic link" in line for line in lines), err
    assert set(json.loads((tmp_path / "o.json").read_text())) == {
        str(folder / "a.wav"), str(folder / "secret.wav"), str(folder / "gone.wav"), str(folder / "locked")}


# 7, 9. outputs


def test_output_paths_are_checked_before_any_work(model_dir, good, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_load", lambda args: pytest.fail("the model was loaded before the outputs were checked"))
    (tmp_path / "taken").mkdir()
    cases = [
        (["predict", good, "--json", tmp_path / "missing" / "o.json"], "does not exist"),
        (["predict", good, "--json", tmp_path / "taken"], "is a folder"),
        (["timeline", good, "--json", tmp_path / "missing" / "o.json"], "does not exist"),
        (["timeline", good, "--plot", tmp_path / "o.xyz"], "matplotlib cannot write .xyz"),
        (["timeline", good, "--plot", tmp_path / "plot"], "matplotlib cannot write a file without an extension"),
        (["adapt", good, good, "--out", tmp_path / "missing" / "a.json"], "does not exist"),
    ]
    for argv, words in cases:
        code, _, err = run([*argv, "--model", model_dir], capsys)
        assert code == 2 and words in one_error_line(err), (argv, err)


def test_outputs_are_written_whole_or_not_at_all(model_dir, good, tmp_path, monkeypatch, capsys):
    target = tmp_path / "scores.json"
    target.write_text('{"earlier": "results"}')
    dump = json.dump

    def killed(value, handle, **kwargs):
        handle.write(json.dumps(value)[:20])
        raise KeyboardInterrupt  # as if killed part way through the write

    monkeypatch.setattr(json, "dump", killed)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["predict", str(good), "--model", str(model_dir), "--json", str(target)])
    assert target.read_text() == '{"earlier": "results"}' and sorted(os.listdir(tmp_path)) == ["good.wav",
                                                                                               "scores.json"]
    monkeypatch.setattr(json, "dump", dump)
    plot = tmp_path / "line.svg"
    assert cli.main(["predict", str(good), "--model", str(model_dir), "--json", str(target)]) == 0
    assert cli.main(["timeline", str(good), "--model", str(model_dir), "--plot", str(plot)]) == 0
    assert str(good) in json.loads(target.read_text()) and plot.read_text().lstrip().startswith("<?xml")
    assert sorted(os.listdir(tmp_path)) == ["good.wav", "line.svg", "scores.json"]
    for path in (target, plot):
        assert path.stat().st_mode & 0o777 == (tmp_path / "good.wav").stat().st_mode & 0o777


# 10, 11. arguments


@pytest.mark.parametrize("argv, words", [
    (["timeline", "--frame-rate", "0"], "--frame-rate 0"), (["timeline", "--frame-rate", "nan"], "--frame-rate nan"),
    (["timeline", "--frame-rate", "-5"], "--frame-rate -5"), (["timeline", "--stride", "0.001"], "--stride 0.001"),
    (["timeline", "--stride", "40"], "--stride 40"), (["timeline", "--window", "60"], "--window 60"),
    (["timeline", "--window", "0"], "--window 0"), (["timeline", "--smoothing", "-1"], "--smoothing -1"),
    (["timeline", "--min-segment", "inf"], "--min-segment inf"), (["timeline", "--batch-size", "0"], "--batch-size 0"),
    (["predict", "--batch-size", "0"], "--batch-size 0"), (["predict", "--batch-size", "100000"], "--batch-size"),
    (["predict", "--min-clips", "1"], "--min-clips 1"), (["export-onnx", "--tolerance", "0"], "--tolerance 0"),
])
def test_arguments_are_checked_before_any_work(argv, words, good, model_dir, tmp_path, monkeypatch, capsys):
    from modeling_emotion_whisper import inference, onnx_export

    refuse = lambda *a, **k: pytest.fail("started the work with bad arguments")  # noqa: E731
    for module, name in ((inference, "load_model"), (cli, "_load"), (onnx_export, "export_onnx")):
        monkeypatch.setattr(module, name, refuse)
    files = ["--out", tmp_path / "onnx"] if argv[0] == "export-onnx" else [good]
    code, _, err = run([argv[0], *files, *argv[1:], "--model", model_dir], capsys)
    assert code == 2 and words in one_error_line(err), err


# 12. names


def test_control_characters_in_names_cannot_forge_rows_or_lines(model_dir, good, tmp_path, capsys):
    forged = tmp_path / "x.wav\nforged.wav  anger  0.999  9.99\n.wav"
    shutil.copy(good, forged)
    broken = tmp_path / "b\rad\x1b[2K.wav"
    broken.write_bytes(b"not audio")
    code, out, err = run(["predict", forged, broken, "--model", model_dir], capsys)
    assert code == 0
    assert len(out.strip().splitlines()) == 3  # header, rule, one row
    assert "x.wav\\nforged.wav" in out
    (line,) = [line for line in err.split("\n") if "skipped" in line]
    assert line.startswith("skipped ") and "b\\rad\\x1b[2K.wav" in line and "\x1b" not in line and "\r" not in line


# 13. file modes


def test_exported_head_and_saved_weights_are_shared_like_their_siblings(model_dir, tmp_path, monkeypatch):
    from modeling_emotion_whisper import WhisperForEmotionClassification, onnx_export

    class Stop(Exception):
        pass

    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: (_ for _ in ()).throw(Stop()))
    with pytest.raises(Stop):
        onnx_export.export_onnx(model_dir, tmp_path / "onnx")
    mode = (tmp_path / "onnx" / "config.json").stat().st_mode & 0o777
    assert (tmp_path / "onnx" / "emotion_head.safetensors").stat().st_mode & 0o777 == mode
    WhisperForEmotionClassification.from_pretrained(model_dir).save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "model.safetensors").stat().st_mode & 0o777 == mode

"""The demo without a browser: its handlers on generated audio with a tiny random model, the command's errors, and
the Space folder `release --space` writes. tests/test_demo_browser.py drives the same app in Chromium."""

import importlib.util
import runpy
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from conftest import synth_speech, tiny_config
from modeling_emotion_whisper import cli, demo
from modeling_emotion_whisper.inference import TorchScorer

needs_gradio = pytest.mark.skipif(importlib.util.find_spec("gradio") is None, reason="pip install '.[demo]'")


@pytest.fixture(scope="module")
def scorer():
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper import WhisperForEmotionClassification

    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(num_domains=4)).eval()
    return TorchScorer(model, WhisperFeatureExtractor(feature_size=80))


def two_voices(sr=16000, seconds=3.0):
    return np.concatenate([synth_speech(seconds, sr, f0=150, seed=1), synth_speech(seconds, sr, f0=400, seed=2)])


def test_a_clip_gives_the_timeline_plot_its_segments_and_the_clips_scores(scorer, tmp_path):
    from modeling_emotion_whisper.inference import predict_clips, timeline

    path = tmp_path / "clip.wav"
    sf.write(path, two_voices(), 16000)
    image, rows, scores = demo.analyze_clip(scorer, path)
    assert image.format == "PNG" and image.size[0] > 500
    # the same segments as `timeline`, the same scores as `predict`: the demo adds no rule of its own
    expected = timeline(scorer, None, path).segments
    assert rows == [[s.start, s.end, s.emotion, s.confidence] for s in expected] and rows
    assert scores == predict_clips(scorer, None, [str(path)])[0]["scores"]

    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(32000, np.float32), 16000)
    assert demo.analyze_clip(scorer, silent)[1:] == ([], "no speech")


def test_a_clip_that_is_too_long_or_not_audio_is_refused_in_one_line(scorer, tmp_path):
    from modeling_emotion_whisper.audio import AudioError

    path = tmp_path / "clip.wav"
    sf.write(path, two_voices(), 16000)
    with pytest.raises(AudioError, match="up to 5 s"):
        demo.analyze_clip(scorer, path, max_seconds=5)
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    with pytest.raises(AudioError, match="notes.wav"):
        demo.analyze_clip(scorer, text)


def microphone_chunks(wave, sr, seconds=0.5, stereo=False):
    """What Gradio hands the stream handler: (rate, int16 array), one per `stream_every`."""
    pcm = (wave * 32767).astype(np.int16)
    if stereo:
        pcm = np.stack([pcm, pcm], axis=1)
    step = int(seconds * sr)
    return [(sr, pcm[i : i + step]) for i in range(0, len(pcm), step)]


def test_the_live_handler_keeps_one_stream_per_session(scorer):
    a_chunks = microphone_chunks(two_voices(48000, 3.0), 48000)
    b_chunks = microphone_chunks(synth_speech(2.0, 44100, f0=200, seed=5), 44100, stereo=True)
    a = b = None
    a, view = demo.live_step(scorer, a, None)  # Gradio's call before the first chunk
    assert a is None and view[0] == "listening…" and view[-1] == ""
    for i in range(max(len(a_chunks), len(b_chunks))):  # two browsers at once, chunks interleaved
        if i < len(a_chunks):
            a, a_view = demo.live_step(scorer, a, a_chunks[i])
        if i < len(b_chunks):
            b, b_view = demo.live_step(scorer, b, b_chunks[i])
    assert a is not b and (a.sampling_rate, a.channels, b.sampling_rate, b.channels) == (48000, 1, 44100, 2)
    assert a.stream.duration == pytest.approx(6.0) and b.stream.duration == pytest.approx(2.0)
    current, frames, x_lim, rows, status = a_view
    assert max(current, key=current.get) in scorer.labels and sum(current.values()) == pytest.approx(1, abs=1e-4)
    assert set(frames["emotion"]) == set(scorer.labels) and max(frames["time"]) < 6.0 and x_lim == [0.0, 30.0]
    assert rows and rows[-1][-1] == "open"
    # the resampler holds back a few ms of the 48 kHz input, so the hop ending at 6 s waits for the next chunk
    assert status == "6.0 s heard, scored up to 5.5 s"

    a, (_, _, _, rows, status) = demo.live_stop(a)
    assert rows and all(row[-1] == "closed" for row in rows)
    assert rows[-1][1] == pytest.approx(6.0, abs=0.1) and status.endswith("(recording ended)")
    late = demo.live_step(scorer, a, a_chunks[0])  # a chunk sent as the recording stopped
    assert late[0] is a and a.stream.duration == pytest.approx(6.0)
    assert demo.live_stop(a)[1][3] == rows  # stopping twice changes nothing


def test_scoring_in_the_background_gives_the_same_stream(scorer):
    chunks = microphone_chunks(two_voices(48000, 3.0), 48000, seconds=0.1)  # what Gradio's microphone sends
    plain = background = None
    for chunk in chunks:
        plain, _ = demo.live_step(scorer, plain, chunk)
        background, view = demo.live_step(scorer, background, chunk, background=True)
        assert view[-1].startswith(f"{background.received / 48000:.1f} s heard")  # returned without waiting
    plain, expected = demo.live_stop(plain)
    background, got = demo.live_stop(background)  # waits for the queue to be scored
    assert got[3] == expected[3] and got[0] == expected[0] and got[1] == expected[1]
    assert got[4] == expected[4] == "6.0 s heard, scored up to 6.0 s (recording ended)"
    assert background._worker is None


def test_a_backlog_beyond_its_bound_is_dropped_and_said(scorer, monkeypatch):
    release = __import__("threading").Event()
    session, _ = demo.live_step(scorer, None, (16000, np.zeros(1600, np.int16)), background=True, backlog=0.2)
    feed = session.stream.feed
    monkeypatch.setattr(session.stream, "feed", lambda data: (release.wait(), feed(data))[1])  # a busy scorer
    for _ in range(6):
        session, view = demo.live_step(scorer, session, (16000, np.zeros(1600, np.int16)), background=True)
    assert session.dropped > 0 and "dropped" in view[-1]  # memory stays bounded while the scorer is stuck
    release.set()
    session.end()
    assert session.finished


def test_the_live_timeline_scrolls_and_memory_stays_flat(scorer):
    session = None
    for chunk in microphone_chunks(np.tile(synth_speech(4.0, 16000, seed=6), 10), 16000, seconds=1.0):
        session, (_, frames, x_lim, _, _) = demo.live_step(scorer, session, chunk)
    times = sorted(set(frames["time"]))
    assert len(times) == 300 and times[-1] == pytest.approx(39.9, abs=0.5)  # the last 30 s at 10 frames/s
    assert x_lim[1] - x_lim[0] == pytest.approx(30.0) and x_lim[1] == pytest.approx(times[-1])


@needs_gradio
def test_the_app_wires_the_handlers_to_its_components(scorer, tmp_path):
    import gradio as gr

    app = demo.build_app(scorer)
    functions = {f.name: f for f in app.fns.values()}
    assert {"clip", "stream", "stop"} <= set(functions)
    clip = functions["clip"]
    assert [c.elem_id for c in clip.inputs] == ["clip-audio"]
    assert [c.elem_id for c in clip.outputs] == ["clip-plot", "clip-segments", "clip-scores"]
    path = tmp_path / "clip.wav"
    sf.write(path, two_voices(), 16000)
    image, table, scores = clip.fn(str(path))
    assert list(table.columns) == demo.SEGMENT_COLUMNS and len(table) and set(scores) == set(scorer.labels)
    with pytest.raises(gr.Error, match="cannot decode"):
        (tmp_path / "bad.wav").write_bytes(b"RIFF")
        clip.fn(str(tmp_path / "bad.wav"))

    stream, stop = functions["stream"], functions["stop"]
    assert stream.inputs[0].streaming and stream.stream_every == pytest.approx(demo.HOP)
    session, drawn = None, []
    for i, (rate, pcm) in enumerate(microphone_chunks(two_voices(48000, 2.0), 48000)):
        upload = tmp_path / f"chunk{i}.wav"
        upload.write_bytes(browser_wav(pcm, rate))
        session, *shown = stream.fn(str(upload), session)
        drawn.append(shown)
    session, current, plot, table, status = stop.fn(session)
    assert isinstance(plot, gr.LinePlot) and set(plot.constructor_args) == {"value", "x_lim"}
    assert max(current, key=current.get) in scorer.labels and list(table.columns) == demo.LIVE_COLUMNS
    assert status == "4.0 s heard, scored up to 4.0 s (recording ended)"
    # chunks whose hop is not scored yet leave the page as it is: it is not redrawn ten times a second
    assert any(all(isinstance(x, dict) and x.get("__type__") == "update" and len(x) == 1 for x in shown)
               for shown in drawn)


def browser_wav(pcm, rate, header_samples=4800):
    """A chunk as Gradio's microphone uploads it: the header of the recorder's first 0.1 s block, whatever follows."""
    import io

    first = io.BytesIO()
    sf.write(first, np.zeros(header_samples, np.int16), rate, format="WAV", subtype="PCM_16")
    return first.getvalue()[:44] + np.ascontiguousarray(pcm).tobytes()


def test_a_microphone_chunk_is_read_whole_whatever_its_header_says(tmp_path):
    pcm = (np.arange(14400) % 1000).astype(np.int16)  # 0.3 s queued up while the server was busy
    path = tmp_path / "audio.wav"
    path.write_bytes(browser_wav(pcm, 48000))
    rate, samples = demo.read_stream_chunk(path)
    assert rate == 48000 and samples.shape == (14400, 1) and (samples[:, 0] == pcm).all()
    stereo = np.stack([pcm, -pcm], axis=1)
    path.write_bytes(_stereo_wav(stereo, 44100))
    rate, samples = demo.read_stream_chunk(path)
    assert rate == 44100 and (samples == stereo).all()
    path.write_bytes(b"not a wav")
    with pytest.raises(demo.AudioError, match="not WAV"):
        demo.read_stream_chunk(path)


def _stereo_wav(pcm, rate):
    import io

    out = io.BytesIO()
    sf.write(out, pcm, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def test_without_gradio_the_command_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # what `import gradio` meets when it is not installed
    assert cli.main(["demo", "--model", "no-such-model"]) == 2  # said before the (missing) model is looked for
    assert capsys.readouterr().err.strip() == "error: the demo needs Gradio: pip install 'emotion-whisper[demo]'"


@needs_gradio
def test_a_port_out_of_range_is_refused(capsys):
    assert cli.main(["demo", "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err


# ---- the Space


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from modeling_emotion_whisper import WhisperForEmotionClassification

    root = tmp_path_factory.mktemp("space")
    torch.manual_seed(0)
    WhisperForEmotionClassification(tiny_config(num_domains=4)).save_pretrained(root / "model")
    return root / "model"


def front_matter(readme):
    text = readme.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1]), text


@needs_gradio
@pytest.mark.skipif(importlib.util.find_spec("onnxscript") is None, reason="the ONNX export needs '.[export]'")
def test_release_space_writes_a_space_that_builds_the_app_on_onnx(checkpoint, tmp_path, capsys, monkeypatch):
    import gradio as gr

    space = tmp_path / "space"
    spec = "emotion-whisper[onnx,demo] @ git+https://github.com/someone/emotion-whisper.git@v0.1.0"
    assert cli.main(["release", str(checkpoint), "--repo-id", "someone/emotion-whisper-tiny", "--space", str(space),
                     "--package-spec", spec]) == 0
    names = {p.relative_to(space).as_posix() for p in space.rglob("*") if p.is_file()}
    assert {"app.py", "requirements.txt", "README.md", "onnx/model.onnx", "onnx/config.json"} <= names
    front, text = front_matter(space / "README.md")
    assert front["sdk"] == "gradio" and front["sdk_version"] == gr.__version__ and front["app_file"] == "app.py"
    assert front["pinned"] is False and front["models"] == ["someone/emotion-whisper-tiny"]
    assert {"title", "emoji", "colorFrom", "colorTo", "license", "short_description"} <= set(front)
    assert len(front["short_description"]) <= 60  # the Hub's limit
    assert (space / "requirements.txt").read_text() == spec + "\n" and spec in text
    assert not list(tmp_path.glob(".space.*"))  # the staging folder is gone

    # app.py as the Space runs it, short of serving: the package's demo around the ONNX model
    import modeling_emotion_whisper.onnx_backend as onnx_backend

    made, original = [], onnx_backend.OnnxScorer
    monkeypatch.setattr(onnx_backend, "OnnxScorer", lambda *a, **kw: made.append(kw) or original(*a, **kw))
    app = runpy.run_path(str(space / "app.py"), run_name="space_app")["demo"]
    assert isinstance(app, gr.Blocks)
    # the live tab runs a pass per hop: no busy-waiting threads between them, in the Space as in `demo` and `live`
    assert made == [{"spinning": False}]
    assert cli.build_parser().parse_args(["demo", "--backend", "onnx"]).onnx_spinning is False
    clip = next(f for f in app.fns.values() if f.name == "clip")
    sf.write(tmp_path / "clip.wav", two_voices(), 16000)
    assert len(clip.fn(str(tmp_path / "clip.wav"))[1])

    # the rule of `release --out`: a folder with anything in it is kept unless --overwrite
    capsys.readouterr()
    assert cli.main(["release", str(checkpoint), "--repo-id", "someone/x", "--space", str(space)]) == 2
    assert "not empty" in capsys.readouterr().err and front_matter(space / "README.md")[0]["models"] == [
        "someone/emotion-whisper-tiny"]
    # an export folder is copied as it is, not exported again; --overwrite replaces the Space
    shutil.copytree(space / "onnx", tmp_path / "export")
    assert cli.main(["release", str(tmp_path / "export"), "--repo-id", "someone/x", "--space", str(space),
                     "--overwrite", "--package-spec", spec]) == 0
    assert front_matter(space / "README.md")[0]["models"] == ["someone/x"]
    assert (space / "onnx" / "model.onnx").read_bytes() == (tmp_path / "export" / "model.onnx").read_bytes()


def test_the_spaces_imports_need_no_torch(tmp_path):
    """A Space installs the `onnx` extra, without torch or transformers: app.py's imports must not pull them."""
    script = ("import sys, modeling_emotion_whisper.demo, modeling_emotion_whisper.onnx_backend\n"
              "assert not {'torch', 'transformers', 'gradio'} & set(sys.modules), sys.modules.keys()\n")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)


def test_the_default_package_spec_names_this_checkout_or_a_placeholder(monkeypatch):
    answers = {}

    def run(command, **options):
        return types.SimpleNamespace(stdout=answers.get(command[3], "") + "\n")

    monkeypatch.setattr(demo.subprocess, "run", run)
    assert demo.default_package_spec() == (f"emotion-whisper[onnx,demo] @ git+{demo.PLACEHOLDER_REPO}", False)
    answers.update({"config": "git@github.com:someone/emotion-whisper.git", "rev-parse": "abc123"})
    assert demo.default_package_spec() == (
        "emotion-whisper[onnx,demo] @ git+https://github.com/someone/emotion-whisper.git@abc123", True)


def test_a_space_is_never_written_over_what_it_did_not_create(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for target, words in ((tmp_path, "working directory"), (checkpoint, "the checkpoint"),
                          (demo.REPO, "this package")):
        assert cli.main(["release", str(checkpoint), "--repo-id", "a/b", "--space", str(target), "--overwrite"]) == 2
        assert words in capsys.readouterr().err
    assert cli.main(["release", str(checkpoint), "--repo-id", "a/b", "--space", str(tmp_path / "s"), "--push"]) == 2
    assert "--space writes only the Space folder" in capsys.readouterr().err

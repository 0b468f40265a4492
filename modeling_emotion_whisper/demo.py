"""`emotion-whisper demo`: the model in a browser (Gradio), on this machine or as a Hugging Face Space.

    emotion-whisper demo [--port 7860] [--backend onnx --model DIR]        http://127.0.0.1:7860
    emotion-whisper release CHECKPOINT --repo-id ORG/NAME --space DIR      a Space folder that runs it on CPU (ONNX)

Two tabs. "Clip": upload or record audio; the timeline plot (`inference.plot_timeline`, as `timeline --plot` draws
it), the segment table (`timeline`'s segments) and the clip's scores (`predict`'s). "Live": the microphone streams
to one `streaming.EmotionStream` per browser session; the current emotion, a scrolling timeline of the last
LIVE_WINDOW s of frames, and the segments so far.

Gradio is imported only when an app is built (pip install 'emotion-whisper[demo]'); the handlers (`analyze_clip`,
`live_step`, `live_stop`) take and return plain values, so they are tested without a browser or a server.

The microphone in a browser: Gradio 6 sends 0.1 s chunks (its audio component fixes that, whatever `stream_every`
says) and, while it is still handling one chunk of a stream, keeps only the newest of those that arrive. The app
therefore scores in a thread per session (LiveSession(background=True)) and answers each chunk at once, reads each
uploaded chunk whole (`read_stream_chunk`), and redraws only after a hop. Audio can still be lost when the server is
too slow to take chunks as they come; the live tab says how much has been heard, and `emotion-whisper live` (the
command) never drops any.
"""

import io
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import deque
from pathlib import Path

import numpy as np

from .audio import AudioError, audio_info
from .inference import as_scorer, plot_timeline, predict_clips, timeline
from .outputs import replace_folder, replaceable_folder, umask
from .streaming import HOP, EmotionStream

GRADIO_HELP = "the demo needs Gradio: pip install 'emotion-whisper[demo]'"
REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "ravdess_actor16_emotion_changes.flac"
LIVE_WINDOW = 30.0  # seconds of frames the live timeline shows; older ones scroll out (and are dropped)
LIVE_SEGMENTS = 12  # rows of the live segment table: the newest closed segments and the open one
LIVE_BACKLOG = 30.0  # seconds of audio that may wait to be scored in the app (LiveSession)
SEGMENT_COLUMNS = ["start (s)", "end (s)", "emotion", "confidence"]
LIVE_COLUMNS = [*SEGMENT_COLUMNS, "status"]
# The Space's limits: a public CPU Space shared by its visitors (a local demo has none beyond the package's own).
SPACE_MAX_SECONDS, SPACE_TIME_LIMIT = 600, 600
PLACEHOLDER_REPO = "https://github.com/YOUR-ORG/emotion-whisper.git"


def require_gradio():
    try:
        import gradio
    except ImportError:
        raise ValueError(GRADIO_HELP) from None
    return gradio


# ---- the clip tab


def analyze_clip(scorer, path, max_seconds: float | None = None):
    """(timeline plot as a PIL image, segment rows, clip scores {label: p} or "no speech") of an audio file."""
    from PIL import Image

    frames, rate = audio_info(path)  # an undecodable file is refused before any scoring
    if max_seconds is not None and frames / rate > max_seconds:
        raise AudioError(f"{Path(path).name}: {frames / rate:.0f} s of audio; this demo takes up to {max_seconds:g} s")
    result = timeline(scorer, None, path)
    image = io.BytesIO()
    plot_timeline(result, image, title=Path(path).name, file_format="png")
    image.seek(0)
    rows = [[s.start, s.end, s.emotion, s.confidence] for s in result.segments]
    if not result.speech.any():  # the clip's scores of silence would be a guess about nothing
        return Image.open(image), rows, "no speech"
    clip = predict_clips(scorer, None, [str(path)], errors="raise")[0]
    return Image.open(image), rows, clip["scores"]


# ---- the live tab


EMPTY_VIEW = ("listening…", None, [0.0, LIVE_WINDOW], [], "")


class LiveSession:
    """One browser session's stream and what the live tab shows of it; memory bounded like the stream itself.

    background: score in a thread of the session's own, so that a chunk's event returns at once. Gradio keeps only
    the newest chunk of a stream event while the previous one is still being handled, so an event that waits for
    the encoder loses the audio recorded meanwhile. At most `backlog` s of audio wait to be scored; more is dropped,
    and counted in the status line."""

    def __init__(self, scorer, sampling_rate: int, channels: int, window: float = LIVE_WINDOW,
                 background: bool = False, backlog: float = LIVE_BACKLOG, **settings):
        self.stream = EmotionStream(scorer, sampling_rate=sampling_rate, channels=channels, **settings)
        self.sampling_rate, self.channels = sampling_rate, channels
        self.labels = self.stream.labels
        self.frames = deque(maxlen=int(round(window * self.stream.frame_rate)))  # (time, probabilities or None)
        self.window, self.backlog = window, backlog
        self.scores = None
        self.heard = False  # any hop so far, speech or not: until then the tab says it is listening
        self.finished = False
        self.received = 0  # samples pushed, at the input rate
        self.dropped = 0.0  # seconds of audio refused because scoring fell `backlog` s behind
        self.error = None
        self.version = self.shown = 0  # hops taken, and the hop the page last drew
        self._snapshot = EMPTY_VIEW[:4]  # what the page shows, replaced whole after each hop
        self._lock = threading.Lock()  # the stream: one feeder at a time
        self._queue = queue.SimpleQueue() if background else None
        self._waiting = 0  # samples in the queue
        self._waiting_lock = threading.Lock()
        self._worker = None

    # ---- input

    def push(self, data):
        if self.finished:  # a chunk that arrives after the stop belongs to no recording
            return
        self.received += len(data)
        if self._queue is None:
            self._score(data)
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, daemon=True, name="emotion-whisper live")
            self._worker.start()
        with self._waiting_lock:
            if (self._waiting + len(data)) / self.sampling_rate > self.backlog:
                self.dropped += len(data) / self.sampling_rate
                return
            self._waiting += len(data)
        self._queue.put(data)

    def end(self):
        """End of the recording: score what waits, then the rest of the stream; close the open segment."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
        with self._lock:
            if not self.finished:
                self._take(self.stream.finish())
                self.finished = True

    def close(self):
        """The browser session is gone: stop the scoring thread without scoring what waits."""
        if self._worker is not None:
            self.finished = True  # the thread skips what waits
            self._queue.put(None)

    def _work(self):
        while (data := self._queue.get()) is not None:
            if not self.finished:
                self._score(data)
            with self._waiting_lock:
                self._waiting -= len(data)

    def _score(self, data):
        with self._lock:
            try:
                self._take(self.stream.feed(data))
            except AudioError as err:  # the chunk is refused, the stream goes on
                self.error = str(err)

    def _take(self, outputs):
        if not outputs:
            return
        for out in outputs:
            for t, row, speech in zip(out.times, out.probabilities, out.speech):
                self.frames.append((float(t), row if speech else None))
            if len(out.speech):
                self.heard = True
                self.scores = out.scores
        self._snapshot = (self.current(), self.timeline_rows(), self.x_range(), self.segment_rows())
        self.version += 1

    # ---- what the page shows

    def current(self):
        """What gr.Label shows: the newest hop's scores, or a word when there are none."""
        if self.scores is not None:
            return dict(self.scores)
        return "no speech" if self.heard else "listening…"

    def timeline_rows(self) -> dict:
        """The scrolling plot's data, in long form: time, emotion, probability (None where there is no speech)."""
        times, emotions, values = [], [], []
        for t, row in self.frames:
            for k, name in enumerate(self.labels):
                times.append(round(t, 3))
                emotions.append(name)
                values.append(None if row is None else round(float(row[k]), 4))
        return {"time": times, "emotion": emotions, "probability": values}

    def x_range(self) -> list[float]:
        end = self.frames[-1][0] if self.frames else 0.0
        return [max(0.0, end - self.window), max(end, self.window)]

    def segment_rows(self) -> list[list]:
        rows = [[s.start, s.end, s.emotion, s.confidence, "closed"] for s in self.stream.segments[-LIVE_SEGMENTS:]]
        open_segment = self.stream.open_segment
        if open_segment is not None:
            rows = rows[-(LIVE_SEGMENTS - 1):] + [[open_segment.start, open_segment.end, open_segment.emotion,
                                                   open_segment.confidence, "open"]]
        return rows

    def status(self) -> str:
        """How much has been heard and scored: the gap between the two is the stream's delay."""
        frames = self._snapshot[1]["time"] if self._snapshot[1] else []
        scored = frames[-1] + 1 / self.stream.frame_rate if frames else 0.0
        text = f"{self.received / self.sampling_rate:.1f} s heard, scored up to {scored:.1f} s"
        if self.dropped:
            text += f"; {self.dropped:.1f} s dropped (scoring fell {self.backlog:g} s behind)"
        if self.error:
            text += f"; error: {self.error}"
        return text + (" (recording ended)" if self.finished else "")

    def view(self):
        """(current emotion, plot data, x range, segment rows, status): as of the newest hop, without waiting for
        one being scored."""
        return (*self._snapshot, self.status())


def _chunk(chunk):
    """A microphone chunk, (rate, int16 array of (samples,) or (samples, channels)), as rate, channels, data."""
    rate, data = chunk
    data = np.asarray(data)
    return int(rate), (data.shape[1] if data.ndim == 2 else 1), data


# WAV sample formats the browser's recorder writes: (format tag, bits) -> numpy dtype
_WAV_SAMPLES = {(1, 16): "<i2", (1, 32): "<i4", (3, 32): "<f4"}


def read_stream_chunk(path):
    """(rate, samples (n, channels)) of a chunk Gradio's streaming microphone uploaded: a WAV header, then every
    sample recorded since the last chunk was sent. The header's data size counts only the first recorder block, so
    every byte after it is read (a WAV reader that trusts the size, as Gradio's numpy conversion does, keeps 0.1 s
    and drops the rest whenever blocks queued up while the server was busy)."""
    data = Path(path).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("the microphone chunk is not WAV audio")
    position, fmt = 12, None
    while position + 8 <= len(data):
        kind, size = data[position : position + 4], int.from_bytes(data[position + 4 : position + 8], "little")
        if kind == b"fmt ":
            tag, channels, rate = (int.from_bytes(data[position + 8 + a : position + 8 + b], "little")
                                   for a, b in ((0, 2), (2, 4), (4, 8)))
            bits = int.from_bytes(data[position + 22 : position + 24], "little")
            if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes are the format tag
                tag = int.from_bytes(data[position + 32 : position + 34], "little")
            fmt = (tag, bits, channels, rate)
        elif kind == b"data":
            if fmt is None or (fmt[0], fmt[1]) not in _WAV_SAMPLES or not fmt[2] or not fmt[3]:
                raise AudioError(f"the microphone sends WAV audio of a kind this demo does not read ({fmt})")
            tag, bits, channels, rate = fmt
            width = bits // 8 * channels
            body = data[position + 8 :]
            samples = np.frombuffer(body[: len(body) // width * width], dtype=_WAV_SAMPLES[tag, bits])
            return rate, samples.reshape(-1, channels)
        position += 8 + size + (size & 1)
    raise AudioError("the microphone chunk holds no audio data")


def live_step(scorer, session, chunk, background: bool = False, **settings):
    """Take one microphone chunk (rate, samples) into the session's stream, started on the first chunk (and again
    if the rate or channels change): (session, view). background: see LiveSession."""
    if chunk is None:
        return session, (session.view() if session else EMPTY_VIEW)
    rate, channels, data = _chunk(chunk)
    if session is None or (not session.finished and (rate, channels) != (session.sampling_rate, session.channels)):
        if session is not None:
            session.close()
        session = LiveSession(scorer, rate, channels, background=background, **settings)
    session.push(data)
    return session, session.view()


def live_stop(session):
    """End of a recording: score the rest, close the open segment."""
    if session is None:
        return None, EMPTY_VIEW
    session.end()
    return session, session.view()


# ---- the app


def build_app(model, extractor=None, *, title: str = "emotion-whisper", examples=(), max_seconds: float | None = None,
              time_limit: float | None = None, description: str = ""):
    """The Gradio app (gr.Blocks, not launched) around a PyTorch model and its extractor, or a scorer
    (onnx_backend.OnnxScorer). examples: audio files offered under the clip input. max_seconds: the longest clip the
    clip tab takes; time_limit: seconds a live recording may stream (None: no limit)."""
    gr = require_gradio()
    import pandas as pd

    scorer = as_scorer(model, extractor)
    labels = list(scorer.labels)
    colors = _label_colors(labels)

    def clip(path):
        if not path:
            return None, pd.DataFrame(columns=SEGMENT_COLUMNS), None
        try:
            image, rows, scores = analyze_clip(scorer, path, max_seconds)
        except (AudioError, ValueError) as err:
            raise gr.Error(str(err)) from None
        return image, pd.DataFrame(rows, columns=SEGMENT_COLUMNS), scores

    def show(session, view):
        # Gradio's microphone sends a chunk every 0.1 s, whatever stream_every says, and the page cannot redraw
        # that often on a small machine: the page is updated only when a hop has added something.
        if session is not None and session.shown == session.version and not session.finished:
            return session, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if session is not None:
            session.shown = session.version
        current, frames, x_lim, rows, status = view
        # No frames yet: the plot is left as it is (an empty frame of data leaves Gradio 6's plot blank for good).
        plot = gr.LinePlot(value=pd.DataFrame(frames), x_lim=x_lim) if frames and frames["time"] else gr.skip()
        return session, current, plot, pd.DataFrame(rows, columns=LIVE_COLUMNS), status

    def stream(path, session):
        try:
            return show(*live_step(scorer, session, read_stream_chunk(path) if path else None, background=True))
        except (AudioError, ValueError) as err:
            raise gr.Error(str(err)) from None

    def stop(session):
        return show(*live_stop(session))

    def restart(session):  # each recording is a new stream
        if session is not None:
            session.close()

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\n{description or 'Speech emotion over time, frame by frame.'}")
        with gr.Tabs():
            with gr.Tab("Clip", id="clip"):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="audio",
                                 elem_id="clip-audio")
                if examples:
                    gr.Examples([[str(e)] for e in examples], inputs=[audio], label="example")
                plot = gr.Image(label="timeline", type="pil", interactive=False, elem_id="clip-plot")
                with gr.Row():
                    table = gr.Dataframe(headers=SEGMENT_COLUMNS, label="segments", interactive=False,
                                         elem_id="clip-segments", scale=3)
                    scores = gr.Label(label="clip scores", num_top_classes=len(labels), elem_id="clip-scores",
                                      scale=2)
                audio.change(clip, inputs=[audio], outputs=[plot, table, scores])
            with gr.Tab("Live", id="live"):
                gr.Markdown("Record from the microphone: the emotion is scored every "
                            f"{HOP:g} s on the last seconds heard, and segments follow as they settle.")
                session = gr.State(None, time_to_live=3600,
                                   delete_callback=lambda session: session.close() if session else None)
                # a file, read by read_stream_chunk: Gradio's own conversion would drop queued-up audio
                microphone = gr.Audio(sources=["microphone"], type="filepath", streaming=True, label="microphone",
                                      elem_id="live-audio")
                current = gr.Label(label="current emotion", num_top_classes=3, elem_id="live-emotion")
                live_plot = gr.LinePlot(x="time", y="probability", x_title="time (s)", color="emotion", y_lim=[0, 1],
                                        x_lim=[0, LIVE_WINDOW], color_map=colors, label="last "
                                        f"{LIVE_WINDOW:g} s", elem_id="live-timeline")
                live_table = gr.Dataframe(headers=LIVE_COLUMNS, label="segments", interactive=False,
                                          elem_id="live-segments")
                live_status = gr.Markdown(elem_id="live-status")
                outputs = [session, current, live_plot, live_table, live_status]
                # stream_every: what Gradio 6 asks of other streaming inputs; its microphone sends 0.1 s chunks
                microphone.stream(stream, inputs=[microphone, session], outputs=outputs, stream_every=HOP,
                                  time_limit=time_limit, show_progress="hidden")  # no timer flashing per chunk
                microphone.start_recording(restart, inputs=[session], outputs=[session])
                microphone.stop_recording(stop, inputs=[session], outputs=outputs)
    return app


def _label_colors(labels) -> dict:
    """plot_timeline's colours (tab10 by label index), so that both plots colour an emotion alike."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    return {name: to_hex(colormaps["tab10"](k)) for k, name in enumerate(labels)}


def launch(app, port: int = 7860, host: str = "127.0.0.1", block: bool = True):
    """Serve the app on host:port (this machine only, by default)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"--port {port}: give a port number from 1 to 65535")
    # ssr_mode off: server-side rendering needs Node.js, and a local demo gains nothing from it
    return app.launch(server_name=host, server_port=port, ssr_mode=False, prevent_thread_lock=not block,
                      show_error=True)


# ---- the command


def add_arguments(parser):
    parser.add_argument("--port", type=int, default=7860, help="port on 127.0.0.1 (default 7860)")
    parser.add_argument("--model", help="saved model folder or Hub id (default: checkpoints/emotion-whisper-base); "
                                        "with --backend onnx, a folder written by export-onnx")
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                        help="onnx: run a folder written by export-onnx under onnxruntime, without torch")
    # The live tab runs one pass per hop: onnxruntime's threads busy-waiting between passes would only burn CPU.
    parser.set_defaults(onnx_spinning=False)


def run(args, load) -> int:
    """The command: `load(args)` gives (model, extractor) as the other commands load them."""
    require_gradio()  # before the model loads: a missing Gradio says so at once
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: give a port number from 1 to 65535")
    model, extractor = load(args)
    app = build_app(model, extractor, examples=[EXAMPLE] if EXAMPLE.exists() else ())
    launch(app, args.port)
    return 0


# ---- the Space


APP_PY = '''"""The emotion-whisper demo (written by `emotion-whisper release --space`): onnx/ on CPU."""

from pathlib import Path

from modeling_emotion_whisper.demo import build_app
from modeling_emotion_whisper.onnx_backend import OnnxScorer

HERE = Path(__file__).resolve().parent
TITLE = {title!r}
DESCRIPTION = {description!r}
# spinning=False: the live tab runs one pass per hop, and onnxruntime's threads would busy-wait between them
demo = build_app(OnnxScorer(HERE / "onnx", spinning=False), title=TITLE, description=DESCRIPTION,
                 examples=sorted((HERE / "examples").glob("*.flac")), max_seconds={max_seconds},
                 time_limit={time_limit})

if __name__ == "__main__":
    demo.launch()
'''

SPACE_README = """---
{front_matter}
---

# {title}

Speech emotion over time with [{repo_id}](https://huggingface.co/{repo_id}), a Whisper encoder fine-tuned for
speech emotion recognition, running here on CPU with ONNX Runtime (no PyTorch).

- **Clip**: upload or record audio (up to {max_seconds} s) and get the timeline plot, the emotion segments and the
  clip's scores.
- **Live**: record from your microphone; the current emotion is scored every {hop:g} s on the last few seconds heard,
  and segments appear as they settle (recordings stop after {time_limit} s).

Labels: {labels}.

## What this folder holds

- `app.py`: builds the app with `modeling_emotion_whisper.demo.build_app` around `onnx/`.
- `requirements.txt`: the emotion-whisper package itself,
  `{package_spec}`.
  The Space installs it from there when it builds, so that line must name a repository and revision the Space can
  reach: pass `--package-spec` to `emotion-whisper release --space` (or edit the file) if it does not.
- `onnx/`: the exported model (`model.onnx`, fp32, checked against PyTorch at export) with its `config.json`.
{example_note}
Push it with `hf upload ORG/SPACE-NAME {folder_name} --repo-type space` (create the Space first, SDK Gradio);
`onnx/model.onnx` goes up through Git LFS, as the Hub does for every file over 10 MB.

The model is released for non-commercial research only (its training data's licences); see the model card.
"""

EXAMPLE_NOTE = """- `examples/`: {name}, six RAVDESS recordings of one actor joined end to end.
  Livingstone SR, Russo FA (2018), The Ryerson Audio-Visual Database of Emotional Speech and Song (RAVDESS),
  PLoS ONE 13(5): e0196391, https://doi.org/10.5281/zenodo.1188976, CC BY-NC-SA 4.0; this excerpt is shared under
  the same licence.
"""


def gradio_version() -> str:
    """The installed Gradio, the version the Space's sdk_version pins (the one the app was run with here)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gradio")
    except PackageNotFoundError:
        raise ValueError(f"{GRADIO_HELP} (the Space pins the Gradio version it was built with)") from None


def default_package_spec() -> tuple[str, bool]:
    """(requirement, whether it names a real repository): this checkout's origin at its HEAD commit, if it has an
    origin; otherwise a placeholder to replace."""
    extras = "emotion-whisper[onnx,demo]"

    def git(*command):
        return subprocess.run(["git", "-C", str(REPO), *command], capture_output=True, text=True,
                              timeout=30).stdout.strip()

    try:
        url, commit = git("config", "--get", "remote.origin.url"), git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        url = commit = ""
    if not url:
        return f"{extras} @ git+{PLACEHOLDER_REPO}", False
    if url.startswith("git@"):  # a Space builds without SSH keys: the same repository over https
        host, _, path = url[4:].partition(":")
        url = f"https://{host}/{path}"
    return f"{extras} @ git+{url}" + (f"@{commit}" if commit else ""), True


def space_folder(folder, checkpoint, overwrite: bool) -> Path:
    """Where the Space goes: refused if writing it could destroy anything it did not create (release.py's rule)."""
    return replaceable_folder(folder, "--space", overwrite, {
        "the working directory": Path.cwd(), "the checkpoint": checkpoint, "your home folder": Path.home(),
        "this package": REPO})


def write_space(checkpoint, folder, repo_id: str, package_spec: str | None = None, overwrite: bool = False,
                title: str = "emotion-whisper", emoji: str = "🎙️") -> Path:
    """Write a Hub Space (Gradio SDK) that runs the model on CPU under ONNX Runtime. checkpoint: a saved model folder
    (exported to ONNX, fp32, checked against PyTorch) or a folder written by export-onnx (copied). repo_id: the model
    on the Hub the Space links to. The folder is written aside and renamed into place once complete."""
    import yaml

    from .onnx_backend import HEAD_FILE

    checkpoint = Path(checkpoint)
    if not Path(checkpoint, "config.json").exists():
        raise ValueError(f"{checkpoint} has no config.json: pass a saved model folder or an export-onnx folder")
    folder = space_folder(folder, checkpoint, overwrite)
    sdk_version = gradio_version()
    if package_spec is None:
        package_spec, real = default_package_spec()
        if not real:
            print(f"warning: requirements.txt names {PLACEHOLDER_REPO}, a placeholder; pass --package-spec (e.g. "
                  "'emotion-whisper[onnx,demo] @ git+https://github.com/ORG/emotion-whisper.git@v0.1.0') or edit "
                  "the file before pushing the Space", file=sys.stderr)
    if "\n" in package_spec or not package_spec.strip():
        raise ValueError("--package-spec: give one requirement line, e.g. 'emotion-whisper[onnx,demo] @ git+URL@REF'")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        staging.chmod(0o777 & ~umask())  # mkdtemp makes it 0700
        onnx = staging / "onnx"
        if (checkpoint / "model.onnx").exists():
            onnx.mkdir()
            for name in ("model.onnx", "config.json", HEAD_FILE):
                shutil.copyfile(checkpoint / name, onnx / name)
        else:  # fp32: exact, and a live stream is no faster with int8 (docs/results.md, "Live latency")
            from .onnx_export import ExportError, export_onnx

            try:
                export_onnx(checkpoint, onnx)
            except ExportError as err:
                raise ValueError(str(err)) from None
        from .onnx_backend import OnnxScorer

        labels = OnnxScorer(onnx).labels  # the export loads: the Space will start
        example_note = ""
        if EXAMPLE.exists():
            (staging / "examples").mkdir()
            shutil.copyfile(EXAMPLE, staging / "examples" / EXAMPLE.name)
            example_note = EXAMPLE_NOTE.format(name=EXAMPLE.name)
        description = (f"Speech emotion over time with [{repo_id}](https://huggingface.co/{repo_id}), on CPU with "
                       "ONNX Runtime.")
        (staging / "app.py").write_text(APP_PY.format(title=title, max_seconds=SPACE_MAX_SECONDS,
                                                      time_limit=SPACE_TIME_LIMIT, description=description))
        (staging / "requirements.txt").write_text(package_spec.strip() + "\n")
        front = {"title": title, "emoji": emoji, "colorFrom": "indigo", "colorTo": "pink", "sdk": "gradio",
                 "sdk_version": sdk_version, "app_file": "app.py", "pinned": False, "license": "other",
                 "models": [repo_id], "short_description": "Speech emotion over time, from a clip or live"}
        (staging / "README.md").write_text(SPACE_README.format(
            front_matter=yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(), title=title,
            repo_id=repo_id, max_seconds=SPACE_MAX_SECONDS, hop=HOP, time_limit=SPACE_TIME_LIMIT,
            labels=", ".join(labels), package_spec=package_spec.strip(), example_note=example_note,
            folder_name=folder))
        replace_folder(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    print(f"Space folder: {folder}")
    return folder



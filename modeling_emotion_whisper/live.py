"""`emotion-whisper live`: the emotion of a stream as it is heard (streaming.EmotionStream behind a command).

    emotion-whisper live                                  the default microphone (pip install 'emotion-whisper[live]')
    ffmpeg -i URL -f s16le -ac 1 -ar 16000 - | emotion-whisper live -       PCM on stdin (--rate, --format, --channels)
    emotion-whisper live talk.wav --realtime              a file at real-time pace (without --realtime: at full speed)

Text: each change of emotion with its time (and, on a terminal, the current emotion on a line of its own), then the
segments. --json: one object per line, flushed as written: per hop {"time": seconds of audio covered, up to,
"label", "scores", "speech", "events"}, and a last line with "segments" and "end" ("input" or "interrupted").
End of input and Ctrl-C both end it the same way: what was heard is scored, the last segment closed, exit 0.
"""

import argparse
import json
import os
import sys
import time

from .streaming import CLIP_WEIGHT, CONTEXT, HOP, LOOKAHEAD, PCM_FORMATS, EmotionStream

BLOCK_SECONDS = 0.1  # microphone and file blocks: small against the hop, so a hop fills without waiting on a block
MICROPHONE_HELP = ("pip install 'emotion-whisper[live]' (and PortAudio: apt install libportaudio2), or pass a FILE, "
                   "or - for PCM on stdin")


def add_arguments(parser):
    parser.add_argument("source", nargs="?",
                        help="an audio FILE, or - for raw PCM on stdin (16 kHz mono s16le unless --rate/--format/"
                             "--channels say otherwise); none: the default microphone")
    parser.add_argument("--model", help="saved model folder or Hub id (default: checkpoints/emotion-whisper-base)")
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                        help="onnx: run a folder written by export-onnx under onnxruntime, without torch")
    parser.add_argument("--adaptation", help="an adaptation JSON written by `emotion-whisper adapt`")
    parser.add_argument("--logit-adjustment", action=argparse.BooleanOptionalAction,
                        help="adjust by the training label prior, or not (default: as the model was saved)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
    parser.add_argument("--rate", type=int, default=16000, help="sampling rate of PCM on stdin (Hz)")
    parser.add_argument("--format", choices=sorted(PCM_FORMATS), default="s16le", help="sample format on stdin")
    parser.add_argument("--channels", type=int, default=1, help="interleaved channels on stdin (averaged)")
    parser.add_argument("--realtime", action="store_true", help="feed a FILE at real-time pace")
    parser.add_argument("--device", help="microphone: a sounddevice input device name or number (default: the "
                                         "system's default input)")
    parser.add_argument("--hop", type=float, default=HOP, help="seconds of audio between outputs")
    parser.add_argument("--context", type=float, default=CONTEXT, help="seconds of audio scored at each hop")
    parser.add_argument("--lookahead", type=float, default=LOOKAHEAD,
                        help="seconds of audio after a frame that are heard before it is scored (adds latency)")
    parser.add_argument("--clip-weight", type=float, default=CLIP_WEIGHT,
                        help="weight of each window's clip scores pooled into its frames' (0: the frames' own)")
    parser.add_argument("--smoothing", type=float, default=1.0, help="moving-average width in seconds")
    parser.add_argument("--min-segment", type=float, default=1.0, help="shorter segments join a neighbour (s)")
    # One encoder pass per hop: onnxruntime's threads busy-waiting between passes would only burn CPU.
    parser.set_defaults(onnx_spinning=False)


def run(args, load) -> int:
    """The command: `load(args)` gives (model, extractor) as the other commands load them."""
    if args.realtime and args.source in (None, "-"):
        raise ValueError("--realtime paces a FILE; the microphone and stdin come at their own pace")
    if args.source is None:
        microphone = Microphone(args.device)  # before the model: a missing microphone says so at once
        rate, chunks = microphone.rate, microphone.chunks()
    elif args.source == "-":
        rate, chunks = args.rate, stdin_chunks()
    else:
        from .audio import SAMPLING_RATE, audio_info

        audio_info(args.source)  # a missing or unreadable file fails before the model loads
        rate, chunks = SAMPLING_RATE, file_chunks(args.source, args.realtime)
    model, extractor = load(args)
    stream = EmotionStream(model, extractor, sampling_rate=rate, channels=args.channels if args.source == "-" else 1,
                           pcm_format=args.format, hop=args.hop, context=args.context, lookahead=args.lookahead,
                           smoothing=args.smoothing, min_segment=args.min_segment, clip_weight=args.clip_weight,
                           logit_adjustment=args.logit_adjustment)
    printer = JsonPrinter() if args.json else TextPrinter(sys.stdout.isatty())
    interrupt = _Interrupt()
    try:
        with interrupt:
            for out in _feed(stream, chunks, interrupt):
                printer.output(out)
            for out in stream.finish():
                printer.output(out)
            printer.summary(stream, "interrupted" if interrupt.happened else "input")
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say, to anyone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _feed(stream, chunks, interrupt):
    """The stream's outputs for the chunks, until the input ends or Ctrl-C."""
    iterator = iter(chunks)
    try:
        while not interrupt.happened:
            try:
                interrupt.waiting = True
                chunk = next(iterator)
                interrupt.waiting = False
            except StopIteration:
                return
            except KeyboardInterrupt:
                interrupt.happened = True
                return
            finally:
                interrupt.waiting = False
            yield from stream.feed(chunk)
    finally:
        iterator.close()  # stops the microphone


class _Interrupt:
    """Ctrl-C ends the input like its end: it interrupts only the wait for audio; during scoring it is noted and
    taken once the hop is done, so the stream is never left half-updated and its last segments are always printed.
    A process started with SIGINT ignored keeps ignoring it."""

    def __init__(self):
        self.waiting = self.happened = False
        self.previous = None

    def __call__(self, signum, frame):
        self.happened = True
        if self.waiting:
            raise KeyboardInterrupt

    def __enter__(self):
        import signal

        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self.previous = signal.signal(signal.SIGINT, self)
        except ValueError:  # not the main thread: signals are not ours to handle
            pass
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def stdin_chunks(size: int = 1 << 16):
    """Bytes from stdin as they arrive (read1: whatever is there, without waiting for `size`)."""
    source = sys.stdin.buffer
    while True:
        data = source.read1(size)
        if not data:
            return
        yield data


def file_chunks(path, realtime: bool):
    """16 kHz blocks of a file, decoded as they are needed; with `realtime`, each once its audio would have been
    heard."""
    from .audio import SAMPLING_RATE, stream_audio

    started, heard = time.monotonic(), 0
    for block in stream_audio(path, block_seconds=BLOCK_SECONDS):
        heard += block.size
        if realtime:
            time.sleep(max(0.0, started + heard / SAMPLING_RATE - time.monotonic()))
        yield block


class Microphone:
    """The default (or a chosen) input device through sounddevice, one float32 block at a time."""

    def __init__(self, device=None):
        try:
            import sounddevice
        except ImportError:
            raise ValueError(f"no microphone: sounddevice is not installed; {MICROPHONE_HELP}") from None
        except OSError as err:  # sounddevice imports, then cannot load the PortAudio library
            raise ValueError(f"no microphone: PortAudio is missing ({err}); {MICROPHONE_HELP}") from None
        self.sounddevice = sounddevice
        self.device = int(device) if device is not None and device.isdigit() else device
        try:
            info = sounddevice.query_devices(self.device, kind="input")
        except Exception as err:  # PortAudioError, or ValueError for a device that is not there
            raise ValueError(f"no microphone: {str(err).strip() or 'no input device'}; connect one, choose one with "
                             "--device, or pass a FILE, or - for PCM on stdin") from None
        self.rate = int(info["default_samplerate"])

    def chunks(self):
        import queue

        blocks = queue.Queue()
        stream = self.sounddevice.InputStream(samplerate=self.rate, channels=1, dtype="float32", device=self.device,
                                              blocksize=int(self.rate * BLOCK_SECONDS),
                                              callback=lambda data, frames, when, status: blocks.put(data[:, 0].copy()))
        with stream:
            while True:
                try:
                    yield blocks.get(timeout=0.5)
                except queue.Empty:
                    continue


class JsonPrinter:
    def output(self, out):
        self._write(out.to_dict())

    def summary(self, stream, ended):
        segments = [vars(s) for s in stream.segments]
        self._write({"time": round(stream.duration, 3), "label": None, "scores": None, "end": ended,
                     "segments": segments, "message": None if segments else "no speech"})

    @staticmethod
    def _write(line):
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


class TextPrinter:
    """Changes as lines; on a terminal, the current emotion on a status line rewritten at each hop."""

    def __init__(self, terminal: bool):
        self.terminal = terminal

    def output(self, out):
        for event in out.events:
            self._line(_describe(event))
        if self.terminal:
            now = f"{out.label} {out.scores[out.label]:.2f}" if out.label else "no speech"
            sys.stdout.write(f"\r\033[K{out.end:8.2f} s  now: {now}")
            sys.stdout.flush()

    def summary(self, stream, ended):
        from .outputs import table

        rows = [(f"{s.start:8.2f}", f"{s.end:8.2f}", s.emotion, f"{s.confidence:.3f}") for s in stream.segments]
        self._line("")
        print(table(rows, ["start", "end", "emotion", "confidence"]) if rows else "no speech")
        print(f"\n{stream.duration:.1f} s of audio" + (" (interrupted)" if ended == "interrupted" else ""), flush=True)

    def _line(self, text):
        sys.stdout.write(("\r\033[K" if self.terminal else "") + text + "\n")
        sys.stdout.flush()


def _describe(event) -> str:
    was = (f"  (was {event.closed.emotion} from {event.closed.start:.2f} s, {event.closed.confidence:.2f})"
           if event.closed else "")
    return f"{event.time:8.2f} s  {event.label or 'no speech'}{was}"

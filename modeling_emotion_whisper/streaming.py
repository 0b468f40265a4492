"""Live emotion: audio chunks in, frame probabilities and segment events out, while the audio is still coming.

    from modeling_emotion_whisper.streaming import EmotionStream

    stream = EmotionStream(model, extractor)           # or EmotionStream(OnnxScorer("onnx-dir")), as `timeline`
    for chunk in chunks:                               # float arrays at `sampling_rate`, or PCM bytes, any size
        for out in stream.feed(chunk):                 # one StreamOutput per hop that produced frames
            print(out.end, out.label, out.scores, [e.kind for e in out.events])
    stream.finish()                                    # end of input: the rest is scored, the last segment closed
    stream.segments

Scoring: every `hop` s of audio (at 16 kHz, after soxr's streaming resampler, whose output does not depend on the
chunk sizes), the last `context` s are scored in one encoder pass through the scorer interface `timeline` uses, and
the frames of the hop that ends `lookahead` s before the newest sample are emitted, each from that one window, at
the timeline's output rate (`output_rate`, encoder frames averaged). An emitted frame is final: it is never revised.
The cost per hop is one `context`-long window, whatever has been heard; latency is the wait for the hop to fill, plus
`lookahead`, plus one pass. A frame sees up to `context - lookahead` s before it and `lookahead` s after it, where the
timeline sees up to 30 s around it, so frame values differ from the timeline's wherever the model uses that context
(the encoder attends over its whole window; the log-mel floor follows the window's loudest frame). With a context and
a lookahead that cover the whole recording and `clip_weight=0`, the stream gives the timeline's frames and segments
(tests/test_streaming).
A model with a stream head (config.stream_head: the frame head refitted on the newest frames of stream windows,
head_fit.fit_stream_head) scores the stream's frames with it at lookahead 0 (what it was fitted for), and its
timelines with the frame head. Each window's clip logits (the clip head on the pooled window, from the same pass) are
pooled into its frames' with weight `clip_weight` (inference.pool_with_clip): a frame heard with nothing after it is
weak evidence, the few seconds before it are an utterance's worth.

No speech: `timeline`'s rule (`inference.speech_frames`, `inference.loud_level`), with the loud level taken over the last
`level_memory` s heard so far instead of over the whole recording.

Segments: `inference.segments_from_frames`, the timeline's smoothing and minimum-segment rule, re-run after each hop on
the last `segment_memory` s of frames. Its labels are committed up to `settle` s before the newest frame (default
smoothing / 2 for the centred average, plus 2 x min_segment for a pause or a short run after a frame to be resolved)
and events follow from the committed labels: "opened" when speech with an emotion starts, "changed" when the
emotion changes (closing the segment before it), "closed" when a pause of at least `min_segment` s follows. Every
event is final, and the closed segments are those the rule gives run once over all of the stream's frames, unless one
of its decisions hangs on frames more than `settle` s later (a run shorter than `min_segment` joins the longer of its
neighbours, and the newest neighbour is still growing) or more than `segment_memory` s earlier.

Memory is flat over hours: audio <= context + hop, frames <= segment_memory, levels <= level_memory, and the last
`max_segments` closed segments (every one is also handed out in its "closed" or "changed" event).
"""

import math
from collections import deque
from dataclasses import asdict, dataclass, field

import numpy as np
import soxr

from .audio import MIN_SAMPLES, SAMPLING_RATE, AudioError
from .inference import (FRAME_RATE, Segment, as_scorer, check_clip_weight, frame_energy,
                        loud_level, resolve_logit_adjustment, segments_from_frames, smooth_frames, speech_frames)
from .mel import scores

ENCODER_FRAME = SAMPLING_RATE // FRAME_RATE  # samples per encoder frame (20 ms)
MAX_WINDOW = 30 * SAMPLING_RATE  # the encoder's window: torch's extractor would cut a longer one, ONNX refuse it
# Raw PCM layouts a stream takes as bytes: numpy dtype and the full scale of integer samples (soundfile's: 2^(bits-1)).
PCM_FORMATS = {"s16le": ("<i2", 2.0 ** 15), "s32le": ("<i4", 2.0 ** 31), "f32le": ("<f4", None)}
# Defaults until the latency benchmark (issue 27, section 3) sets them: a hop of 0.5 s keeps the wait for a hop to
# fill at 0.25 s on average, against a 1 s p95 target; 4 s of context is about an utterance, the unit the model was
# trained on, and keeps each hop's encoder pass short (its cost grows with the window). No lookahead: it adds its
# length to the latency, and 0.3 to 1 s of it did not bring the stream's changes closer to the timeline's on the
# tests' pitch-labelled model (a trained model may differ: the benchmark will tell).
HOP, CONTEXT, LOOKAHEAD = 0.5, 4.0, 0.0
# Weight of the window's clip logits pooled into every frame's (inference.pool_with_clip). The clip head reads the
# whole window, as it reads a clip, from the same encoder pass: free evidence that steadies the frames, and holds to
# the emotion before a change while that emotion fills the window. On release 3 (benchmarks/stream_settings.py, six
# validation sequences; docs/results.md, "The stream head") weights 0 / 0.5 / 1 / 2 gave 49.4 / 54.2 / 54.7 / 54.5 %
# of frames right, and 43.9 / 43.6 / 39.2 / 33.0 % in the first 2 s after a change: 0.5 is the largest of the four
# that keeps those first seconds within half a point. Six other sequences: 53.6 -> 57.7 %, first 2 s 46.9 -> 45.8 %.
# Not measured on lookahead (frame head) streams or regression (sigmoid) models, which get the same default.
CLIP_WEIGHT = 0.5


@dataclass
class SegmentEvent:
    kind: str  # "opened", "changed" or "closed"
    time: float  # seconds of audio at which it happened
    label: str | None  # the emotion from `time` on (None after "closed")
    closed: Segment | None = None  # the segment that ended at `time` ("changed", "closed"), final

    def to_dict(self) -> dict:
        return {"event": self.kind, "time": self.time, "label": self.label,
                "segment": asdict(self.closed) if self.closed else None}


@dataclass
class StreamOutput:
    """What one hop (or the end of the stream) adds: frames from `start` to `end` s of audio, final."""

    start: float
    end: float  # seconds of audio these frames cover, up to
    received: float  # seconds of audio fed in when this was produced (end + lookahead, + the partial hop at the end)
    frame_rate: float
    labels: list[str]
    probabilities: np.ndarray  # (frames, labels), NaN rows where there is no speech
    speech: np.ndarray  # (frames,) bool
    label: str | None  # the emotion of these frames (arg-max of `scores`); None when none is speech
    scores: dict | None  # their probabilities averaged over the speech frames
    events: list[SegmentEvent] = field(default_factory=list)

    @property
    def times(self) -> np.ndarray:
        return self.start + np.arange(len(self.speech)) / self.frame_rate

    def to_dict(self, with_frames: bool = False) -> dict:
        out = {"time": round(self.end, 3), "start": round(self.start, 3), "label": self.label,
               "scores": None if self.scores is None else {k: round(v, 4) for k, v in self.scores.items()},
               "speech": bool(self.speech.any()), "events": [e.to_dict() for e in self.events]}
        if with_frames:
            out["frames"] = [None if not heard else [round(float(v), 4) for v in row]
                             for row, heard in zip(self.probabilities, self.speech)]
        return out


def _multiple(value: float, unit: float) -> bool:
    return abs(value / unit - round(value / unit)) < 1e-6


def check_timing(hop: float, context: float, lookahead: float = LOOKAHEAD, output_rate: float = 10.0):
    """The hop / context / lookahead a stream accepts (ValueError saying which rule fails otherwise); also for callers
    that check settings before building a stream (benchmarks/live_latency.py)."""
    frame = max(1, int(round(FRAME_RATE / output_rate))) / FRAME_RATE  # seconds per output frame
    if not (hop >= 0.1 and _multiple(hop, frame)):
        raise ValueError(f"hop must be at least 0.1 s and a multiple of the output frame ({frame:g} s), got {hop}")
    if not (lookahead >= 0 and _multiple(lookahead, frame)):
        raise ValueError(f"lookahead must be 0 or more and a multiple of the output frame ({frame:g} s), got "
                         f"{lookahead}")
    if not (hop + lookahead <= context + 1e-9 and context <= 30 and _multiple(context, 1 / FRAME_RATE)):
        raise ValueError(f"context must be a multiple of 0.02 s, at most 30 s (the encoder's window) and at least "
                         f"hop + lookahead ({hop + lookahead:g} s), got {context}")
    if hop + lookahead > 30 - 1 / FRAME_RATE + 1e-9:  # the last window must reach back to what is not yet emitted
        raise ValueError(f"hop + lookahead must be under 30 s (the encoder's window), got {hop + lookahead:g} s")


class EmotionStream:
    """Emotion of a live stream (see the module docstring). Not thread-safe: one feeder per stream.

    model, extractor: a PyTorch model with its feature extractor, or a scorer (onnx_backend.OnnxScorer, extractor
    None). sampling_rate, channels: of what `feed` gets (interleaved or (samples, channels) when channels > 1);
    pcm_format: the layout of bytes chunks (PCM_FORMATS). hop, context, lookahead: seconds (see the docstring);
    output_rate, smoothing, min_segment, silence_db, logit_adjustment: as in `timeline`. settle: seconds behind the
    newest frame before segment labels are committed (default smoothing / 2 + 2 x min_segment). stream_head: score
    frames with the model's stream head (config.stream_head, fitted on frames with nothing heard after them); None
    (default) uses it when the model has one and `lookahead` is 0, False never, True always (an error without one).
    clip_weight: each window's clip logits pooled into its frames' with this weight (CLIP_WEIGHT; 0: the frames'
    own)."""

    def __init__(self, model, extractor=None, *, sampling_rate: int = SAMPLING_RATE, channels: int = 1,
                 pcm_format: str = "s16le", hop: float = HOP, context: float = CONTEXT, lookahead: float = LOOKAHEAD,
                 output_rate: float = 10.0, smoothing: float = 1.0, min_segment: float = 1.0,
                 settle: float | None = None, silence_db: float = 40.0, logit_adjustment: bool | None = None,
                 level_memory: float = 300.0, segment_memory: float = 30.0, max_segments: int = 10000,
                 stream_head: bool | None = None, clip_weight: float = CLIP_WEIGHT):
        settings = dict(hop=hop, context=context, lookahead=lookahead, output_rate=output_rate, smoothing=smoothing,
                        min_segment=min_segment, silence_db=silence_db, level_memory=level_memory,
                        segment_memory=segment_memory, settle=0.0 if settle is None else settle)
        for name, value in settings.items():
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        self.scorer = as_scorer(model, extractor)
        has_stream_head = getattr(self.scorer, "has_stream_head", False)
        if stream_head and not has_stream_head:
            raise ValueError("stream_head=True: this model has no stream head (config.stream_head); fit one with "
                             "train.py --num_epochs 0 --fit_stream_head true, or pass stream_head=None")
        self.stream_head = has_stream_head and stream_head is not False and (stream_head or lookahead == 0)
        self._frames = self.scorer.stream_frames if self.stream_head else self.scorer.frames
        self.clip_weight = check_clip_weight(clip_weight)
        self.labels = list(self.scorer.labels)
        self.emotion_loss = getattr(self.scorer.config, "emotion_loss", "soft_ce")
        if int(sampling_rate) != sampling_rate or sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be a positive whole number of Hz, got {sampling_rate}")
        if int(channels) != channels or channels < 1:
            raise ValueError(f"channels must be 1 or more, got {channels}")
        if pcm_format not in PCM_FORMATS:
            raise ValueError(f"pcm_format {pcm_format!r} is not one of {', '.join(PCM_FORMATS)}")
        self.sampling_rate, self.channels, self.pcm_format = int(sampling_rate), int(channels), pcm_format
        if not output_rate > 0:
            raise ValueError(f"output_rate must be positive, got {output_rate}")
        self.step = max(1, int(round(FRAME_RATE / output_rate)))  # encoder frames per output frame, as `timeline`
        self.frame_rate = FRAME_RATE / self.step
        check_timing(hop, context, lookahead, output_rate)
        if smoothing < 0 or min_segment < 0:
            raise ValueError("smoothing and min_segment must be 0 or more seconds")
        self.hop, self.context, self.lookahead = hop, context, lookahead
        self.smoothing, self.min_segment, self.silence_db = smoothing, min_segment, silence_db
        self.logit_adjustment = resolve_logit_adjustment(self.scorer, logit_adjustment)
        self.settle = smoothing / 2 + 2 * min_segment if settle is None else settle
        if self.settle < 0:
            raise ValueError(f"settle must be 0 or more seconds, got {settle}")
        need = self.settle + hop + lookahead + smoothing + 2 * min_segment
        if segment_memory < need:
            raise ValueError(f"segment_memory must cover settle + hop + lookahead + smoothing + 2 x min_segment "
                             f"({need:g} s), got {segment_memory}")
        if level_memory < hop:
            raise ValueError(f"level_memory must be at least one hop ({hop:g} s), got {level_memory}")

        self._hop_n = int(round(hop * SAMPLING_RATE))
        self._context_n = int(round(context * SAMPLING_RATE))
        self._lookahead_n = int(round(lookahead * SAMPLING_RATE))
        self._settle_frames = int(math.ceil(self.settle * self.frame_rate - 1e-9))
        self._memory_frames = int(round(segment_memory * self.frame_rate))
        self._resampler = (soxr.ResampleStream(self.sampling_rate, SAMPLING_RATE, 1, dtype="float32", quality="HQ")
                           if self.sampling_rate != SAMPLING_RATE else None)
        self._partial = b""  # bytes of an incomplete PCM sample frame, until the next chunk completes it
        self._audio = np.zeros(self._context_n + self._hop_n, dtype=np.float32)  # samples [_audio_start, _received)
        self._audio_start = 0
        self._received = 0  # samples at 16 kHz
        self._input = 0  # samples at the input rate
        self._next_end = self._hop_n  # the next hop boundary
        self._emitted = 0  # frames are final up to this sample
        self._levels = deque(maxlen=max(1, int(round(level_memory * self.frame_rate))))
        self._tail_p = np.zeros((0, len(self.labels)))  # frames [_tail0, emitted frames): for the segment rule
        self._tail_s = np.zeros(0, dtype=bool)
        self._tail0 = 0
        self._committed = 0  # segment labels are final before this frame
        self._open = None  # [label index, start frame, confidence sum over heard frames, heard, sum, frames]
        self._segments = deque(maxlen=max_segments)
        self._finished = False

    # ---- input

    def feed(self, chunk) -> list[StreamOutput]:
        """Take a chunk of any size: a float or integer array at `sampling_rate` (1-D, or (samples, channels)), or
        bytes of `pcm_format`. Returns what the hops it completed produced (often nothing, for small chunks).
        NaN or infinite samples raise AudioError and leave the stream as it was."""
        if self._finished:
            raise RuntimeError("this stream has finished; start a new EmotionStream")
        wave = self._mono(chunk)
        self._input += wave.size
        if self._resampler is not None:
            wave = self._resampler.resample_chunk(wave, last=False)
        return self._push(wave)

    def finish(self) -> list[StreamOutput]:
        """End of input: score what the hops have not yet emitted (with all the audio there is after it), commit
        every segment label and close the open segment. One output (possibly without frames); [] when called again."""
        if self._finished:
            return []
        outputs = []
        if self._resampler is not None:
            outputs += self._push(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        self._finished = True
        start = self._emitted
        p, s = np.zeros((0, len(self.labels))), np.zeros(0, dtype=bool)
        if self._received >= MIN_SAMPLES and self._received > self._emitted:
            begin = max(0, (self._received - self._context_n) // ENCODER_FRAME * ENCODER_FRAME)
            if self._received - begin > MAX_WINDOW:  # rounded down past 30 s: a frame later (still before _emitted)
                begin += ENCODER_FRAME
            p, s = self._score(begin, self._received, final=True)
        end = max(self._received, self._emitted)
        outputs.append(self._output(start, end, p, s, final=True))
        return outputs

    @property
    def segments(self) -> list[Segment]:
        """The closed segments (the last `max_segments`), oldest first."""
        return list(self._segments)

    @property
    def open_segment(self) -> Segment | None:
        """The segment still open, up to where its labels are committed, or None."""
        if self._open is None:
            return None
        return self._segment(self._open, self._committed)

    @property
    def duration(self) -> float:
        """Seconds of audio fed in (at the input rate)."""
        return self._input / self.sampling_rate

    def buffer_sizes(self) -> dict:
        """Lengths of every buffer that holds audio, frames, levels or segments (bounded: see the docstring)."""
        return {"audio": self._audio.size, "frames": len(self._tail_s), "levels": len(self._levels),
                "segments": len(self._segments), "partial_bytes": len(self._partial)}

    def _mono(self, chunk) -> np.ndarray:
        """A chunk as mono float32 at the input rate, checked finite; consumes the bytes it uses."""
        partial = self._partial
        if isinstance(chunk, (bytes, bytearray, memoryview)):
            dtype, scale = PCM_FORMATS[self.pcm_format]
            data = partial + bytes(chunk)
            width = np.dtype(dtype).itemsize * self.channels
            usable = len(data) // width * width
            array = np.frombuffer(data[:usable], dtype=dtype).reshape(-1, self.channels)
            partial = data[usable:]
        else:
            if partial:  # the array's samples would land before those bytes' sample, which has yet to be completed
                raise AudioError(f"the bytes fed so far end {len(partial)} byte(s) into a sample frame: feed the rest "
                                 "of that frame's bytes before an array, or feed one kind of chunk")
            array = np.asarray(chunk)
            scale = 2.0 ** (8 * array.dtype.itemsize - 1) if array.dtype.kind == "i" else None
            if array.dtype.kind not in "if":
                raise AudioError(f"audio chunk of dtype {array.dtype}: pass float or signed integer samples, or bytes")
            if array.ndim == 1 and array.size % self.channels:
                raise AudioError(f"a 1-D chunk of {array.size} values is not whole frames of {self.channels} "
                                 "interleaved channels")
            if array.ndim == 2 and array.shape[1] != self.channels:
                raise AudioError(f"a chunk of shape {array.shape}: this stream takes (samples, {self.channels}); "
                                 f"make it with channels={array.shape[1]}")
            if array.ndim not in (1, 2):
                raise AudioError(f"expected a 1-D chunk or (samples, channels), got shape {array.shape}")
            array = array.reshape(-1, self.channels)
        wave = array.astype(np.float64 if scale else np.float32)
        if scale:
            wave = wave / scale
        wave = (wave[:, 0] if self.channels == 1 else wave.mean(axis=1)).astype(np.float32)
        if not np.isfinite(wave).all():
            at = (self._input + int(np.argmin(np.isfinite(wave)))) / self.sampling_rate
            raise AudioError(f"audio at {at:.3f} s: NaN or infinite samples; the chunk was refused, fix the source")
        self._partial = partial
        return wave

    def _push(self, wave: np.ndarray) -> list[StreamOutput]:
        """Append 16 kHz samples hop by hop, scoring each hop as it fills."""
        outputs, pos = [], 0
        while pos < wave.size:
            take = min(wave.size - pos, self._next_end - self._received)
            at = self._received - self._audio_start
            self._audio[at : at + take] = wave[pos : pos + take]
            self._received += take
            pos += take
            if self._received == self._next_end:
                outputs += self._hop(self._next_end)
                self._next_end += self._hop_n
        return outputs

    def _hop(self, end: int) -> list[StreamOutput]:
        upto = end - self._lookahead_n
        outputs = []
        if upto > self._emitted:
            start = self._emitted
            p, s = self._score(max(0, end - self._context_n), upto, final=False)
            outputs.append(self._output(start, upto, p, s, final=False))
        keep = max(0, end - self._context_n)  # the next window, and the last one at the end, start after this
        if keep > self._audio_start:
            shift = keep - self._audio_start
            used = self._received - self._audio_start
            self._audio[: used - shift] = self._audio[shift:used]
            self._audio_start = keep
        return outputs

    # ---- scoring

    def _score(self, begin: int, upto: int, final: bool):
        """Score the window [begin, end of the audio kept] (at most `context` s) and return the output frames from
        the emitted point to `upto` (to the window's last frame when final): probabilities (NaN where no speech),
        speech."""
        window = self._audio[begin - self._audio_start : (self._received if final else upto + self._lookahead_n)
                             - self._audio_start]
        logits, mask = self._frames([window], self.logit_adjustment, clip_weight=self.clip_weight)
        n = int(np.asarray(mask[0]).sum())
        first = (self._emitted - begin) // ENCODER_FRAME
        last = n if final else (upto - begin) // ENCODER_FRAME
        probs = scores(logits[0, first:last], self.emotion_loss).astype(np.float64)
        energy = frame_energy(window, n)[first:last]
        whole = len(probs) // self.step * self.step
        rows = [probs[:whole].reshape(-1, self.step, len(self.labels)).mean(1)]
        levels = [energy[:whole].reshape(-1, self.step).max(1)]
        if len(probs) > whole:  # the stream ends inside an output frame, as a file may
            rows.append(probs[whole:].mean(0, keepdims=True))
            levels.append(energy[whole:].max(keepdims=True))
        p, level = np.concatenate(rows), np.concatenate(levels)
        self._levels.extend(level.tolist())
        speech = speech_frames(level, loud_level(np.fromiter(self._levels, float), self.frame_rate, self.silence_db),
                               self.silence_db)
        p[~speech] = np.nan
        self._emitted = self._received if final else upto
        return p, speech

    def _output(self, start: int, end: int, p: np.ndarray, speech: np.ndarray, final: bool) -> StreamOutput:
        self._tail_p = np.concatenate([self._tail_p, p])
        self._tail_s = np.concatenate([self._tail_s, speech])
        events = self._commit(final)
        label = values = None
        if speech.any():
            mean = p[speech].mean(0)
            label, values = self.labels[int(mean.argmax())], {n: float(v) for n, v in zip(self.labels, mean)}
        return StreamOutput(start / SAMPLING_RATE, end / SAMPLING_RATE, self._received / SAMPLING_RATE,
                            self.frame_rate, self.labels, p, speech, label, values, events)

    # ---- segments

    def _segment(self, state, end: int) -> Segment:
        k, start, heard_sum, heard, total, count = state
        confidence = heard_sum / heard if heard else total / max(count, 1)
        return Segment(round(start / self.frame_rate, 3), round(end / self.frame_rate, 3), self.labels[k],
                       round(float(confidence), 4))

    def _commit(self, final: bool) -> list[SegmentEvent]:
        """Commit the segment rule's labels up to the settle horizon (all of them at the end) and return the events
        they make."""
        n = self._tail0 + len(self._tail_s)
        horizon = n if final else n - self._settle_frames
        events = []
        if horizon > self._committed:
            found = segments_from_frames(self._tail_p, self._tail_s, self.frame_rate, self.labels, self.smoothing,
                                         self.min_segment)
            label = np.full(len(self._tail_s), -1)
            for segment in found:
                a, b = (int(round(t * self.frame_rate)) for t in (segment.start, segment.end))
                label[a:b] = self.labels.index(segment.emotion)
            smoothed = smooth_frames(self._tail_p, self._tail_s, self.frame_rate, self.smoothing)
            for i in range(self._committed, horizon):
                row = i - self._tail0
                k = int(label[row])
                current = self._open[0] if self._open is not None else -1
                if k != current:
                    closed = self._segment(self._open, i) if self._open is not None else None
                    if closed is not None:
                        self._segments.append(closed)
                    kind = "opened" if closed is None else "changed" if k >= 0 else "closed"
                    events.append(SegmentEvent(kind, round(i / self.frame_rate, 3),
                                               self.labels[k] if k >= 0 else None, closed))
                    self._open = [k, i, 0.0, 0, 0.0, 0] if k >= 0 else None
                if self._open is not None:
                    value = smoothed[row, k]
                    self._open[4] += value
                    self._open[5] += 1
                    if self._tail_s[row]:
                        self._open[2] += value
                        self._open[3] += 1
            self._committed = horizon
        if final and self._open is not None:
            closed = self._segment(self._open, n)
            self._segments.append(closed)
            events.append(SegmentEvent("closed", closed.end, None, closed))
            self._open = None
        # Keep what the segment rule needs to decide the next labels as the timeline would: frames well before them.
        left = self._memory_frames - self._settle_frames - int(round((self.hop + self.lookahead) * self.frame_rate))
        drop = max(0, self._committed - left) - self._tail0
        if drop > 0:
            self._tail_p, self._tail_s, self._tail0 = self._tail_p[drop:], self._tail_s[drop:], self._tail0 + drop
        return events

"""Audio in: any file soundfile reads, or an array at any rate, to mono float32 at 16 kHz.

Self-contained (numpy, soundfile, soxr) because the saved pipeline imports it next to the model code.
Every failure says which input failed and what to do, instead of surfacing from inside a decoder.
"""

import io
import os
import stat

import numpy as np
import soundfile as sf
import soxr

SAMPLING_RATE = 16000
# The shortest audio anything here scores: one Whisper analysis window (n_fft = 400 samples, 25 ms at 16 kHz).
# Shorter input has no spectral frame of its own (the STFT's reflect padding needs more than n_fft / 2 samples, and
# padding it with silence would score mostly silence); no emotion is heard in less. Too-short audio is refused with
# AudioError, never padded, identically by the pipeline, predict, timeline, adapt, evaluation and the data build.
MIN_SAMPLES = 400
MIN_SECONDS = MIN_SAMPLES / SAMPLING_RATE
WINDOW_SECONDS = 30  # the encoder's context: longer audio is scored as windows (split_windows)
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".aif", ".aiff", ".aifc", ".au", ".snd"}
# The sampling rates of real recordings. A header outside them is damaged or forged: at 1 Hz, a 32 KB WAV claims
# hours of audio, and resampling it to 16 kHz would take gigabytes before anything is scored.
MIN_RATE, MAX_RATE = 1000, 384000
# Decoding a whole file (read_region, load_audio) holds its samples at their own rate and at 16 kHz at once: at most
# an hour, from at most an hour of 48 kHz stereo (1.4 GB as float32). Longer recordings are read in windows instead
# (stream_audio): `emotion-whisper predict` and `timeline` score any length at flat memory.
MAX_DECODE_SECONDS = 3600
MAX_DECODE_SAMPLES = MAX_DECODE_SECONDS * 48000 * 2


class AudioError(ValueError):
    """Raised for audio that cannot be used; the message names the input and the remedy."""


def to_mono(array, name: str = "audio") -> np.ndarray:
    """(samples,), (samples, channels) or (channels, samples) -> float32 (samples,), averaging channels."""
    array = np.asarray(array)
    if array.dtype.kind in "iu":  # integer PCM to [-1, 1) as soundfile reads it: full scale is 2^(bits - 1)
        full = float(2 ** (8 * array.dtype.itemsize - 1))
        offset = full if array.dtype.kind == "u" else 0.0  # unsigned PCM (8-bit WAV) is centred on its midpoint
        array = (array.astype(np.float64) - offset) / full
    array = array.astype(np.float32, copy=False)
    if array.size == 0:  # e.g. a header without samples: (0, channels)
        return np.zeros(0, dtype=np.float32)
    if array.ndim == 2:
        channel_axis = 0 if array.shape[0] < array.shape[1] else 1
        if array.shape[channel_axis] > 16:
            raise AudioError(f"{name}: a 2-D array of shape {array.shape} does not look like (samples, channels)")
        array = array.mean(axis=channel_axis)
    elif array.ndim != 1:
        raise AudioError(f"{name}: expected a 1-D waveform or (samples, channels), got shape {array.shape}")
    return array


def check_rate(rate, name: str = "audio"):
    """Refuse a sampling rate outside MIN_RATE..MAX_RATE (see there), before anything is decoded or resampled."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{name}: a sampling rate of {rate:g} Hz is outside the {MIN_RATE}-{MAX_RATE} Hz of real "
                         "recordings (a damaged or forged header); re-export it, e.g. `ffmpeg -i IN -ar 16000 OUT.wav`")
    return rate


def resample(array: np.ndarray, orig_sr: int, target_sr: int = SAMPLING_RATE) -> np.ndarray:
    if orig_sr <= 0:
        raise AudioError(f"invalid sampling rate {orig_sr}")
    if orig_sr == target_sr or array.size == 0:
        return array.astype(np.float32, copy=False)
    return soxr.resample(array, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def long_enough(n: int, rate: int = SAMPLING_RATE) -> bool:
    """Whether n samples at `rate` reach MIN_SECONDS (see there)."""
    return n * SAMPLING_RATE >= MIN_SAMPLES * rate


def check_length(samples, name: str = "audio", rate: int = SAMPLING_RATE):
    """Refuse audio shorter than MIN_SECONDS (see there) with a message that names it. `samples`: the waveform, or
    its length in samples at `rate` (e.g. from a file header)."""
    n = samples if isinstance(samples, (int, np.integer)) else samples.size
    if not long_enough(n, rate):
        raise AudioError(f"{name}: {1000 * n / rate:.1f} ms of audio; at least {1000 * MIN_SECONDS:.0f} ms "
                         "(one analysis window) is needed. Drop it or pass a longer excerpt.")
    return samples


def prepare_waveform(array, sampling_rate: int, name: str = "audio", target_sr: int = SAMPLING_RATE) -> np.ndarray:
    """Mono, finite, float32 at `target_sr`, at least MIN_SECONDS long. Raises AudioError on NaN/inf, which would
    poison every frame, and on audio too short to score."""
    mono = to_mono(array, name)
    if mono.size and not np.isfinite(mono).all():
        raise AudioError(f"{name}: the waveform contains NaN or infinite samples; fix or drop the file")
    if int(sampling_rate) <= 0:
        raise AudioError(f"{name}: invalid sampling rate {sampling_rate}")
    check_rate(int(sampling_rate), name)
    if mono.size == 0:
        raise AudioError(f"{name}: no samples (an empty file or a header without audio)")
    check_length(mono, name, int(sampling_rate))
    return resample(mono, int(sampling_rate), target_sr)


def split_windows(wave: np.ndarray, rate: int = SAMPLING_RATE, window: float = WINDOW_SECONDS) -> list[np.ndarray]:
    """Consecutive `window`-second pieces of a clip; a last piece shorter than MIN_SAMPLES joins no window of its
    own (it is dropped: a few ms at the end of a long clip). The one windowing rule of every clip scorer."""
    step = int(window * rate)
    pieces = [wave[i : i + step] for i in range(0, wave.size, step)]
    return [p for p in pieces if long_enough(p.size, rate)] or pieces[:1]


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _open(source, name):
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            mode = os.stat(source).st_mode
        except FileNotFoundError:
            if os.path.islink(source):
                target = os.readlink(source)
                raise AudioError(f"{name}: a broken symbolic link (to {target}); fix or remove it") from None
            raise AudioError(f"{name}: no such file") from None
        except PermissionError:
            raise AudioError(f"{name}: permission denied (a folder on its path cannot be searched)") from None
        except OSError as err:  # e.g. a symbolic link loop
            raise AudioError(f"{name}: cannot be opened ({err.strerror})") from None
        if stat.S_ISDIR(mode):
            raise AudioError(f"{name}: is a folder, not an audio file")
        if not stat.S_ISREG(mode):
            # opening a FIFO blocks until something writes to it, and a device never ends: never opened
            kind = next((kind for test, kind in _KINDS if test(mode)), "not a regular file")
            raise AudioError(f"{name}: is {kind}, not an audio file; skipped without opening it")
        if not os.access(source, os.R_OK):
            raise AudioError(f"{name}: permission denied; make it readable (chmod a+r) or skip it")
    return source


def _cannot_decode(name: str, err: Exception) -> AudioError:
    return AudioError(f"{name}: cannot decode ({str(err).strip()}): damaged, or not audio that soundfile reads; "
                      "re-export or convert it, e.g. `ffmpeg -i IN -ar 16000 OUT.wav`")


def read_region(source, offset: float = 0.0, duration: float | None = None, dtype: str = "float32"):
    """Decode `duration` seconds from `offset` (all of it by default): (samples (n, channels), rate).
    Whatever libsndfile reads (WAV, FLAC, OGG, MP3, AIFF...), whatever the extension says."""
    name = str(source) if isinstance(source, (str, os.PathLike)) else "audio bytes"
    try:
        with sf.SoundFile(_open(source, name)) as handle:
            rate = check_rate(handle.samplerate, name)
            start = int(round(offset * rate)) if offset else 0
            frames = -1 if duration is None else int(round(duration * rate))
            wanted = max(0, handle.frames - start) if frames < 0 else min(frames, max(0, handle.frames - start))
            if wanted > MAX_DECODE_SECONDS * rate or wanted * handle.channels > MAX_DECODE_SAMPLES:
                raise AudioError(
                    f"{name}: {wanted / rate:.0f} s of {handle.channels}-channel audio at {rate} Hz is more than is "
                    f"decoded at once (up to {MAX_DECODE_SECONDS} s, {MAX_DECODE_SAMPLES // 10**6} million samples); "
                    "score it with `emotion-whisper predict` or `timeline`, which read long recordings in 30 s "
                    "windows, or pass an excerpt (offset, duration)")
            if start:
                handle.seek(start)
            return handle.read(frames, dtype=dtype, always_2d=True), rate
    except AudioError:
        raise
    except Exception as err:  # libsndfile's errors name neither the file nor a remedy
        raise _cannot_decode(name, err) from None


def load_audio(source, target_sr: int = SAMPLING_RATE, offset: float = 0.0, duration: float | None = None):
    """A path, bytes or file object -> mono float32 at `target_sr` (optionally only a region, in seconds)."""
    data, rate = read_region(source, offset, duration)
    name = str(source) if isinstance(source, (str, os.PathLike)) else "audio bytes"
    return prepare_waveform(data, rate, name, target_sr)


def audio_info(path) -> tuple[int, int]:
    """(frames, sampling_rate) from the header, without decoding."""
    try:
        info = sf.info(_open(path, str(path)))
    except AudioError:
        raise
    except Exception as err:
        raise _cannot_decode(str(path), err) from None
    return info.frames, check_rate(info.samplerate, str(path))


def stream_audio(path, block_seconds: float, target_sr: int = SAMPLING_RATE):
    """Yield mono float32 blocks at `target_sr` of about `block_seconds` each, decoding the file block by block, so
    memory does not grow with the recording."""
    frames, sr = audio_info(path)
    resampler = soxr.ResampleStream(sr, target_sr, 1, dtype="float32", quality="HQ") if sr != target_sr else None
    blocksize = max(1, int(block_seconds * sr))
    try:
        blocks = sf.blocks(str(path), blocksize=blocksize, dtype="float32", always_2d=True)
        for i, block in enumerate(blocks):
            mono = block.mean(axis=1)
            if not np.isfinite(mono).all():
                raise AudioError(f"{path}: NaN or infinite samples in block {i}; fix or drop the file")
            last = (i + 1) * blocksize >= frames
            yield resampler.resample_chunk(mono, last=last) if resampler is not None else mono
    except AudioError:
        raise
    except Exception as err:
        raise _cannot_decode(f"{path}", err) from None  # part way: refused, not half-scored

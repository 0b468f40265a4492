"""The bad-input matrix: files a user may hand us, from broken to unusual, and what every entry point must answer.

`make(root)` writes them and returns {name: path}; EXPECTED says, per input, None (a valid answer) or the words the
one-line error must contain (besides the file's name).
"""

import numpy as np
import soundfile as sf

from conftest import synth_speech

EXPECTED = {
    "zero_byte.wav": "cannot decode",
    "header_only.wav": "no samples",
    "10ms.wav": "at least 25 ms",
    "12_5ms.wav": "at least 25 ms",
    "25ms.wav": None,
    "silence.wav": None,
    "nan.wav": "NaN",
    "random_bytes.wav": "cannot decode",
    "truncated.flac": "cannot decode",  # refused, not half-scored: the rest of the recording is missing
    "text.wav": "cannot decode",
    "aiff_named.wav": None,
    "stereo_44k.wav": None,
    "8k.wav": None,
    "96k.wav": None,
    "minutes.flac": None,
}


def make(root) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    paths = {name: root / name for name in EXPECTED}
    paths["zero_byte.wav"].write_bytes(b"")
    sf.write(paths["header_only.wav"], np.zeros(0, dtype=np.float32), 16000)
    for name, samples in (("10ms.wav", 160), ("12_5ms.wav", 200), ("25ms.wav", 400)):
        sf.write(paths[name], synth_speech(1.0)[:samples], 16000)
    sf.write(paths["silence.wav"], np.zeros(16000, dtype=np.float32), 16000)
    nan = synth_speech(1.0)
    nan[100:200] = np.nan
    sf.write(paths["nan.wav"], nan, 16000, subtype="FLOAT")
    paths["random_bytes.wav"].write_bytes(np.random.default_rng(0).bytes(20000))
    sf.write(root / "whole.flac", synth_speech(4.0, seed=1), 16000)
    whole = (root / "whole.flac").read_bytes()
    paths["truncated.flac"].write_bytes(whole[: len(whole) // 2])
    (root / "whole.flac").unlink()
    paths["text.wav"].write_text("this is not audio\n" * 50)
    sf.write(paths["aiff_named.wav"], synth_speech(1.5, seed=2), 16000, format="AIFF")
    stereo = synth_speech(2.0, sr=44100, seed=3)
    sf.write(paths["stereo_44k.wav"], np.stack([stereo, 0.5 * stereo], axis=1), 44100)
    sf.write(paths["8k.wav"], synth_speech(2.0, sr=8000, seed=4), 8000)
    sf.write(paths["96k.wav"], synth_speech(1.0, sr=96000, seed=5), 96000)
    minutes = np.concatenate([synth_speech(20.0, seed=s, f0=140 + 30 * s) for s in range(9)])  # 3 minutes
    sf.write(paths["minutes.flac"], minutes, 16000)
    return paths

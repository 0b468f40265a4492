"""Small trees shaped like each corpus's official distribution, with generated audio.

Each builder writes files under `root` and returns {relative path (no extension): (speaker, {label: score})},
what the corpus parser must find.
"""

import zlib

import numpy as np
import soundfile as sf

from conftest import synth_speech

F0 = {"anger": 300.0, "happiness": 260.0, "surprise": 280.0, "fear": 240.0, "sadness": 120.0, "disgust": 150.0,
      "neutral": 180.0, "other": 200.0}


def write(root, relpath, seconds=0.6, sr=16000, f0=180.0, seed=0, fmt=None, ext=".wav"):
    path = root / (relpath + ext)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, synth_speech(seconds, sr, f0, seed), sr, format=fmt)
    return path


def ravdess(root):
    expected = {}
    for actor in ("01", "02"):
        for emotion, label in (("01", "neutral"), ("05", "angry"), ("02", "calm")):
            for intensity in ("01", "02"):
                if emotion == "01" and intensity == "02":
                    continue
                name = f"Actor_{actor}/03-01-{emotion}-{intensity}-01-01-{actor}"
                write(root, name, seed=zlib.crc32(name.encode()) % 1000)
                score = 1.0 if emotion == "01" else (0.5 if intensity == "01" else 1.0)
                expected[name] = (f"actor{actor}", {label: score})
    write(root, "Actor_01/03-02-05-01-01-01-01")  # song: not part of the speech corpus
    return expected


def tess(root):
    expected = {}
    for folder, speaker, word, emotion, label in (
        ("OAF_Fear", "OAF", "back", "fear", "fear"), ("YAF_pleasant_surprised", "YAF", "bath", "ps", "pleasant surprise"),
        ("OAF_neutral", "OA", "bite", "neutral", "neutral"), ("YAF_sad", "YAF", "base", "sad", "sad"),
    ):
        name = f"{folder}/{speaker}_{word}_{emotion}"
        write(root, name, sr=24414)
        expected[name] = (folder[:3], {label: 1.0})
    # one AIFF file named .wav, and one at 96 kHz, as in the published corpus
    write(root, "OAF_angry/OAF_back_angry", fmt="AIFF")
    expected["OAF_angry/OAF_back_angry"] = ("OAF", {"angry": 1.0})
    write(root, "YAF_happy/YAF_back_happy", sr=96000)
    expected["YAF_happy/YAF_back_happy"] = ("YAF", {"happy": 1.0})
    return expected


def savee(root, flat=False, per_code=1):
    expected = {}
    codes = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral", "sa": "sadness",
             "su": "surprise"}
    for speaker in ("DC", "JE", "JK", "KL"):
        for code, label in codes.items():
            for n in range(1, per_code + 1):
                name = f"{speaker}_{code}{n:02d}" if flat else f"AudioData/{speaker}/{code}{n:02d}"
                rng_seed = zlib.crc32(name.encode()) % 1000
                write(root, name, f0=F0[label] * (1 + 0.05 * (n % 3)), seed=rng_seed, sr=44100)
                expected[name] = (speaker, {label: 1.0})
    return expected


def turevdb(root):
    expected = {}
    for emotion in ("Angry", "Calm", "Happy", "Sad"):
        for speaker, code, word in (("1157", "kz", "acik"), ("2011", "er", "bugu")):
            if speaker == "1157" and emotion in ("Calm", "Happy"):
                continue
            name = f"Sound Source/{emotion}/{speaker}_{code}_{word}"
            write(root, name, sr=44100)
            expected[name] = (speaker, {emotion.lower(): 1.0})
    return expected


BUILDERS = {"ravdess": ravdess, "tess": tess, "savee": savee, "turevdb": turevdb}


def silence(root, relpath, sr=16000):
    path = root / (relpath + ".wav")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(sr // 2, dtype=np.float32), sr)
    return path

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


def write(root, relpath, seconds=0.6, sr=16000, f0=180.0, seed=0, fmt=None, ext=".wav", subtype=None):
    path = root / (relpath + ext)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, synth_speech(seconds, sr, f0, seed), sr, format=fmt, subtype=subtype)
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


def coded(names_and_labels):
    """A builder for file-name-coded corpora: [(relative name, speaker, {label: score}), ...]."""
    def build(root):
        expected = {}
        for i, (name, speaker, labels) in enumerate(names_and_labels):
            write(root, name, seed=i)
            expected[name] = (speaker, labels)
        write(root, "README_not_audio_but_named_wav")  # a stray file matching no pattern is ignored
        return expected
    return build


def iemocap(root):
    expected = {}
    text = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    votes = {"Ses01F_impro01_F000": (["Neutral state;"], ["Neutral state;"], ["Frustration; Anger;"]),
             "Ses01F_impro01_M001": (["Anger;"], ["Anger;"], ["Anger;"])}
    for name, raters in votes.items():
        write(root, f"Session1/sentences/wav/Ses01F_impro01/{name}")
        text.append(f"[6.2901 - 8.2357]\t{name}\tneu\t[2.5000, 2.5000, 2.5000]")
        for i, labels in enumerate(raters):
            text.append(f"C-E{i + 1}:\t{' '.join(labels)}\t()")
        text += ["C-F1:\tAnger;\t()", "A-E1:\tval 3; act 2; dom  2;\t()", ""]
    path = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))
    expected["Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000"] = (
        "Ses01F", {"anger": 1 / 6, "frustration": 1 / 6, "neutral state": 2 / 3})
    expected["Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M001"] = ("Ses01M", {"anger": 1.0})
    return expected


def msppodcast(root):
    import json

    (root / "Labels").mkdir(parents=True)
    (root / "Labels/labels_consensus.csv").write_text(
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
        "MSP-PODCAST_0001_0008.wav,N,3.4,4.2,3.8,127,Female,Train\n"
        "MSP-PODCAST_0002_0001.wav,A,5.0,2.0,5.0,59,Male,Development\n"
        "MSP-PODCAST_0003_0001.wav,X,4.0,4.0,4.0,59,Male,Train\n")
    (root / "Labels/labels_detailed.json").write_text(json.dumps({
        "MSP-PODCAST_0001_0008.wav": {"w1": {"EmoClass_Major": "Neutral"}, "w2": {"EmoClass_Major": "Neutral"},
                                      "w3": {"EmoClass_Major": "Contempt"}, "w4": {"EmoClass_Major": "Happy"}}}))
    for name in ("MSP-PODCAST_0001_0008", "MSP-PODCAST_0002_0001", "MSP-PODCAST_0003_0001"):
        write(root, f"Audios/{name}")
    return {"Audios/MSP-PODCAST_0001_0008": ("spk127", {"neutral": 0.5, "contempt": 0.25, "happiness": 0.25}),
            "Audios/MSP-PODCAST_0002_0001": ("spk59", {"anger": 1.0})}


def mspimprov(root):
    names = ["MSP-IMPROV-S01A-F01-P-FM01", "MSP-IMPROV-S02H-M01-R-FM01"]
    for name in names:
        write(root, f"session1/{name[11:15]}/{name[20]}/{name}")
    (root / "Evaluation.txt").write_text(
        "UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:4.0; V:2.0; D:4.0 ; N:3.0;\n"
        "rater1; Angry; Other emotions\nrater2; Angry;\nrater3; Neutral;\n\n")
    return {f"session1/S01A/P/{names[0]}": ("F01", {"anger": 2 / 3, "neutral": 1 / 3}),
            f"session1/S02H/R/{names[1]}": ("M01", {"happiness": 1.0})}


def cmumosei(root):
    import h5py

    write(root, "Raw/Audio/Full/WAV_16000/vid1", seconds=4.0)
    text = root / "Raw/Transcript/Segmented/Combined/vid1.txt"
    text.parent.mkdir(parents=True)
    text.write_text("vid1___0___0.5___1.5___hello there\nvid1___1___2.0___3.5___no label for me\n"
                    "vid1___2___2.5___3.0___calm\n")
    with h5py.File(root / "CMU_MOSEI_Labels.csd", "w") as csd:
        group = csd.create_group("All Labels/data/vid1")
        group["intervals"] = np.array([[0.5, 1.5], [2.5, 3.0]])
        group["features"] = np.array([[1.0, 3.0, 0, 1.5, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    return {"Raw/Audio/Full/WAV_16000/vid1@0.500+1.000": ("vid1", {"happy": 1.0, "anger": 0.5}),
            "Raw/Audio/Full/WAV_16000/vid1@2.500+0.500": ("vid1", {"neutral": 1.0})}


def meld(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "train_sent_emo.csv").write_text(
        "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID\n"
        "1,Oh my God!,Ross,surprise,positive,0,0\n2,Fine.,Monica,neutral,neutral,0,1\n"
        "3,Missing clip.,Joey,anger,negative,0,2\n")
    (root / "dev_sent_emo.csv").write_text(
        "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID\n1,Ugh.,Rachel,disgust,negative,0,0\n")
    write(root, "train_splits/dia0_utt0")
    write(root, "train_splits/dia0_utt1")
    write(root, "dev_splits_complete/dia0_utt0")
    return {"train_splits/dia0_utt0": ("Ross", {"surprise": 1.0}), "train_splits/dia0_utt1": ("Monica", {"neutral": 1.0}),
            "dev_splits_complete/dia0_utt0": ("Rachel", {"disgust": 1.0})}


def studies(root):
    write(root, "ITA/Emotion100-Angry/Teacher/wav/ITA_001")
    write(root, "Short_dialogue/SD01/FStudent/wav/SD01-Dialogue-01-FStudent-Turn-01")
    text = root / "Short_dialogue/SD01/txt/SD01-Dialogue-01.txt"
    text.parent.mkdir(parents=True)
    text.write_text("SD01-Dialogue-01-FStudent-Turn-01|女子生徒|喜び|こんにちは\n")
    return {"ITA/Emotion100-Angry/Teacher/wav/ITA_001": ("Teacher", {"angry": 1.0}),
            "Short_dialogue/SD01/FStudent/wav/SD01-Dialogue-01-FStudent-Turn-01": ("FStudent", {"happy": 1.0})}


def nemo(root):
    """data.tsv (speaker_id left-padded as published, file_id naming the original .wav) beside Opus samples."""
    rows = [("EB0_anger_1", "anger", "EB0", "female"), ("WR0_surprised_64", "surprised", "WR0", "male"),
            ("KS0_neutral_3", "neutral", "KS0", "male")]
    lines = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    expected = {}
    for i, (stem, emotion, speaker, gender) in enumerate(rows):
        if i:  # as shared here: Ogg Opus under the original stem; a user's copy is the original WAV
            write(root, f"samples/{stem}", seed=i, fmt="OGG", subtype="OPUS", ext=".opus")
        else:
            write(root, f"samples/{stem}", seed=i, sr=24000)
        lines.append(f"{stem}.wav\t{emotion}\tLubię czytać.\tlubię czytać\t        {speaker}\t{gender}\t23")
        expected[f"samples/{stem}"] = (speaker, {emotion: 1.0})
    (root / "data.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return expected


def ased(root):
    expected = {}
    for i, (folder, code, label) in enumerate((("01Neutral", "n1", "neutral"), ("02Fearful", "f2", "fearful"),
                                               ("03Happy", "h3", "happy"), ("04Sad", "s4", "sad"),
                                               ("05Angry", "a5", "angry"))):
        speaker, gender = f"{i * 13 + 1:02d}", "01" if i % 2 else "02"
        name = f"{folder}/{code}-0{i + 1}-01-{gender}-{speaker}"
        write(root, name, seed=i, f0=F0[{"fearful": "fear", "happy": "happiness", "sad": "sadness",
                                          "angry": "anger"}.get(label, label)])
        expected[name] = (speaker, {label: 1.0})
    return expected


BUILDERS = {
    "ravdess": ravdess, "tess": tess, "savee": savee, "turevdb": turevdb, "nemo": nemo, "ased": ased, "iemocap": iemocap,
    "msppodcast": msppodcast, "mspimprov": mspimprov, "cmumosei": cmumosei, "meld": meld, "studies": studies,
    "cremad": coded([("AudioWAV/1001_DFA_ANG_XX", "1001", {"anger": 1.0}),
                     ("AudioWAV/1002_IEO_HAP_LO", "1002", {"happiness": 0.5})]),
    "emovdb": coded([("bea/Amused/amused_1-15_0001", "bea", {"amused": 1.0}),
                     ("sam_Sleepy/sleepy_1-28_0002", "sam", {"sleepy": 1.0})]),
    "jlcorpus": coded([("JL(wav+txt)/female1_angry_1a_1", "female1", {"angry": 1.0}),
                       ("JL(wav+txt)/male2_apologetic_12b_2", "male2", {"apologetic": 1.0})]),
    "vesus": coded([("Audio/Actor_01/Happy/001", "Actor_01", {"happy": 1.0}),
                    ("Audio/Actor_02/Fearful/007", "Actor_02", {"fearful": 1.0})]),
    "esd": coded([("0001/Angry/train/0001_000351", "0001", {"angry": 1.0}),
                  ("0015/Surprise/test/0015_001701", "0015", {"surprise": 1.0})]),
    "asvpesd": coded([("Audio/actor_01/03-01-05-01-02-01-16-01-01", "actor01", {"angry": 0.5}),
                      ("Audio/actor_02/03-02-12-02-01-01-22-02-03", "actor02", {"disappointment": 1.0})]),
    "ogvc": coded([("Acted/wav/F1/S01/FOY0101ANG2", "F1", {"anger": 2 / 3}),
                   ("Acted/wav/M2/S02/MOY0203JOY0", "M2", {"neutral": 1.0})]),
    "emodb": coded([("wav/03a01Fa", "03", {"happiness": 1.0}), ("wav/16b10Lb", "16", {"boredom": 1.0})]),
    "aesdd": coded([("anger/a01 (1)", "speaker1", {"anger": 1.0}), ("sadness/s20 (6)b", "speaker6", {"sadness": 1.0})]),
    "urdu": coded([("Angry/SM1_F1_A01", "SM1", {"anger": 1.0}), ("Sad/SF9_F3_S09", "SF9", {"sadness": 1.0})]),
    "masc": coded([("wav/015/elation/001", "015", {"joy": 1.0}), ("wav/068/panic/020", "068", {"fear": 1.0})]),
    "mesd": coded([("Anger_C_A_abajo", "C", {"anger": 1.0}), ("Sadness_F_B_zapato", "F", {"sadness": 1.0})]),
    "cafe": coded([("Colère/Faible/01-C-1-1", "01", {"anger": 0.5}), ("Neutre/12-N-6", "12", {"neutral": 1.0})]),
    "emovo": coded([("f1/dis-f1-b1", "f1", {"disgust": 1.0}), ("m3/tri-m3-n5", "m3", {"sadness": 1.0})]),
    "shemo": coded([("female/F01A01", "F01", {"anger": 1.0}), ("male/M56W12", "M56", {"surprise": 1.0})]),
    "subesco": coded([("F_01_OISHI_S_1_ANGRY_1", "F01", {"angry": 1.0}),
                      ("M_10_SADIK_S_10_SURPRISE_5", "M10", {"surprise": 1.0})]),
}


def silence(root, relpath, sr=16000):
    path = root / (relpath + ".wav")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(sr // 2, dtype=np.float32), sr)
    return path

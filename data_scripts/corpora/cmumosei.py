"""CMU-MOSEI (Zadeh et al. 2018), http://multicomp.cs.cmu.edu/resources/cmu-mosei-dataset/.

Expected tree (CMU-MultimodalSDK download): CMU_MOSEI_Labels.csd (HDF5), Raw/Audio/Full/WAV_16000/<video>.wav and
Raw/Transcript/Segmented/Combined/<video>.txt with lines `<video>___<clip>___<start>___<end>___<text>`.
Each utterance is a region of its video's WAV (no audio is cut or copied). Labels: the csd's
`All Labels/data/<video>/features` rows [sentiment, happy, sad, anger, surprise, disgust, fear] with
`intervals` [start, end]; emotion intensities 0-3 become scores /3 (soft labels; samples without any emotion
become neutral). Official count: 23259 labelled segments (paper 23258). Needs h5py.
"""


from .base import Corpus, CorpusError, Utterance, find_file

EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")


def items(root):
    try:
        import h5py
    except ImportError:
        raise CorpusError("cmumosei: reading CMU_MOSEI_Labels.csd needs h5py: pip install h5py") from None
    audio_dir = root / "Raw" / "Audio" / "Full" / "WAV_16000"
    transcripts = root / "Raw" / "Transcript" / "Segmented" / "Combined"
    if not audio_dir.is_dir() or not transcripts.is_dir():
        raise CorpusError(f"cmumosei: expected {audio_dir} and {transcripts}")
    labels = {}
    with h5py.File(find_file(root, "CMU_MOSEI_Labels.csd"), "r") as csd:
        data = csd["All Labels"]["data"]
        for video in data:
            for (start, end), row in zip(data[video]["intervals"][()], data[video]["features"][()]):
                labels[(video, round(float(start), 3), round(float(end), 3))] = [float(x) for x in row[1:7]]
    found = []
    for text in sorted(transcripts.glob("*.txt")):
        wav = audio_dir / f"{text.stem}.wav"
        if not wav.exists():
            continue
        for line in text.read_text(errors="replace").splitlines():
            fields = line.strip().split("___", 4)
            if len(fields) < 4:
                continue
            video, start, end = fields[0], float(fields[2]), float(fields[3])
            scores = labels.get((video, round(start, 3), round(end, 3)))
            if scores is None or end <= start:
                continue
            emotion = {name: value / 3 for name, value in zip(EMOTIONS, scores) if value > 0}
            found.append(Utterance(str(wav), video, emotion or {"neutral": 1.0},
                                   text=fields[4] if len(fields) > 4 else None, offset=start, duration=end - start))
    return found


CORPUS = Corpus(
    name="cmumosei", title="CMU-MOSEI", language="en", official_count=23259, license="CMU-MOSEI terms (research)",
    url="http://multicomp.cs.cmu.edu/resources/cmu-mosei-dataset/",
    layout="CMU-MOSEI/CMU_MOSEI_Labels.csd, Raw/Audio/Full/WAV_16000/<video>.wav, "
           "Raw/Transcript/Segmented/Combined/<video>.txt",
    items=items,
)

"""Neutral smoothing of vote-based corpora (issue 30.5): a clip's intensity is how far its raters agree.

Vote shares sum to 1 however the raters split, so the paper's summed score smooths only clips with votes for a label
weighted below 1 (MSP-Podcast: contempt). A clip's intensity there is the share of its top emotion instead.
"""

import json

import numpy as np
import pytest

from conftest import synth_speech
from modeling_emotion_whisper.labels import EMOTIONS, harmonize, neutral_smoothing, soft_labels

VOTES = {  # MSP-Podcast clip -> its four raters' EmoClass_Major
    "MSP-PODCAST_0001_0001": ["Angry", "Angry", "Angry", "Angry"],  # unanimous
    "MSP-PODCAST_0001_0002": ["Sad", "Sad", "Neutral", "Neutral"],  # split in two
    "MSP-PODCAST_0001_0003": ["Angry", "Angry", "Sad", "Happy"],  # a weak majority
    "MSP-PODCAST_0001_0004": ["Contempt", "Contempt", "Contempt", "Contempt"],  # unanimous, but contempt weighs 0.5
}


def test_agreement_is_the_top_share_and_equals_the_sum_for_one_label():
    from modeling_emotion_whisper.labels import intensity

    split = harmonize({"sad": 0.5, "neutral": 0.5})
    assert intensity(split) == pytest.approx(1.0) and intensity(split, "agreement") == pytest.approx(0.5)
    plain = harmonize({"contempt": 1.0})
    assert intensity(plain) == intensity(plain, "agreement") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="intensity measure"):
        intensity(split, "votes")
    # by hand: E_bar 0.75 and E_i 0.5 give alpha 1/3 under agreement; the summed score (1.0) leaves it alone
    assert np.array_equal(neutral_smoothing(split, 0.75), split)
    smoothed = neutral_smoothing(split, 0.75, measure="agreement")
    assert smoothed == pytest.approx(split * (2 / 3) + (1 - split) * (1 / 3) / 8)
    soft = soft_labels([harmonize({"angry": 1.0}), split], measure="agreement")  # E_bar = (1 + 0.5) / 2
    assert soft[0][EMOTIONS.index("anger")] == 1.0 and (soft[1] > 0).all()


def test_msp_podcast_build_smooths_the_clips_whose_raters_disagree(tmp_path):
    import soundfile as sf
    from datasets import concatenate_datasets, load_from_disk

    from data_scripts import build

    root = tmp_path / "msppodcast"
    (root / "Labels").mkdir(parents=True)
    (root / "Audios").mkdir()
    lines = ["FileName,EmoClass,SpkrID,Gender,Split_Set"]
    for i, name in enumerate(VOTES):
        sf.write(root / "Audios" / f"{name}.wav", synth_speech(1.0, seed=i), 16000)
        lines.append(f"{name}.wav,A,{i},Female,Train")
    (root / "Labels" / "labels_consensus.csv").write_text("\n".join(lines) + "\n")
    (root / "Labels" / "labels_detailed.json").write_text(json.dumps(
        {f"{name}.wav": {f"w{k}": {"EmoClass_Major": vote} for k, vote in enumerate(votes)}
         for name, votes in VOTES.items()}))
    build.main([f"--corpus=msppodcast={root}", "--out", str(tmp_path / "data"), "--split", "random",
                "--num_proc", "1"])
    data = load_from_disk(str(tmp_path / "data"))
    rows = concatenate_datasets([data[s] for s in data])
    soft = {path.split("/")[-1][:-4]: np.asarray(label) for path, label in zip(rows["path"], rows["soft_label"])}

    anger, sadness, neutral = (EMOTIONS.index(e) for e in ("anger", "sadness", "neutral"))
    # agreement 1, 0.5, 0.5, 0.5: E_bar = 0.625, so the three others get alpha = 0.125 / 0.625 = 0.2
    assert soft["MSP-PODCAST_0001_0001"][anger] == 1.0
    split = soft["MSP-PODCAST_0001_0002"]
    votes = harmonize({"sad": 0.5, "neutral": 0.5})
    expected = votes * 0.8 + (1 - votes) * 0.2 / 8
    assert split == pytest.approx(expected / expected.sum(), abs=1e-6)
    assert (split > 0).all() and split[sadness] == pytest.approx(split[neutral])
    weak = soft["MSP-PODCAST_0001_0003"]
    assert (weak > 0).all() and int(weak.argmax()) == anger and weak[anger] < 0.5
    contempt = soft["MSP-PODCAST_0001_0004"]
    assert (contempt > 0).all() and int(contempt.argmax()) == EMOTIONS.index("disgust")

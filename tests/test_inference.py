import json

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import WhisperFeatureExtractor

from conftest import synth_speech
from modeling_emotion_whisper import cli
from modeling_emotion_whisper.audio import AudioError
from modeling_emotion_whisper.inference import loud_level, predict_clips, segments_from_frames, timeline


@pytest.fixture
def extractor():
    return WhisperFeatureExtractor(feature_size=80)


def speech_with_pause(tmp_path, seconds_a=7.0, pause=3.0, seconds_b=20.0, rate=16000, channels=1):
    wave = np.concatenate([synth_speech(seconds_a, f0=120, seed=1), np.zeros(int(pause * 16000), np.float32),
                           synth_speech(seconds_b, f0=300, seed=2)])
    path = tmp_path / f"talk-{rate}-{channels}.wav"
    if rate != 16000:
        import soxr
        wave = soxr.resample(wave, 16000, rate).astype(np.float32)
    sf.write(path, np.stack([wave] * channels, 1) if channels > 1 else wave, rate)
    return path, wave


def test_short_file_timeline_equals_one_forward_pass(tiny_model, extractor, tmp_path):
    path, wave = speech_with_pause(tmp_path)
    result = timeline(tiny_model, extractor, path, output_rate=10.0, smoothing=0.0, min_segment=0.0)
    features = extractor(wave, sampling_rate=16000, padding="longest", return_tensors="pt")["input_features"]
    with torch.no_grad():
        probs = tiny_model(input_features=features).frame_logits[0].softmax(-1).numpy()
    n = len(result.speech)
    expected = probs[: n * 5].reshape(n, 5, -1).mean(1)
    speech = result.speech
    np.testing.assert_allclose(result.probabilities[speech], expected[speech], atol=1e-5)
    assert n == 300 and result.duration == pytest.approx(30.0)
    # the pause (7 to 10 s) is no speech and never part of a segment
    assert not result.speech[75:95].any() and result.speech[10:60].all()
    assert all(s.end <= 7.2 or s.start >= 9.8 for s in result.segments)


def test_long_file_streams_through_overlapping_windows(tiny_model, extractor, tmp_path):
    path, _ = speech_with_pause(tmp_path, seconds_a=40.0, pause=5.0, seconds_b=50.0, rate=44100, channels=2)
    a = timeline(tiny_model, extractor, path, batch_size=1)
    b = timeline(tiny_model, extractor, path, batch_size=3, stride=20.0)
    assert len(a.speech) == 950 and a.duration == pytest.approx(95.0, abs=0.01)
    np.testing.assert_allclose(np.nan_to_num(a.probabilities), np.nan_to_num(b.probabilities), atol=1e-5)
    probs = a.probabilities[a.speech]
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
    assert a.segments and a.segments[0].start == 0.0 and a.segments[-1].end == pytest.approx(95.0, abs=0.2)


def test_durations_that_end_inside_an_output_frame(tiny_model, extractor, tmp_path):
    path = tmp_path / "odd.wav"
    sf.write(path, synth_speech(12.37, sr=22050, seed=4), 22050)
    result = timeline(tiny_model, extractor, path, output_rate=10.0)
    assert len(result.speech) == 124 and result.segments[-1].end == pytest.approx(12.4, abs=0.05)
    assert np.allclose(np.nansum(result.probabilities, 1)[result.speech], 1, atol=1e-4)


def test_segments_by_hand():
    labels = ["a", "b"]
    probs = np.zeros((40, 2))
    probs[:8, 0] = probs[10:14, 0] = 1.0
    probs[8:10, 1] = 1.0  # a 0.2 s blip of b inside a: shorter than min_segment, so a absorbs it
    probs[16:24, 1] = probs[35:37, 1] = 1.0
    speech = np.ones(40, dtype=bool)
    speech[14:16] = False  # a 0.2 s pause: bridged, it belongs to the speech before it
    speech[24:35] = speech[37:] = False  # a 1.1 s pause, then a 0.2 s sound alone: no segment
    segments = segments_from_frames(probs, speech, frame_rate=10.0, labels=labels, smoothing=0.0, min_segment=0.3)
    assert [(s.start, s.end, s.emotion) for s in segments] == [(0.0, 1.6, "a"), (1.6, 2.4, "b")]
    assert segments[0].confidence == pytest.approx(12 / 14, abs=1e-4)  # over the heard frames, rounded
    keep_all = segments_from_frames(probs, speech, 10.0, labels, smoothing=0.0, min_segment=0.0)
    assert [(s.start, s.end, s.emotion) for s in keep_all] == [
        (0.0, 0.8, "a"), (0.8, 1.0, "b"), (1.0, 1.4, "a"), (1.6, 2.4, "b"), (3.5, 3.7, "b")]
    assert segments_from_frames(probs, np.zeros(40, dtype=bool), 10.0, labels) == []


def test_bad_input_gives_clear_errors_or_no_speech(tiny_model, extractor, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 5, np.float32), 16000)
    result = timeline(tiny_model, extractor, silent)
    assert result.segments == [] and result.to_dict()["message"] == "no speech"
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no samples"):
        timeline(tiny_model, extractor, empty)
    nan = tmp_path / "nan.wav"
    wave = synth_speech(2.0)
    wave[100] = np.nan
    sf.write(nan, wave, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        timeline(tiny_model, extractor, nan)
    with pytest.raises(AudioError, match="NaN"):
        predict_clips(tiny_model, extractor, [str(nan)])
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt " + bytes(40))
    with pytest.raises(AudioError, match="corrupt.wav"):
        timeline(tiny_model, extractor, corrupt)
    with pytest.raises(AudioError, match="no such file"):
        predict_clips(tiny_model, extractor, [str(tmp_path / "missing.wav")])


def test_predict_clips_matches_the_model_and_handles_long_audio(tiny_model, extractor):
    clips = [synth_speech(2.0, seed=1), synth_speech(3.5, f0=250, seed=2), synth_speech(65.0, seed=3)]
    results = predict_clips(tiny_model, extractor, clips, batch_size=2)
    features = extractor(clips[1], sampling_rate=16000, padding="longest", return_tensors="pt")["input_features"]
    with torch.no_grad():
        expected = tiny_model(input_features=features).logits[0].softmax(-1)
    got = torch.tensor([results[1]["scores"][tiny_model.config.id2label[i]] for i in range(8)])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert results[2]["duration"] == pytest.approx(65.0) and sum(results[2]["scores"].values()) == pytest.approx(1.0)


def test_cli_timeline_and_predict(tiny_model, tmp_path, capsys):
    model_dir = tmp_path / "model"
    tiny_model.save_pretrained(model_dir)
    path, _ = speech_with_pause(tmp_path)
    code = cli.main(["timeline", str(path), "--model", str(model_dir), "--json", str(tmp_path / "t.json"),
                     "--plot", str(tmp_path / "t.png")])
    assert code == 0
    out = json.loads((tmp_path / "t.json").read_text())
    assert out["segments"] and len(out["frames"]["time"]) == 300 and out["labels"][7] == "neutral"
    assert (tmp_path / "t.png").stat().st_size > 5000
    assert "real-time factor" in capsys.readouterr().out
    code = cli.main(["predict", str(path), str(tmp_path / "missing.wav"), "--model", str(model_dir)])
    captured = capsys.readouterr()
    assert code == 0 and "talk-16000-1.wav" in captured.out and "missing.wav: no such file" in captured.err
    assert cli.main(["timeline", str(tmp_path / "missing.wav"), "--model", str(model_dir)]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_saved_logit_adjustment_choice_is_the_default_everywhere(tmp_path, extractor):
    from conftest import tiny_config
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.inference import RunningAdapter
    from modeling_emotion_whisper.streaming import EmotionStream

    torch.manual_seed(0)
    prior = [0.4, 0.2, 0.1, 0.05, 0.05, 0.1, 0.0, 0.1]
    model = WhisperForEmotionClassification(tiny_config(label_prior=prior, apply_logit_adjustment=True)).eval()
    wave = synth_speech(2.0, seed=3)
    default, adjusted, raw = (predict_clips(model, extractor, [wave], logit_adjustment=v)[0]["scores"]
                              for v in (None, True, False))
    assert default == adjusted and default != raw
    with torch.no_grad():  # what the pipeline gives: the model's forward with its own config
        features = extractor(wave, sampling_rate=16000, return_tensors="pt", return_attention_mask=True)
        logits = model(input_features=features.input_features, attention_mask=features.attention_mask).logits
    torch.testing.assert_close(torch.tensor([default[n] for n in cli_labels(model)]),
                               torch.softmax(logits[0].float(), -1), rtol=1e-4, atol=1e-5)
    path = tmp_path / "a.wav"
    sf.write(path, wave, 16000)
    assert timeline(model, extractor, path).segments == timeline(model, extractor, path, logit_adjustment=True).segments
    width = model.config.d_model  # RunningAdapter needs single-clip statistics
    model.config.source_feature_mean, model.config.source_feature_std = [0.0] * width, [1.0] * width
    assert RunningAdapter(model, extractor).logit_adjustment and EmotionStream(model, extractor).logit_adjustment
    assert not EmotionStream(model, extractor, logit_adjustment=False).logit_adjustment


def cli_labels(model):
    return [model.config.id2label[i] for i in range(len(model.config.id2label))]


def test_speech_shorter_than_a_segment_is_not_reported_as_silence(tiny_model, extractor, tmp_path, capsys):
    short = tmp_path / "short.wav"
    sf.write(short, synth_speech(0.8, seed=4), 16000)
    result = timeline(tiny_model, extractor, short)
    assert result.segments == [] and result.speech.any()
    message = result.to_dict()["message"]
    assert "s of speech" in message and "minimum segment" in message
    assert timeline(tiny_model, extractor, short, min_segment=0.2).segments  # as the message says
    model_dir = tmp_path / "model"
    tiny_model.save_pretrained(model_dir)
    assert cli.main(["timeline", str(short), "--model", str(model_dir)]) == 0
    assert "minimum segment" in capsys.readouterr().out


def little_speech_in_noise(seconds=60.0, at=30.0, speech_seconds=2.0, noise_db=-66.0, sr=16000):
    """`speech_seconds` of speech at `at` s in a recording of steady noise at `noise_db` dB (above the -70 dB floor)."""
    wave = (10 ** (noise_db / 20) * np.random.default_rng(7).standard_normal(int(seconds * sr))).astype(np.float32)
    start = int(at * sr)
    part = synth_speech(speech_seconds, seed=5)
    wave[start : start + part.size] += part
    return wave


def test_loud_level_ignores_background_and_bangs():
    """2 s of speech in 58 s of noise: the loud level is the speech's, not the noise's (as the 95th percentile of all
    frames was); speech with pauses: about that percentile; a 0.2 s bang at full scale does not move it."""
    rate, noise, voice = 10.0, -66.0, -20.0
    levels = np.full(600, noise)
    levels[300:320] = voice
    assert loud_level(levels, rate, 40.0) == voice
    assert np.percentile(levels, 95) == noise  # the old rule: every noise frame within 40 dB of "loud"
    rng = np.random.default_rng(0)
    speechy = rng.normal(-25.0, 5.0, 600)
    assert abs(loud_level(speechy, rate, 40.0) - np.percentile(speechy, 95)) < 0.01
    pauses = np.where(rng.random(600) < 0.3, -90.0, speechy)
    assert abs(loud_level(pauses, rate, 40.0) - np.percentile(speechy[pauses > -90], 95)) < 0.01
    speechy[100:102] = 0.0  # 0.2 s at full scale
    assert abs(loud_level(speechy, rate, 40.0) - np.percentile(speechy, 95)) < 0.5
    assert np.isnan(loud_level([], rate, 40.0)) and loud_level([-30.0], rate, 40.0) == -30.0


def test_timeline_finds_little_speech_in_long_noise(tiny_model, extractor, tmp_path):
    path = tmp_path / "noise.wav"
    sf.write(path, little_speech_in_noise(), 16000)
    result = timeline(tiny_model, extractor, path)
    times = np.arange(len(result.speech)) / result.frame_rate
    inside = (times >= 30.0) & (times < 32.0)
    assert result.speech[inside].mean() > 0.8
    assert not result.speech[(times < 29.9) | (times >= 32.1)].any()
    assert result.segments and all(29.9 <= s.start and s.end <= 32.1 for s in result.segments)

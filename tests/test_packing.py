import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

import corpus_fixtures
from modeling_emotion_whisper.augment import WaveformAugmenter, spec_augment
from modeling_emotion_whisper.packing import (ClipCollator, PackedSteps, PackingCollator, accumulation_at,
                                              corpus_sampling_weights, make_packs, retrieve_sequence, steps_for_packs)


def test_retrieve_sequence_takes_only_clips_that_fit():
    pool, durations = list(range(5)), [1.0, 2.0, 5.0, 8.0, 40.0]
    chosen = retrieve_sequence(pool, durations, np.random.default_rng(0), window=10.0, fill=0.8)
    total = sum([1.0, 2.0, 5.0, 8.0, 40.0][i] for i in chosen)
    assert total <= 10.0 and 4 not in chosen
    assert len(pool) == len(durations) == 5 - len(chosen)


def test_make_packs_fill_the_window_and_are_seeded():
    durations = np.random.default_rng(0).uniform(1, 6, size=300)
    packs = make_packs(durations, seed=1, window=30, fill=0.8)
    totals = np.array([durations[p].sum() for p in packs])
    assert (totals <= 30 + 1e-9).all()
    assert (totals >= 24).mean() > 0.95  # Algorithm 1 stops at 0.8 x L
    assert sum(len(p) for p in packs) >= len(durations)  # one epoch: as many draws as clips
    assert packs == make_packs(durations, seed=1, window=30, fill=0.8)
    assert packs != make_packs(durations, seed=2, window=30, fill=0.8)
    long_clips = make_packs([50.0, 45.0, 2.0], seed=0, window=30, fill=0.8, num_packs=5)
    assert all(len(p) >= 1 for p in long_clips)  # over-long clips count as one window (cropped later)


def test_corpus_sampling_temperature_sets_each_corpus_share_of_the_packed_audio():
    rng = np.random.default_rng(0)
    # a big corpus of short clips, a small one of long clips: 3 and 0.3 hours
    corpora = ["big"] * 4000 + ["small"] * 270
    durations = np.concatenate([rng.uniform(1.5, 3.9, 4000), rng.uniform(3, 5, 270)])
    seconds = {c: durations[np.array(corpora) == c].sum() for c in ("big", "small")}

    def share(temperature, seed=0):
        weights = corpus_sampling_weights(corpora, durations, temperature)
        packs = make_packs(durations, seed, window=30, fill=0.8, weights=weights)
        drawn = [i for p in packs for i in p]
        small = durations[[i for i in drawn if corpora[i] == "small"]].sum()
        return small / durations[drawn].sum(), packs, drawn

    assert corpus_sampling_weights(corpora, durations, 1.0) is None  # Algorithm 1 as published
    equal, packs, drawn = share(0.0)
    assert abs(equal - 0.5) < 0.05  # every corpus the same share
    tempered = share(0.5)[0]
    expected = seconds["small"] ** 0.5 / (seconds["small"] ** 0.5 + seconds["big"] ** 0.5)
    assert abs(tempered - expected) < 0.05 and equal > tempered > seconds["small"] / sum(seconds.values())
    # with replacement: small-corpus clips repeat; the epoch packs as many seconds as the clips hold
    assert len(drawn) > len(set(drawn)) and abs(durations[drawn].sum() / durations.sum() - 1) < 0.01
    assert all(durations[p].sum() <= 30 + 1e-9 for p in packs)
    assert packs == share(0.0)[1] and packs != share(0.0, seed=1)[1]  # seeded
    steps = PackedSteps(durations, 3, 2, [[0, 1]], seed=0, weights=corpus_sampling_weights(corpora, durations, 0))
    assert steps.epoch_packs(0) == packs  # the trainer's stream is the same packing
    with pytest.raises(ValueError, match="from 0 .* to 1"):
        corpus_sampling_weights(corpora, durations, 1.5)
    with pytest.raises(ValueError, match="one non-negative weight per clip"):
        make_packs(durations, 0, weights=np.ones(3))


def test_accumulation_schedule_and_step_count():
    schedule = [[0, 1], [3, 2], [5, 4]]
    assert [accumulation_at(s, schedule) for s in range(7)] == [1, 1, 1, 2, 2, 4, 4]
    # 3 steps x 1 x 2 packs + 2 x 2 x 2 + 4 x 2 ... until 30 packs
    assert steps_for_packs(30, 2, schedule) == 3 + 2 + 2


def test_packed_steps_share_each_step_between_processes():
    durations = np.random.default_rng(0).uniform(1, 4, size=200)
    world = PackedSteps(durations, num_steps=6, packs_per_batch=2, schedule=[[0, 1], [3, 2]], seed=0, world_size=2)
    assert len(world) == 12
    step3 = [world[6], world[7]]  # step 3, ranks 0 and 1
    assert step3[0]["step"] == step3[1]["step"] == 3
    assert len(step3[0]["micro_batches"]) == 2 and all(len(m) == 2 for m in step3[0]["micro_batches"])
    flat = lambda item: [tuple(p) for m in item["micro_batches"] for p in m]  # noqa: E731
    assert not set(flat(step3[0])) & set(flat(step3[1]))
    single = PackedSteps(durations, 6, 2, [[0, 1], [3, 2]], seed=0, world_size=1)
    assert flat(single[0]) == [tuple(p) for p in make_packs(durations, 0)[:2]]


@pytest.fixture
def clips(tmp_path):
    from datasets import Dataset

    expected = corpus_fixtures.savee(tmp_path)
    paths = sorted(str(p) for p in tmp_path.rglob("*.wav"))
    rng = np.random.default_rng(0)
    soft = rng.dirichlet(np.ones(8), size=len(paths)).tolist()
    return Dataset.from_dict({"path": paths, "soft_label": soft, "domain": list(range(len(paths))),
                              "duration": [0.6] * len(paths)}), len(expected)


def test_packing_collator_builds_segments_labels_and_domains(clips):
    rows, n = clips
    extractor = WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)
    steps = PackedSteps(rows["duration"], num_steps=2, packs_per_batch=2, schedule=[[0, 1]], seed=0, window=3.0)
    collator = PackingCollator(rows, extractor, seed=0, window=3.0, augmenter=WaveformAugmenter(p=0.5),
                               spec_augment_p=0.5)
    item = steps[0]
    batch = collator([item])["micro_batches"][0]
    packs = item["micro_batches"][0]
    assert batch["input_features"].shape[:2] == (2, 80) and batch["input_features"].shape[2] <= 300
    assert batch["segment_ids"].shape == (2, batch["input_features"].shape[2])
    assert [int(batch["segment_ids"][r].max()) for r in range(2)] == [len(p) for p in packs]
    flat = [i for p in packs for i in p]
    assert torch.allclose(batch["labels"], torch.tensor([rows[i]["soft_label"] for i in flat]))
    assert batch["domain_labels"].tolist() == flat
    assert 0 <= float(batch["padding_fraction"]) < 1
    again = collator([item])["micro_batches"][0]
    # seeded augmentation: the same draws give the same features (to float rounding); other draws move them by ~1
    torch.testing.assert_close(again["input_features"], batch["input_features"], rtol=0, atol=1e-5)


def test_clips_resampled_past_the_window_lose_their_labels_with_their_audio(clips, tiny_model):
    """Augmentation that lengthens clips pushes the last ones of a full pack past the window's cut: a clip with no
    encoder frame left must not keep its label (the loss would pair labels and segments wrongly, or crash)."""
    rows, _ = clips
    extractor = WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)
    stretch = lambda wave, rng: np.repeat(wave, 2)[: int(wave.size * 1.3)]  # noqa: E731  30 % longer, like Resample
    collator = PackingCollator(rows, extractor, seed=0, window=3.0, augmenter=stretch)
    pack = [0, 1, 2, 3, 4]  # 5 x 0.6 s fills the 3 s window; stretched, the fifth clip starts after 3.12 s
    batch = collator.micro_batch([pack, [5, 6]], np.random.default_rng(0))
    counts = [int(batch["segment_ids"][r].max()) for r in range(2)]
    assert counts == [4, 2]
    for row in range(2):  # ids 1..k, each with at least one encoder frame
        assert set(batch["segment_ids"][row, ::2].unique().tolist()) - {0} == set(range(1, counts[row] + 1))
    kept = [0, 1, 2, 3, 5, 6]
    torch.testing.assert_close(batch["labels"], torch.tensor([rows[i]["soft_label"] for i in kept]), rtol=0, atol=0)
    assert batch["domain_labels"].tolist() == kept
    out = tiny_model(input_features=batch["input_features"], segment_ids=batch["segment_ids"],
                     labels=batch["labels"], domain_labels=batch["domain_labels"] % 4)
    assert out.segment_logits.shape[0] == 6 and torch.isfinite(out.loss)


def test_decoded_audio_is_decoded_once_and_gives_the_same_batches(clips, tmp_path, monkeypatch):
    import pickle

    from modeling_emotion_whisper import packing

    rows, _ = clips  # SAVEE's fixture is 44.1 kHz: the store holds the resampled 16 kHz audio
    store = packing.DecodedAudio(rows, tmp_path / "cache", num_proc=1)
    assert len(store) == len(rows) and len(list((tmp_path / "cache").iterdir())) == 1
    for i in (0, len(rows) - 1):
        np.testing.assert_array_equal(store[i], packing.load_audio(rows[i]["path"]))  # the same decoder, same bits
    worker_copy = pickle.loads(pickle.dumps(store))  # what a DataLoader worker gets: the index, not the samples
    np.testing.assert_array_equal(worker_copy[3], store[3])
    monkeypatch.setattr(packing, "_decode_clip", lambda clip: pytest.fail("decoded again"))
    assert packing.DecodedAudio(rows, tmp_path / "cache").folder == store.folder  # same clips: the same folder

    extractor = WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)
    steps = PackedSteps(rows["duration"], num_steps=1, packs_per_batch=2, schedule=[[0, 1]], seed=0, window=3.0)
    monkeypatch.setattr(packing, "load_audio", lambda *a, **k: pytest.fail("decoded at use despite the store"))
    cached = PackingCollator(rows, extractor, seed=0, window=3.0, store=store)([steps[0]])["micro_batches"][0]
    monkeypatch.undo()
    plain = PackingCollator(rows, extractor, seed=0, window=3.0)([steps[0]])["micro_batches"][0]
    torch.testing.assert_close(cached["input_features"], plain["input_features"], rtol=0, atol=1e-5)


def test_clip_collator_keeps_each_clip_at_its_length(clips):
    rows, _ = clips
    batch = ClipCollator(WhisperFeatureExtractor(feature_size=80, return_attention_mask=True))([rows[0], rows[1]])
    assert batch["input_features"].shape == (2, 80, 60) and batch["attention_mask"].sum(1).tolist() == [60, 60]
    assert batch["labels"].shape == (2, 8)


def test_augmenter_changes_audio_reproducibly():
    wave = corpus_fixtures.synth_speech(1.0)
    augment = WaveformAugmenter(p=1.0)
    a = augment(wave, np.random.default_rng(3))
    b = augment(wave, np.random.default_rng(3))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)  # the same draws; other draws change samples by ~0.1
    assert (a.shape != wave.shape or not np.allclose(a, wave, atol=1e-3)) and np.isfinite(a).all()


@pytest.mark.parametrize("transform", ["vtlp", "room", "telephone", "gsm", "opus"])
def test_speaker_and_channel_transforms_keep_length_and_peak(transform):
    """Each changes the sound (a warped spectrum, a room's tail, a codec's band and loss) reproducibly, and keeps
    the clip's length and peak, so packing and the labels' alignment are untouched."""
    from modeling_emotion_whisper.augment import codec, room_response, vtlp

    wave = corpus_fixtures.synth_speech(1.0, seed=2)
    functions = {"vtlp": vtlp, "room": room_response}
    apply = functions.get(transform) or (lambda w, rate, rng: codec(w, rate, rng, kind=transform))
    a, b = (apply(wave, 16000, np.random.default_rng(5)) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert a.shape == wave.shape and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_allclose(np.abs(a).max(), np.abs(wave).max(), rtol=1e-5)
    change = np.linalg.norm(a - wave) / np.linalg.norm(wave)
    assert change > 0.01, change  # measured 0.03 (telephone) to 0.45 (room): a transform that did nothing fails
    short = apply(wave[:100], 16000, np.random.default_rng(0))  # shorter than a frame: kept as it is, or transformed
    assert short.shape == (100,) and np.isfinite(short).all()


def test_channel_augmentation_is_off_by_default_and_bad_codecs_are_named():
    from modeling_emotion_whisper.augment import codec

    wave = corpus_fixtures.synth_speech(1.0)
    paper = WaveformAugmenter(p=0.5)(wave, np.random.default_rng(1))  # channel_p 0 draws nothing extra
    np.testing.assert_array_equal(WaveformAugmenter(p=0.5, channel_p=0.0)(wave, np.random.default_rng(1)), paper)
    channel = WaveformAugmenter(p=0.0, channel_p=1.0)(wave, np.random.default_rng(1))
    assert channel.shape == wave.shape and not np.allclose(channel, wave, atol=1e-3)
    assert WaveformAugmenter(p=1.0, channel_p=1.0)(np.zeros(0, np.float32), np.random.default_rng(0)).size == 0
    with pytest.raises(ValueError, match="codec 'mp3': choose one of telephone, gsm, opus"):
        codec(wave, 16000, np.random.default_rng(0), kind="mp3")


def test_spec_augment_leaves_padding_alone():
    features = torch.randn(80, 100)
    out = spec_augment(features, valid_frames=60, rng=np.random.default_rng(0), p=1.0)
    assert torch.equal(out[:, 60:], features[:, 60:]) and not torch.equal(out[:, :60], features[:, :60])

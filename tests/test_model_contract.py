"""The PreTrainedModel contract, checked the way transformers' common model tests (ModelTesterMixin in
tests/test_modeling_common.py, run for Whisper by tests/models/whisper/test_modeling_whisper.py) check it: save and
reload, loading info, attentions and hidden states, batching equivalence, eager against sdpa, torch.export, input
embeddings, weights that do not fit their config, and a datasets Audio column through the pipeline. Tiny random
models and generated audio only."""

import json
import types

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import WhisperFeatureExtractor

from conftest import REPO, synth_speech, tiny_config
from modeling_emotion_whisper import EMOTIONS, WhisperForEmotionClassification
from modeling_emotion_whisper.features import mel_features

LAYERS, HEADS, D_MODEL = 2, 2, 32  # tiny_config


def _model(seed=0, **config):
    torch.manual_seed(seed)
    return WhisperForEmotionClassification(tiny_config(**config)).eval()


def _batch(*seconds):
    """Log-mel features of generated speech, each clip featurized alone and zero-padded to the longest (as every
    scorer here batches): (input_features (B, 80, T), attention_mask (B, T))."""
    extractor = WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)
    return mel_features(extractor, [synth_speech(s, seed=i, f0=150 + 40 * i) for i, s in enumerate(seconds)])


def _quiet_load(*args, **kwargs):
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        return WhisperForEmotionClassification.from_pretrained(*args, **kwargs)
    finally:
        logging.set_verbosity(verbosity)


LABEL_SETS = {
    "2 generic": dict(num_labels=2),
    "3 generic": dict(num_labels=3),
    "8 generic": dict(num_labels=8),
    "2 named": dict(id2label={0: "calm", 1: "aroused"}),
    "3 named": dict(id2label={0: "negative", 1: "neutral", 2: "positive"}),
    "8 emotions (default)": dict(),
}


def test_save_load_round_trip_keeps_every_label_set(tmp_path):
    # transformers' test_save_load / test_save_load_fast_init_*: a binary head with generic labels is the case its
    # tester builds, and it reloaded as the 8 emotions and failed on the head size.
    features, mask = _batch(1.0, 1.6)
    for name, labels in LABEL_SETS.items():
        model = _model(**labels)
        folder = tmp_path / name.replace(" ", "-")
        model.save_pretrained(folder)
        assert (folder / "model.safetensors").exists()
        loaded = _quiet_load(folder).eval()
        assert loaded.config.num_labels == model.config.num_labels, name
        assert loaded.config.id2label == model.config.id2label, name
        assert loaded.config.label2id == {label: i for i, label in model.config.id2label.items()}, name
        if not labels:
            assert [loaded.config.id2label[i] for i in range(8)] == list(EMOTIONS)
        before, after = model.state_dict(), loaded.state_dict()
        assert before.keys() == after.keys(), name
        for key in before:
            assert torch.equal(before[key], after[key]), f"{name}: {key}"
        with torch.no_grad():
            torch.testing.assert_close(loaded(features, attention_mask=mask).logits,
                                       model(features, attention_mask=mask).logits, rtol=0, atol=0)
        if name == "2 generic":  # test_from_pretrained_dtype / test_model_from_pretrained_dtype on the same folder
            half = _quiet_load(folder, dtype=torch.bfloat16)
            assert {p.dtype for p in half.parameters()} == {torch.bfloat16}


def test_from_pretrained_returns_loading_info(tmp_path):
    # test_save_load_keys_to_ignore_on_save / test_model_weights_reload_no_missing_tied_weights ask for it
    model = _model(num_labels=2)
    model.save_pretrained(tmp_path)
    loaded, info = _quiet_load(tmp_path, output_loading_info=True)
    assert isinstance(loaded, WhisperForEmotionClassification)
    assert {"missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"} <= set(info)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert not loaded.encoder.conv1.weight.requires_grad  # the config's freezing still applies
    # a head replaced on purpose is reported, not hidden
    _, info = _quiet_load(tmp_path, output_loading_info=True, ignore_mismatched_sizes=True,
                          id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    assert {entry[0] for entry in info["mismatched_keys"]} == {"emotion_head.weight", "emotion_head.bias"}


def test_attention_and_hidden_state_outputs():
    # test_attention_outputs / test_hidden_states_output, with eager attention as transformers' tests ask for it
    model = _model(attn_implementation="eager")
    features, mask = _batch(1.0, 1.6)
    frames, short = features.shape[-1] // 2, int(mask[0].sum()) // 2
    with torch.no_grad():
        out = model(features, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == LAYERS
    for weights in out.attentions:
        assert weights.shape == (2, HEADS, frames, frames)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, HEADS, frames))
        assert short < frames and torch.all(weights[0, :, :, short:] == 0)  # the short clip's padding: no attention
    assert len(out.hidden_states) == LAYERS + 1
    assert all(state.shape == (2, frames, D_MODEL) for state in out.hidden_states)
    with torch.no_grad():
        plain = model(features, attention_mask=mask)
        as_tuple = model(features, attention_mask=mask, output_attentions=True, return_dict=False)
    assert plain.attentions is None and plain.hidden_states is None
    torch.testing.assert_close(plain.logits, out.logits)
    assert len(as_tuple[-1]) == LAYERS and as_tuple[-1][0].shape == (2, HEADS, frames, frames)  # last, as there
    model.config.output_attentions = True  # the config's default, as for every transformers model
    with torch.no_grad():
        assert len(model(features, attention_mask=mask).attentions) == LAYERS


def test_batching_equivalence_of_every_output():
    # test_batching_equivalence: a clip alone and the same clip padded in a batch give the same outputs, here
    # including each layer's hidden states and attention weights on its own frames
    model = _model(attn_implementation="eager")
    short, short_mask = _batch(1.0)
    both, both_mask = _batch(1.0, 1.6)
    n = short.shape[-1] // 2
    with torch.no_grad():
        alone = model(short, attention_mask=short_mask, output_attentions=True, output_hidden_states=True)
        batched = model(both, attention_mask=both_mask, output_attentions=True, output_hidden_states=True)
    torch.testing.assert_close(batched.logits[:1], alone.logits)
    torch.testing.assert_close(batched.pooled_features[:1], alone.pooled_features)
    torch.testing.assert_close(batched.frame_logits[:1, :n], alone.frame_logits)
    assert batched.frame_mask[0].sum() == n and not batched.frame_mask[0, n:].any()
    for a, b in zip(alone.hidden_states, batched.hidden_states, strict=True):
        torch.testing.assert_close(b[:1, :n], a)
    for a, b in zip(alone.attentions, batched.attentions, strict=True):
        torch.testing.assert_close(b[:1, :, :n, :n], a)


def test_eager_and_sdpa_agree(tmp_path):
    # test_eager_matches_sdpa_inference / test_sdpa_can_dispatch_on_flash: the binary tester config, saved and
    # reloaded with each attention implementation
    _model(num_labels=2).save_pretrained(tmp_path)
    eager = _quiet_load(tmp_path, attn_implementation="eager").eval()
    sdpa = _quiet_load(tmp_path, attn_implementation="sdpa").eval()
    assert eager.config._attn_implementation == "eager" and sdpa.config._attn_implementation == "sdpa"
    features, mask = _batch(1.0, 1.6)
    with torch.no_grad():
        a, b = eager(features, attention_mask=mask), sdpa(features, attention_mask=mask)
        torch.testing.assert_close(a.logits, b.logits, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(a.frame_logits[a.frame_mask], b.frame_logits[b.frame_mask], rtol=1e-4, atol=1e-5)
        # sdpa computes no weights: like transformers, it gives none (and warns) rather than wrong ones
        assert sdpa(features, attention_mask=mask, output_attentions=True).attentions is None


def test_torch_export_of_the_default_forward_matches_eager():
    # test_torch_export: the default forward (trim_padding=True) must trace; the trim is a data-dependent shape
    model = _model(num_labels=3)
    features, mask = _batch(1.0, 1.2)
    padded = torch.nn.functional.pad(features, (0, 40))  # 40 frames padded in every row: eager trims them
    padded_mask = torch.nn.functional.pad(mask, (0, 40))
    exported = torch.export.export(model, (padded,), {"attention_mask": padded_mask})
    with torch.no_grad():
        expected = model(padded, attention_mask=padded_mask)
        traced = exported.module()(padded, attention_mask=padded_mask)
    assert expected.frame_logits.shape[1] == features.shape[-1] // 2  # eager still skips the all-padding frames
    torch.testing.assert_close(traced.logits, expected.logits)
    torch.testing.assert_close(traced.pooled_features, expected.pooled_features)
    used = expected.frame_logits.shape[1]
    torch.testing.assert_close(traced.frame_logits[:, :used], expected.frame_logits)
    assert not traced.frame_mask[:, used:].any()


def test_input_embeddings_are_the_first_convolution():
    # test_model_get_set_embeddings: Whisper's encoder answers with conv1
    model = _model()
    assert model.get_input_embeddings() is model.encoder.conv1
    replacement = torch.nn.Conv1d(80, D_MODEL, kernel_size=3, padding=1)
    model.set_input_embeddings(replacement)
    assert model.get_input_embeddings() is replacement and model.encoder.conv1 is replacement


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    model = _model()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())

    def load_with(**changes):
        (tmp_path / "config.json").write_text(json.dumps({**saved, **changes}))
        return _quiet_load(tmp_path)

    with pytest.raises(ValueError, match=r"(?s)missing.*encoder\.layers\.2\..*encoder_layers=3; the weights hold 2"):
        load_with(encoder_layers=3)
    with pytest.raises(ValueError, match=r"(?s)unexpected.*encoder\.layers\.1\..*encoder_layers=1; the weights hold 2"):
        load_with(encoder_layers=1)
    with pytest.raises(ValueError, match=r"(?s)missing.*frame_head\.weight.*ignore_mismatched_sizes=True"):
        load_with(frame_head=True)
    _model(num_domains=3).save_pretrained(tmp_path / "with-domains")
    with_domains = json.loads((tmp_path / "with-domains" / "config.json").read_text())
    (tmp_path / "with-domains" / "config.json").write_text(json.dumps({**with_domains, "num_domains": 0}))
    with pytest.raises(ValueError, match=r"(?s)unexpected.*domain_head\.weight"):
        _quiet_load(tmp_path / "with-domains")
    # a caller starting new heads on purpose (train.py, finetune_hume.py) may; never a missing encoder layer
    (tmp_path / "config.json").write_text(json.dumps(saved))
    fresh = _quiet_load(tmp_path, ignore_mismatched_sizes=True, frame_head=True, num_domains=5)
    assert fresh.frame_head is not None and fresh.domain_head.out_features == 5
    torch.testing.assert_close(fresh.encoder.state_dict(), model.encoder.state_dict(), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"encoder\.layers\.2\."):
        (tmp_path / "config.json").write_text(json.dumps({**saved, "encoder_layers": 3}))
        _quiet_load(tmp_path, ignore_mismatched_sizes=True)


@pytest.mark.skipif(not (REPO / "checkpoints" / "emotion-whisper-base" / "model.safetensors").exists(),
                    reason="the bundled model is not here")
def test_the_bundled_model_still_loads():
    model, info = _quiet_load(REPO / "checkpoints" / "emotion-whisper-base", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    # release 3 ships the fine-tuned per-frame head (timelines) beside the refitted clip head
    assert model.config.num_labels == 8 and model.config.frame_head and model.frame_head is not None


def test_pipeline_scores_a_datasets_audio_column_without_torchcodec(tmp_path):
    # The datasets docs score a folder with load_dataset("audiofolder") and pipeline(KeyDataset(ds, "audio")).
    # datasets 5 decodes (and builds audiofolder datasets) with torchcodec, which needs FFmpeg; the pipeline must
    # not, whether or not torchcodec is installed.
    from datasets import Audio, Dataset, Features, Value, load_dataset
    from transformers import pipeline
    from transformers.pipelines.pt_utils import KeyDataset

    _model(num_labels=3).save_pretrained(tmp_path / "model")
    (tmp_path / "audio").mkdir()
    paths = []
    for i, seconds in enumerate([0.8, 1.3, 2.1]):
        paths.append(str(tmp_path / "audio" / f"clip{i}.wav"))
        sf.write(paths[-1], synth_speech(seconds, sr=22050, seed=i), 22050)  # not 16 kHz: the pipeline resamples
    pipe = pipeline("audio-classification", model=str(tmp_path / "model"), trust_remote_code=True, top_k=None)
    expected = [pipe(path) for path in paths]

    def same(results):
        results = list(results)
        assert len(results) == len(expected)
        for got, want in zip(results, expected):
            assert [r["label"] for r in got] == [r["label"] for r in want]
            assert np.allclose([r["score"] for r in got], [r["score"] for r in want], atol=1e-5)

    # a folder, as docs/usage.md says to load it without torchcodec
    folder = load_dataset("audiofolder", data_dir=str(tmp_path / "audio"), split="train", drop_labels=True,
                          features=Features({"audio": Value("string")}), cache_dir=str(tmp_path / "cache"))
    same(pipe(KeyDataset(folder.sort("audio"), "audio")))
    # an Audio column as datasets gives it (decode=True), files and embedded bytes, one by one and batched
    files = Dataset.from_dict({"audio": paths}).cast_column("audio", Audio())
    same(pipe(KeyDataset(files, "audio")))
    same(pipe(KeyDataset(files, "audio"), batch_size=2))
    embedded = Dataset.from_dict({"audio": [{"bytes": open(p, "rb").read(), "path": f"x{i}.wav"}
                                            for i, p in enumerate(paths)]}).cast_column("audio", Audio())
    same(pipe(KeyDataset(embedded, "audio")))
    # undecoded on request, and a torchcodec AudioDecoder's samples (channels, samples)
    same(pipe(KeyDataset(embedded.cast_column("audio", Audio(decode=False)), "audio")))
    decoders = []
    for path in paths:
        wave, rate = sf.read(path, dtype="float32")
        samples = types.SimpleNamespace(data=torch.from_numpy(wave)[None], sample_rate=rate)
        decoders.append(types.SimpleNamespace(get_all_samples=lambda samples=samples: samples))
    same(pipe(decoder) for decoder in decoders)

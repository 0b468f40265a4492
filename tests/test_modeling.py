import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import WHISPER_BASE, tiny_config
from modeling_emotion_whisper import EMOTIONS, EmotionWhisperConfig, WhisperForEmotionClassification


def test_default_labels_are_the_papers_eight_in_order():
    config = EmotionWhisperConfig()
    assert [config.id2label[i] for i in range(8)] == list(EMOTIONS)
    assert EMOTIONS == ("happiness", "sadness", "disgust", "fear", "surprise", "anger", "other", "neutral")
    assert config.label2id["neutral"] == 7 and config.domain_loss_weight == 0.01
    hume = EmotionWhisperConfig(id2label={i: n for i, n in enumerate("abcdefghi")}, emotion_loss="sigmoid_mse")
    assert hume.num_labels == 9


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="emotion_loss"):
        EmotionWhisperConfig(emotion_loss="hinge")
    with pytest.raises(ValueError, match="label_prior"):
        EmotionWhisperConfig(label_prior=[0.5, 0.5])
    with pytest.raises(ValueError, match="input_normalization must be one of"):
        EmotionWhisperConfig(input_normalization="global")


def test_output_shapes(tiny_model):
    features = torch.randn(2, 80, 400)
    out = tiny_model(input_features=features, output_hidden_states=True)
    assert out.logits.shape == (2, 8)
    assert out.frame_logits.shape == (2, 200, 8)  # 50 encoder frames per second
    assert out.frame_mask.shape == (2, 200) and out.frame_mask.all()
    assert out.domain_logits.shape == (2, 4)
    assert len(out.hidden_states) == 3 and out.hidden_states[-1].shape == (2, 200, 32)
    assert out.loss is None and out.segment_logits is None


def test_padding_changes_nothing(tiny_model):
    clip = torch.randn(1, 80, 301)  # odd length on purpose
    padded = torch.cat([clip, torch.randn(1, 80, 3000 - 301)], dim=-1)  # garbage, not zeros, in the padding
    batch = torch.cat([padded, torch.randn(1, 80, 3000)])
    mask = torch.ones(2, 3000, dtype=torch.long)
    mask[0, 301:] = 0
    with torch.no_grad():
        alone = tiny_model(input_features=clip)
        together = tiny_model(input_features=batch, attention_mask=mask)
    torch.testing.assert_close(together.logits[0], alone.logits[0], atol=1e-4, rtol=0)
    valid = together.frame_mask[0]
    assert int(valid.sum()) == alone.frame_logits.shape[1] == 151
    torch.testing.assert_close(together.frame_logits[0, valid], alone.frame_logits[0], atol=1e-4, rtol=0)


def test_utterance_input_normalization_removes_a_channel_colouring(tmp_path):
    """input_normalization "utterance": a fixed offset per mel bin over a clip's frames (a microphone's or channel's
    colouring in the log-mel domain) changes nothing a clip, its frames or a packed segment is scored as; a clip's
    level is kept; every packed clip is normalized on its own frames, padding untouched; saving keeps the setting."""
    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(input_normalization="utterance")).eval()
    plain = WhisperForEmotionClassification(tiny_config()).eval()
    plain.load_state_dict(model.state_dict())
    clip = torch.randn(1, 80, 301)
    colouring = torch.linspace(-0.5, 0.5, 80)[None, :, None]
    mask = torch.ones(1, 400, dtype=torch.long)
    mask[:, 301:] = 0
    coloured = torch.cat([clip + colouring, torch.randn(1, 80, 99)], dim=-1)  # garbage in the padding
    with torch.no_grad():
        alone = model(input_features=clip, output_hidden_states=True)
        other = model(input_features=coloured, attention_mask=mask, output_hidden_states=True)
        before, after = (plain(input_features=x, output_hidden_states=True) for x in (clip, clip + colouring))
    torch.testing.assert_close(other.logits, alone.logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(other.frame_logits[:, :151], alone.frame_logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(other.hidden_states[-1][:, :151], alone.hidden_states[-1], atol=1e-4, rtol=0)
    # without it, the colouring moves what the heads read (a random head's logits barely: its weights are small)
    assert (after.hidden_states[-1] - before.hidden_states[-1]).abs().max() > 2e-3  # measured 0.013

    features = torch.randn(1, 80, 100) + 0.3
    segments = torch.zeros(1, 100, dtype=torch.long)
    segments[0, :40], segments[0, 40:90] = 1, 2
    packed = WhisperForEmotionClassification._normalize_input(features, segments > 0, segments)
    for start, end in ((0, 40), (40, 90)):
        own = WhisperForEmotionClassification._normalize_input(features[..., start:end],
                                                               torch.ones(1, end - start, dtype=torch.bool))
        torch.testing.assert_close(packed[..., start:end], own, atol=1e-5, rtol=0)
        torch.testing.assert_close(own.mean((1, 2)), features[..., start:end].mean((1, 2)), atol=1e-5, rtol=0)
        torch.testing.assert_close(own.mean(2), own.mean((1, 2))[:, None].expand(1, 80), atol=1e-5, rtol=0)
    assert torch.equal(packed[..., 90:], features[..., 90:])
    model.save_pretrained(tmp_path)
    assert WhisperForEmotionClassification.from_pretrained(tmp_path).config.input_normalization == "utterance"


def test_all_padding_rows_are_trimmed(tiny_model):
    # Padding shared by every row is dropped, so a 3 s clip padded to 30 s costs 3 s of compute.
    mask = torch.zeros(1, 3000, dtype=torch.long)
    mask[:, :300] = 1
    out = tiny_model(input_features=torch.randn(1, 80, 3000), attention_mask=mask)
    assert out.frame_logits.shape[1] == 150


def test_rejects_wrong_shapes(tiny_model):
    with pytest.raises(ValueError, match="num_mel_bins|80"):
        tiny_model(input_features=torch.randn(1, 128, 100))
    with pytest.raises(ValueError, match="3000"):
        tiny_model(input_features=torch.randn(1, 80, 3002))


def test_segments_pool_their_own_frames(tiny_model):
    seg = torch.zeros(2, 600, dtype=torch.long)
    seg[0, :200], seg[0, 200:500], seg[1, :100] = 1, 2, 1
    with torch.no_grad():
        out = tiny_model(input_features=torch.randn(2, 80, 600), segment_ids=seg)
    assert out.segment_logits.shape == (3, 8)
    frames = seg[:, :500:2]  # trailing padding shared by both rows is trimmed
    expected = [
        out.frame_logits[0, frames[0] == 1].mean(0),
        out.frame_logits[0, frames[0] == 2].mean(0),
        out.frame_logits[1, frames[1] == 1].mean(0),
    ]
    torch.testing.assert_close(out.segment_logits, torch.stack(expected), atol=1e-5, rtol=0)
    # padding after the segments is excluded from the clip logits too
    torch.testing.assert_close(out.logits[1], out.frame_logits[1, :50].mean(0), atol=1e-5, rtol=0)


def test_soft_label_loss_is_cross_entropy_against_the_distribution(tiny_model):
    features = torch.randn(3, 80, 200)
    soft = torch.softmax(torch.randn(3, 8), dim=-1)
    out = tiny_model(input_features=features, labels=soft)
    expected = -(soft * torch.log_softmax(out.logits, -1)).sum(-1).mean()
    torch.testing.assert_close(out.loss, expected)
    hard = tiny_model(input_features=features, labels=torch.tensor([0, 7, -100]))
    torch.testing.assert_close(
        hard.loss, torch.nn.functional.cross_entropy(hard.logits[:2], torch.tensor([0, 7])), atol=1e-6, rtol=0
    )


def test_sigmoid_mse_variant():
    model = WhisperForEmotionClassification(tiny_config(num_labels=9, emotion_loss="sigmoid_mse"))
    targets = torch.rand(2, 9)
    out = model(input_features=torch.randn(2, 80, 100), labels=targets)
    torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(out.logits.sigmoid(), targets))


def _domain_grad(reversal):
    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(num_domains=3, domain_gradient_reversal=reversal))
    out = model(input_features=torch.randn(2, 80, 200), domain_labels=torch.tensor([0, 2]))
    out.loss.backward()
    return model, out


def test_gradient_reversal_flips_the_encoder_gradient_only():
    reversed_model, reversed_out = _domain_grad(True)
    plain_model, plain_out = _domain_grad(False)
    w_d = reversed_model.config.domain_loss_weight
    torch.testing.assert_close(reversed_out.loss, w_d * reversed_out.domain_loss)
    torch.testing.assert_close(reversed_out.loss, plain_out.loss)
    enc_rev = reversed_model.encoder.layers[0].fc1.weight.grad
    enc_plain = plain_model.encoder.layers[0].fc1.weight.grad
    assert enc_plain.abs().sum() > 0
    torch.testing.assert_close(enc_rev, -enc_plain)  # the encoder ascends the domain loss
    # the domain head itself still descends it (it keeps learning to classify domains)
    torch.testing.assert_close(reversed_model.domain_head.weight.grad, plain_model.domain_head.weight.grad)
    # and its size is w_d times the unweighted domain loss's gradient
    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(num_domains=3, domain_gradient_reversal=False))
    out = model(input_features=torch.randn(2, 80, 200), domain_labels=torch.tensor([0, 2]))
    out.domain_loss.backward()
    torch.testing.assert_close(enc_rev, -w_d * model.encoder.layers[0].fc1.weight.grad)


def test_domain_confusion_trains_the_head_on_domains_and_the_encoder_towards_a_uniform_posterior():
    """config.domain_confusion: the head's gradient is the domain loss's on features it cannot move; the encoder's
    is the gradient of the cross-entropy to the uniform posterior through the head's fixed weights, nothing else."""
    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(num_domains=3, domain_confusion=True))
    features, labels = torch.randn(2, 80, 200), torch.tensor([0, 2])
    out = model(input_features=features, domain_labels=labels)
    out.loss.backward()
    w_d = model.config.domain_loss_weight
    probe_model, probe = _domain_grad(False)  # the same weights (seed 0), the head trained as a plain probe
    torch.testing.assert_close(out.domain_loss, probe.domain_loss)
    torch.testing.assert_close(model.domain_head.weight.grad, probe_model.domain_head.weight.grad)
    reference = WhisperForEmotionClassification(tiny_config(num_domains=3))
    reference.load_state_dict(model.state_dict())
    pooled = reference(input_features=features).pooled_features
    uniform_ce = -torch.log_softmax(reference.domain_head(pooled), -1).mean()
    torch.testing.assert_close(out.loss, w_d * (out.domain_loss + uniform_ce.detach()))
    (w_d * uniform_ce).backward()
    grad = model.encoder.layers[0].fc1.weight.grad
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, reference.encoder.layers[0].fc1.weight.grad)
    with pytest.raises(ValueError, match="domain_confusion replaces the gradient reversal"):
        tiny_config(num_domains=3, domain_confusion=True, domain_gradient_reversal=False)


def test_conv_stem_frozen_by_default_and_configurable(tiny_model):
    assert not tiny_model.encoder.conv1.weight.requires_grad and not tiny_model.encoder.conv2.bias.requires_grad
    assert tiny_model.encoder.layers[0].fc1.weight.requires_grad
    out = tiny_model(input_features=torch.randn(1, 80, 100), labels=torch.tensor([1]))
    out.loss.backward()
    assert tiny_model.encoder.conv1.weight.grad is None
    free = WhisperForEmotionClassification(tiny_config(freeze_conv_stem=False))
    assert free.encoder.conv1.weight.requires_grad


def test_logit_adjustment_subtracts_tau_log_prior():
    prior = [0.4, 0.1, 0.05, 0.05, 0.05, 0.15, 0.05, 0.15]
    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(label_prior=prior, logit_adjustment_tau=0.5)).eval()
    features = torch.randn(1, 80, 100)
    raw = model(input_features=features)
    adjusted = model(input_features=features, apply_logit_adjustment=True)
    torch.testing.assert_close(adjusted.logits, raw.logits - 0.5 * torch.log(torch.tensor(prior)))
    model.config.apply_logit_adjustment = True
    torch.testing.assert_close(model(input_features=features).logits, adjusted.logits)
    with pytest.raises(ValueError, match="label_prior"):
        WhisperForEmotionClassification(tiny_config())(input_features=features, apply_logit_adjustment=True)


def test_save_load_round_trip(tiny_model, tmp_path):
    from transformers import AutoModelForAudioClassification

    tiny_model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"]["AutoModelForAudioClassification"].endswith("WhisperForEmotionClassification")
    assert saved["custom_pipelines"]["audio-classification"]["impl"].startswith("pipeline_emotion_whisper.")
    for name in ("modeling_emotion_whisper.py", "configuration_emotion_whisper.py", "pipeline_emotion_whisper.py",
                 "audio.py", "preprocessor_config.json", "model.safetensors"):
        assert (tmp_path / name).exists(), name
    assert json.loads((tmp_path / "preprocessor_config.json").read_text())["return_attention_mask"] is True
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, WhisperForEmotionClassification)
    for key, value in tiny_model.state_dict().items():  # saved tensors: bit-exact
        assert torch.equal(value, loaded.state_dict()[key]), key
    features = torch.randn(1, 80, 120)
    with torch.no_grad():
        # Two model instances: equal weights, but the kernels may sum in another order (memory layout, CPU), so the
        # logits agree to float32 rounding (~1e-7 here), not bit for bit. 1e-5 still catches a wrong or missing
        # weight, which moves these logits (~0.1) by 1e-2 or more.
        torch.testing.assert_close(loaded(input_features=features).logits, tiny_model(input_features=features).logits,
                                   rtol=1e-5, atol=1e-5)
    assert loaded.config.num_domains == 4 and not loaded.encoder.conv1.weight.requires_grad


@pytest.mark.parametrize("mels", [80, 128])
def test_from_whisper_copies_the_encoder_and_nothing_else(tmp_path, mels):
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    source_config = WhisperConfig(
        d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
        decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=mels, vocab_size=100, max_target_positions=8,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )
    WhisperForConditionalGeneration(source_config).save_pretrained(tmp_path)  # a full checkpoint, decoder included
    source = WhisperForConditionalGeneration.from_pretrained(tmp_path).model.encoder.state_dict()
    model = WhisperForEmotionClassification.from_whisper(str(tmp_path), num_domains=7)
    for key, value in source.items():
        assert torch.equal(model.encoder.state_dict()[key], value), key
    assert not any("decoder" in name for name, _ in model.named_parameters())
    assert model.config.num_mel_bins == mels and model.config.num_domains == 7 and model.config.num_labels == 8
    assert model(input_features=torch.randn(1, mels, 100)).logits.shape == (1, 8)


PIPELINE_SCRIPT = r"""
import sys
sys.modules["modeling_emotion_whisper"] = None  # as on a machine where this project is not installed
import numpy as np, soundfile as sf
from transformers import pipeline
folder, wav = sys.argv[1], sys.argv[2]
pipe = pipeline("audio-classification", model=folder, trust_remote_code=True)
sr = 16000
t = np.arange(int(2.5 * sr)) / sr
wave = (0.3 * np.sin(2 * np.pi * 200 * t)).astype("float32")
a = pipe(wave, top_k=None)
t44 = np.arange(int(2.5 * 44100)) / 44100
b = pipe({"array": (0.3 * np.sin(2 * np.pi * 200 * t44)).astype("float32"), "sampling_rate": 44100}, top_k=None)
sf.write(wav, np.stack([wave, wave], axis=1), 22050)
c = pipe(wav, top_k=None)
for result in (a, b, c):
    print(sorted(r["label"] for r in result), round(sum(r["score"] for r in result), 4))
print(type(pipe).__name__)
"""


def _run_pipeline_in_fresh_process(folder, tmp_path):
    script = tmp_path / "run_pipeline.py"
    script.write_text(PIPELINE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, str(script), str(folder), str(tmp_path / "stereo.wav")],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


def test_pipeline_serves_a_saved_folder_offline_in_a_fresh_process(tiny_model, tmp_path):
    folder = tmp_path / "model"
    tiny_model.save_pretrained(folder)
    lines = _run_pipeline_in_fresh_process(folder, tmp_path)
    assert lines[-1] == "EmotionAudioClassificationPipeline"
    assert lines[:3] == [f"{sorted(EMOTIONS)} 1.0"] * 3


@pytest.mark.skipif(not WHISPER_BASE.exists(), reason="../shared/models/whisper-base-encoder is not here")
def test_whisper_base_from_shared_serves_the_pipeline(tmp_path):
    model = WhisperForEmotionClassification.from_whisper(str(WHISPER_BASE))
    assert model.config.d_model == 512 and model.config.encoder_layers == 6 and model.dtype == torch.float32
    model.save_pretrained(tmp_path / "model")
    lines = _run_pipeline_in_fresh_process(tmp_path / "model", tmp_path)
    assert lines[:3] == [f"{sorted(EMOTIONS)} 1.0"] * 3


def test_pipeline_batches_clips_of_any_length_like_single_calls(tiny_model, tmp_path):
    from transformers import pipeline

    from conftest import synth_speech

    tiny_model.save_pretrained(tmp_path)
    pipe = pipeline("audio-classification", model=str(tmp_path), trust_remote_code=True)
    clips = [synth_speech(1.0, seed=1), synth_speech(65.0, seed=2), synth_speech(1.7, seed=3)]  # one is 3 windows
    single = [pipe(clip, top_k=None) for clip in clips]
    batched = pipe(clips, batch_size=2, top_k=None)
    for a, b in zip(single, batched):
        assert [r["label"] for r in a] == [r["label"] for r in b]
        assert np.allclose([r["score"] for r in a], [r["score"] for r in b], atol=1e-5)


def test_sample_level_attention_masks_are_understood(tiny_model):
    # transformers' stock pipeline calls the feature extractor without return_attention_mask=True, which then
    # returns one mask entry per audio sample
    from transformers import WhisperFeatureExtractor

    from conftest import synth_speech

    extractor = WhisperFeatureExtractor(feature_size=80, return_attention_mask=True)
    wave = synth_speech(3.0)
    sample_level = extractor(wave, sampling_rate=16000, return_tensors="pt")
    frame_level = extractor(wave, sampling_rate=16000, return_attention_mask=True, return_tensors="pt")
    assert sample_level["attention_mask"].shape[-1] == 480000 and frame_level["attention_mask"].shape[-1] == 3000
    with torch.no_grad():
        a = tiny_model(**sample_level).logits
        b = tiny_model(**frame_level).logits
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="mel frames"):
        tiny_model(input_features=frame_level["input_features"], attention_mask=torch.ones(1, 4500))


def test_config_head_settings_table_matches_the_dataclass_fields():
    import dataclasses

    from modeling_emotion_whisper.configuration_emotion_whisper import HEAD_SETTINGS

    if not dataclasses.is_dataclass(EmotionWhisperConfig):
        pytest.skip("this transformers uses keyword-argument configs: the table is the only definition")
    fields = {f.name: f.default for f in dataclasses.fields(EmotionWhisperConfig) if f.name in HEAD_SETTINGS}
    assert fields == HEAD_SETTINGS


def test_layer_weighting_mixes_every_hidden_state_and_survives_saving(tmp_path):
    torch.manual_seed(0)
    plain = WhisperForEmotionClassification(tiny_config(num_domains=3)).eval()
    weighted = WhisperForEmotionClassification(tiny_config(num_domains=3, layer_weighting=True)).eval()
    weighted.load_state_dict({**plain.state_dict(), "layer_weights": weighted.layer_weights.data}, strict=True)
    features = torch.randn(2, 80, 160)
    with torch.no_grad():
        # all weight on the final output: the plain model's answer
        weighted.layer_weights.copy_(torch.tensor([-1e4, -1e4, 0.0]))
        torch.testing.assert_close(weighted(input_features=features).logits, plain(input_features=features).logits,
                                   rtol=1e-5, atol=1e-5)
        # all weight on the input embedding: the hidden state before any layer
        weighted.layer_weights.copy_(torch.tensor([0.0, -1e4, -1e4]))
        states = plain(input_features=features, output_hidden_states=True).hidden_states
        expected = plain.emotion_head(states[0].mean(1))
        torch.testing.assert_close(weighted(input_features=features).logits, expected, rtol=1e-5, atol=1e-5)
        weighted.layer_weights.copy_(torch.tensor([0.3, -0.2, 0.1]))
    weighted.train()
    loss = weighted(input_features=features, labels=torch.softmax(torch.randn(2, 8), -1)).loss
    loss.backward()
    assert weighted.layer_weights.grad is not None and weighted.layer_weights.grad.abs().sum() > 0
    weighted.save_pretrained(tmp_path)
    loaded = WhisperForEmotionClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.layer_weighting
    torch.testing.assert_close(loaded.layer_weights, weighted.layer_weights)
    # honoured by the saved pipeline (remote code) exactly as by the model
    from transformers import WhisperFeatureExtractor, pipeline

    from conftest import synth_speech
    from modeling_emotion_whisper.features import mel_features

    wave = synth_speech(2.0)
    with torch.no_grad():
        direct = loaded(input_features=mel_features(WhisperFeatureExtractor(), [wave])[0]).logits.softmax(-1)[0]
    scores = {r["label"]: r["score"] for r in pipeline("audio-classification", model=str(tmp_path),
                                                         trust_remote_code=True)(wave, top_k=None)}
    torch.testing.assert_close(torch.tensor([scores[n] for n in EMOTIONS]), direct, rtol=0, atol=1e-5)


@pytest.mark.parametrize("trainable, expected", [(-1, {"layers.0", "layers.1", "layer_norm"}), (1, {"layers.1", "layer_norm"}),
                                                 (0, set())])
def test_trainable_encoder_layers(tmp_path, trainable, expected):
    model = WhisperForEmotionClassification(tiny_config(trainable_encoder_layers=trainable))
    trains = {name.split(".", 1)[1].rsplit(".", 1)[0].split(".self_attn")[0].split(".fc")[0].split(".final")[0]
              .split(".self_attn_layer_norm")[0]
              for name, p in model.named_parameters() if p.requires_grad and name.startswith("encoder.")}
    assert {t for t in trains if not t.startswith("conv")} == expected and not any(t.startswith("conv") for t in trains)
    assert model.emotion_head.weight.requires_grad  # the heads always learn
    model.save_pretrained(tmp_path)
    loaded = WhisperForEmotionClassification.from_pretrained(tmp_path)
    assert [p.requires_grad for p in loaded.parameters()] == [p.requires_grad for p in model.parameters()]
    with pytest.raises(ValueError, match="trainable_encoder_layers"):
        tiny_config(trainable_encoder_layers=3)


def test_bf16_pooling_counts_frames_exactly():
    # A bf16 frame count rounds above 256 (501 -> 500) and bf16 running sums drift: every pooling sums in float32.
    cls = WhisperForEmotionClassification
    x = torch.full((2, 600, 4), 1.5, dtype=torch.bfloat16)
    mask = torch.zeros(2, 600, dtype=torch.bool)
    mask[0, :501], mask[1, :300] = True, True
    pooled = cls._mean_over_frames(x, mask)
    assert pooled.dtype == torch.bfloat16
    torch.testing.assert_close(pooled.float(), torch.full((2, 4), 1.5), rtol=0, atol=0)
    segments = torch.zeros(1, 600, dtype=torch.long)
    segments[0, :501], segments[0, 501:] = 1, 2
    torch.testing.assert_close(cls._pool_segments(x[:1], segments).float(), torch.full((2, 4), 1.5), rtol=0, atol=0)
    windows = torch.stack([torch.full((4,), 1.0), torch.full((4,), 2.0)]).to(torch.bfloat16)
    (clip,) = cls._pool_windows(mask, [2], windows)  # 501 and 300 valid frames: (501 * 1 + 300 * 2) / 801
    torch.testing.assert_close(clip.float(), torch.full((1, 4), 1101 / 801).to(torch.bfloat16).float(), rtol=0, atol=0)

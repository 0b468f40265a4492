import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import yaml

import corpus_fixtures
from conftest import REPO, save_tiny_whisper


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny Whisper checkpoint and a built fixture corpus whose emotions differ in pitch."""
    from data_scripts import build

    root = tmp_path_factory.mktemp("train")
    save_tiny_whisper(root / "whisper-tiny")
    corpus_fixtures.savee(root / "savee", per_code=3)
    build.main([f"--corpus=savee={root / 'savee'}", "--out", str(root / "data"), "--split", "speaker",
                "--validation_fraction", "0.25", "--num_proc", "1"])
    config = {
        "model_name_or_path": str(root / "whisper-tiny"), "dataset_path": str(root / "data"),
        "window_seconds": 6, "packs_per_batch": 2, "accumulation_schedule": "0:1,6:2", "num_epochs": 10,
        "learning_rate": 3e-3, "warmup_steps": 0.1, "logging_steps": 2, "save_steps": 6, "seed": 0,
        "report_to": "tensorboard", "dataloader_num_workers": 0, "use_cpu": True, "augment_p": 0.2,
        "spec_augment_p": 0.2, "per_device_eval_batch_size": 8,
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(config))
    return root


def losses(trainer_or_dir):
    if isinstance(trainer_or_dir, (str, os.PathLike)):
        history = json.loads(open(os.path.join(trainer_or_dir, "trainer_state.json")).read())["log_history"]
    else:
        history = trainer_or_dir.state.log_history
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def test_training_learns_saves_and_resumes_where_it_stopped(setup):
    import train

    out = setup / "run"
    trainer = train.main([str(setup / "tiny.yaml"), "--output_dir", str(out)])
    curve = losses(trainer)
    steps = sorted(curve)
    assert len(steps) >= 6
    first, last = [curve[s] for s in steps[:3]], [curve[s] for s in steps[-3:]]
    assert sum(last) / 3 < 0.85 * sum(first) / 3, curve  # the loss goes down
    assert (out / "final" / "model.safetensors").exists() and (out / "run_config.json").exists()
    resolved = json.loads((out / "run_config.json").read_text())
    assert resolved["accumulation"] == [[0, 1], [6, 2]] and resolved["packing"]["window_seconds"] == 6
    assert any(name.startswith("events.out.tfevents") for _, _, files in os.walk(out / "runs") for name in files)
    evaluation = json.loads((out / "final" / "eval_results.json").read_text())
    assert evaluation["overall"]["n"] > 0
    checkpoints = sorted(p for p in out.iterdir() if p.name.startswith("checkpoint-"))
    assert checkpoints

    # A run killed after its first checkpoint resumes there and continues exactly as the uninterrupted run.
    killed = setup / "killed"
    killed.mkdir()
    shutil.copytree(out / "checkpoint-6", killed / "checkpoint-6")
    resumed = train.main([str(setup / "tiny.yaml"), "--output_dir", str(killed)])
    assert resumed.state.global_step == trainer.state.global_step
    after = {s: l for s, l in losses(resumed).items() if s > 6}
    assert after and all(abs(after[s] - curve[s]) <= 1e-3 * abs(curve[s]) + 1e-4 for s in after), (after, curve)


def test_evaluate_model_writes_table_json_and_confusion_png(setup):
    import evaluate_model

    model_dir = setup / "run" / "final"
    if not model_dir.exists():
        pytest.skip("needs the training test's model")
    out = setup / "eval"
    results = evaluate_model.main(["--model", str(model_dir), "--dataset_path", str(setup / "data"), "--split",
                                   "all", "--zero_shot", "--random_baseline", "--out", str(out)])
    table = (out / "results.md").read_text()
    assert "Z-savee" in table and "Micro F1" in table and "Random F1" in table
    assert (out / "confusion-savee.png").stat().st_size > 1000
    saved = json.loads((out / "results.json").read_text())
    assert saved["per_corpus"]["savee"]["n"] == 84
    assert set(saved["per_corpus"]["savee"]["per_class_f1"]) == {
        "anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"}  # 'other' is banned, absent
    assert results["random_head"]["savee"]["n"] == 84
    # held-out speakers of the training domain give the source statistics; adaptation then runs label-free
    evaluate_model.main(["--model", str(model_dir), "--dataset_path", str(setup / "data"), "--split", "validation",
                         "--save_source_statistics", "--out", str(out)])
    assert len(json.loads((model_dir / "config.json").read_text())["source_feature_mean"]) == 32
    for method in ("feature", "logit", "prior", "speaker"):
        adapted = evaluate_model.main(["--model", str(model_dir), "--dataset_path", str(setup / "data"), "--split",
                                       "all", "--adaptation", method, "--out", str(out / method)])
        assert adapted["adaptation"] == method and adapted["per_corpus"]["savee"]["n"] == 84


def test_a_validation_subset_is_judged_on_the_corpus_emotions(setup):
    """--max_eval_clips draws a few clips, which hold only some of SAVEE's seven emotions: banning keeps all seven."""
    import numpy as np
    from datasets import load_from_disk
    from transformers import WhisperFeatureExtractor

    import train
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.batch import predict_logits
    from modeling_emotion_whisper.inference import predict_clips
    from modeling_emotion_whisper.metrics import evaluate_logits
    from modeling_emotion_whisper.packing import ClipCollator

    out = setup / "subset-eval"
    train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--max_steps", "2", "--save_steps", "100",
                "--max_eval_clips", "4"])
    evaluation = json.loads((out / "final" / "eval_results.json").read_text())
    data = load_from_disk(str(setup / "data"))
    savee = sorted(set(data["train"]["label"]) | set(data["validation"]["label"]))
    clips = data["validation"].shuffle(seed=0).select(range(4))  # train.py's draw (seed 0 in tiny.yaml)
    assert len(set(clips["label"])) < len(savee) == 7
    model = WhisperForEmotionClassification.from_pretrained(out / "final").eval()
    logits = predict_logits(model, clips, ClipCollator(WhisperFeatureExtractor(feature_size=80,
                                                                               return_attention_mask=True)))
    expected = evaluate_logits(logits, np.asarray(clips["label"]), evaluation["label_names"], savee,
                               model.config.label_prior, model.config.logit_adjustment_tau)
    assert evaluation["per_corpus"]["savee"]["confusion_matrix"] == expected["confusion_matrix"]
    assert evaluation["label_sets"] == {"savee": savee}
    # the saved default (pipeline, predict, timeline): raw logits, unless the run asks for the adjustment
    assert not model.config.apply_logit_adjustment
    out = setup / "adjusted"
    train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--max_steps", "1", "--save_steps", "100",
                "--max_eval_clips", "4", "--apply_logit_adjustment", "true"])
    model = WhisperForEmotionClassification.from_pretrained(out / "final").eval()
    assert model.config.apply_logit_adjustment
    extractor = WhisperFeatureExtractor(feature_size=80)
    default = predict_clips(model, extractor, list(clips["path"][:2]), return_raw=True)
    raw = predict_clips(model, extractor, list(clips["path"][:2]), return_raw=True, logit_adjustment=False)
    torch.testing.assert_close(torch.tensor(np.stack([r["logits"] for r in default])),
                               model.adjust_logits(torch.tensor(np.stack([r["logits"] for r in raw]))))


def test_two_process_cpu_launch(setup):
    out = setup / "ddp"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               str(REPO / "train.py"), str(setup / "tiny.yaml"), "--output_dir", str(out), "--num_epochs", "2"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    resolved = json.loads((out / "run_config.json").read_text())
    assert resolved["world_size"] == 2
    assert (out / "final" / "model.safetensors").exists()


def test_two_process_group_statistics_stay_identical(setup):
    """Per-speaker standardization tracks each group's statistics in training forwards; the two ranks see different
    clips, so without synchronization their statistics (and so what the head reads) drift apart."""
    out = setup / "ddp-groups"
    out.mkdir()
    script = out / "train_and_dump.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "import torch\n"
        "import train\n"
        "from modeling_emotion_whisper.trainer import end_distributed\n"
        "trainer = train.main(sys.argv[1:])\n"
        "model = trainer.model\n"
        "torch.save({'start': model.start_statistics, 'mean': model.group_mean.cpu(), 'var': model.group_var.cpu()},\n"
        f"           {str(out)!r} + f'/groups-{{trainer.args.process_index}}.pt')\n"
        "end_distributed()\n")
    # the statistics each rank starts from, to check that training moved them
    (out / "sitecustomize.py").write_text(
        "import modeling_emotion_whisper.modeling_emotion_whisper as m\n"
        "setter = m.WhisperForEmotionClassification.set_group_statistics\n"
        "def keep(self, mean, var, group_of_domain):\n"
        "    setter(self, mean, var, group_of_domain)\n"
        "    self.start_statistics = None if mean is None else (self.group_mean.clone(), self.group_var.clone())\n"
        "m.WhisperForEmotionClassification.set_group_statistics = keep\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(out), str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               str(script), str(setup / "tiny.yaml"), "--output_dir", str(out / "run"), "--max_steps", "4",
               "--save_steps", "100", "--feature_standardization", "speaker", "--augment_p", "0"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [torch.load(out / f"groups-{rank}.pt") for rank in (0, 1)]
    start_mean, start_var = ranks[0]["start"]
    assert not torch.allclose(ranks[0]["mean"], start_mean)  # training updated them
    for key in ("mean", "var"):
        torch.testing.assert_close(ranks[0][key], ranks[1][key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_training_configs_parse(config):
    import train

    # bf16 needs a GPU; everything else must be a valid argument of train.py
    model_args, data_args, packing, training_args = train.parse_arguments(
        [str(config), "--bf16", "false", "--use_cpu", "true"])
    assert packing.window_seconds <= 30 and packing.fill == 0.8 and model_args.domain_loss_weight == 0.01
    assert data_args.dataset_path and training_args.output_dir


@pytest.mark.parametrize("config", sorted((REPO / "configs" / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_accelerate_configs_load(config):
    from accelerate.commands.config.config_args import load_config_from_file

    loaded = load_config_from_file(str(config))
    assert loaded.num_processes >= 1 and loaded.distributed_type is not None


def test_arguments_are_honoured_or_refused_never_ignored(setup):
    import train

    base = [str(setup / "tiny.yaml"), "--output_dir", str(setup / "short")]
    trainer = train.main(base + ["--max_steps", "3"])  # the smaller of max_steps and num_epochs wins
    assert trainer.state.global_step == 3 and trainer.args.max_steps == 3
    sampled = train.main(base + ["--max_steps", "2", "--corpus_sampling_temperature", "0", "--output_dir",
                                 str(setup / "sampled")])
    resolved = json.loads((setup / "sampled" / "run_config.json").read_text())
    assert sampled.state.global_step == 2 and resolved["packing"]["corpus_sampling_temperature"] == 0
    assert resolved["audio_share"] == {"savee": 1.0}
    with pytest.raises(SystemExit, match="corpus_sampling_temperature 2.0: use a value from 0"):
        train.main(base + ["--corpus_sampling_temperature", "2"])
    with pytest.raises(SystemExit, match="gradient_accumulation_steps 4 is not used.*--accumulation_schedule"):
        train.main(base + ["--gradient_accumulation_steps", "4"])
    with pytest.raises(SystemExit, match="per_device_train_batch_size 16 is not used.*--packs_per_batch"):
        train.main(base + ["--per_device_train_batch_size", "16"])
    with pytest.raises(SystemExit, match="--input_normalization must be one of none, utterance, got 'cepstral'"):
        train.main(base + ["--input_normalization", "cepstral"])
    with pytest.raises(SystemExit, match="--channel_augment_p is a probability: give a value from 0 to 1"):
        train.main(base + ["--channel_augment_p", "1.5"])
    channel = train.main(base + ["--max_steps", "1", "--augment_p", "0", "--channel_augment_p", "0.5",
                                 "--output_dir", str(setup / "channel")])
    augmenter = channel.data_collator.augmenter  # the speaker and channel transforms reach the packs alone
    assert augmenter.channel_p == 0.5 and augmenter.p == 0 and channel.state.global_step == 1
    with pytest.raises(SystemExit, match="--push_to_hub needs --hub_model_id"):  # before any data is read
        train.main(base + ["--push_to_hub", "true", "--dataset_path", str(setup / "missing")])
    # a stream head needs a trained per-frame head to start from, and the stream's timing rules: refused before
    # anything is trained or written
    refused = [str(setup / "tiny.yaml"), "--output_dir", str(setup / "refused"), "--fit_stream_head", "true"]
    no_frame_head = "--fit_stream_head starts from a trained per-frame head"
    with pytest.raises(SystemExit, match=no_frame_head):  # no refit: no frame head
        train.main(refused)
    with pytest.raises(SystemExit, match=no_frame_head):  # a refit from Whisper with nothing trained
        train.main(refused + ["--num_epochs", "0", "--refit_head", "corpus"])
    with pytest.raises(SystemExit, match=no_frame_head):  # the trained head reads every layer: not the frames' head
        train.main(refused + ["--refit_head", "corpus", "--layer_concatenation", "true"])
    with pytest.raises(SystemExit, match="--stream_head_hop / --stream_head_context: hop must be"):
        train.main(refused + ["--refit_head", "corpus", "--stream_head_hop", "0.25"])
    with pytest.raises(SystemExit, match="--stream_head_start_share must be between 0 and 1"):
        train.main(refused + ["--refit_head", "corpus", "--stream_head_start_share", "1.5"])
    with pytest.raises(SystemExit, match="fits a stream head on a trained model"):
        train.main(refused + ["--num_epochs", "0"])
    assert not (setup / "refused").exists()


def test_the_adversary_predicts_the_attribute_asked_for(setup):
    """--domain_attribute corpus / language: the domain head gets one class per corpus / language and every packed
    clip's domain label is its class, not its speaker's; the refit and standardization keep the build's ids."""
    import numpy as np
    from datasets import load_from_disk

    import train

    vocabulary = ["ased|1|Amharic", "ravdess|01|English", "ravdess|02|English", "savee|DC|English", "nemo|SB0|Polish"]
    assert train.adversary_domains(vocabulary, "speaker") == (5, None)
    count, mapping = train.adversary_domains(vocabulary, "corpus")
    assert count == 4 and mapping.tolist() == [0, 2, 2, 3, 1]
    count, mapping = train.adversary_domains(vocabulary, "language")
    assert count == 3 and mapping.tolist() == [0, 1, 1, 1, 2]
    with pytest.raises(SystemExit, match="corpus.speaker.language"):
        train.adversary_domains(["no separators"], "corpus")

    base = [str(setup / "tiny.yaml"), "--output_dir", str(setup / "by-corpus"), "--max_steps", "1"]
    trainer = train.main(base + ["--domain_attribute", "corpus"])
    rows = load_from_disk(str(setup / "data"))["train"]
    assert len(set(rows["domain"])) > 1  # the fixture's speakers: several domains, one corpus
    assert trainer.model.config.num_domains == 1 and trainer.model.domain_head.out_features == 1
    assert np.all(trainer.data_collator.domains == 0) and len(trainer.data_collator.domains) == len(rows)
    with pytest.raises(SystemExit, match="--domain_attribute must be one of speaker, corpus, language"):
        train.main(base + ["--domain_attribute", "gender"])
    with pytest.raises(SystemExit, match="--feature_standardization corpus looks up"):
        train.main(base + ["--domain_attribute", "language", "--feature_standardization", "corpus"])


def test_continuing_a_model_onto_more_domains_and_the_prior(setup, caplog):
    import numpy as np
    from datasets import load_from_disk

    import train
    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.configuration_emotion_whisper import EMOTIONS

    rows = load_from_disk(str(setup / "data"))["train"]
    small = WhisperForEmotionClassification.from_whisper(str(setup / "whisper-tiny"), num_domains=2)
    small.save_pretrained(setup / "two-domains")
    model_args = train.ModelArguments(model_name_or_path=str(setup / "two-domains"))
    model = train.build_model(model_args, rows, num_domains=5)
    assert model.config.num_domains == 5 and model.domain_head.out_features == 5
    torch.testing.assert_close(model.emotion_head.weight, small.emotion_head.weight)  # the emotion head is kept
    assert "domain head has 2 domains (speaker), the data 5 (speaker)" in caplog.text
    model.save_pretrained(setup / "five-speakers")
    caplog.clear()  # as many classes, but corpora: the rows would be reused under other meanings
    by_corpus = train.build_model(train.ModelArguments(model_name_or_path=str(setup / "five-speakers"),
                                                       domain_attribute="corpus"), rows, num_domains=5)
    assert "domain head has 5 domains (speaker), the data 5 (corpus)" in caplog.text
    assert by_corpus.config.domain_attribute == "corpus"
    assert "trained with input_normalization" not in caplog.text
    train.build_model(train.ModelArguments(model_name_or_path=str(setup / "five-speakers"),
                                           input_normalization="utterance"), rows, num_domains=5)
    assert "trained with input_normalization none, this run uses utterance" in caplog.text
    assert not torch.equal(by_corpus.domain_head.weight, model.domain_head.weight)
    # the prior is the hard-label distribution: 'other' (never a hard label, soft mass from smoothing only) is 0
    prior = np.asarray(model.config.label_prior)
    hard = np.bincount(rows["label"], minlength=len(EMOTIONS)) / len(rows)
    np.testing.assert_allclose(prior, hard)
    assert prior[EMOTIONS.index("other")] == 0
    logits = torch.zeros(1, len(EMOTIONS))
    assert model.adjust_logits(logits)[0, EMOTIONS.index("other")] == 0  # not boosted

    # With corpus sampling, clips are drawn unevenly: the prior is the label distribution of the draws.
    from modeling_emotion_whisper.trainer import PackingArguments, clip_draw_weights

    first_two = sorted(set(rows["label"]))[:2]  # corpus b: the clips of two emotions, a: the rest
    two = rows.map(lambda row: {"dataset": "b" if row["label"] in first_two else "a"})
    weights = clip_draw_weights(two, PackingArguments(corpus_sampling_temperature=0))
    drawn = train.build_model(model_args, two, num_domains=5, draw_weights=weights)
    labels, corpus = np.asarray(two["label"]), np.asarray(two["dataset"])
    per_corpus = [np.bincount(labels[corpus == c], minlength=len(EMOTIONS)) / (corpus == c).sum() for c in "ab"]
    hours = [np.asarray(two["duration"])[corpus == c].sum() for c in "ab"]
    # T = 0: equal audio per corpus, so each corpus's label mix weighs in proportion to its clips per hour
    share = np.array([(corpus == c).sum() / h for c, h in zip("ab", hours)])
    expected = (share[:, None] * per_corpus).sum(0) / share.sum()
    np.testing.assert_allclose(drawn.config.label_prior, expected, rtol=1e-6)
    assert not np.allclose(drawn.config.label_prior, prior)


def test_continuing_a_float16_release_trains_in_float32(setup):
    """Releases are saved in float16 (modeling_emotion_whisper.release); continuing one under bf16 autocast used to
    fail in the first layer norm ("mixed dtype (CPU)"), and without autocast it would train half-precision weights."""
    import train
    from modeling_emotion_whisper import WhisperForEmotionClassification

    released = WhisperForEmotionClassification.from_whisper(str(setup / "whisper-tiny"), num_domains=2)
    released.half().save_pretrained(setup / "released-fp16")
    trainer = train.main([str(setup / "tiny.yaml"), "--model_name_or_path", str(setup / "released-fp16"),
                          "--output_dir", str(setup / "from-fp16"), "--max_steps", "2", "--bf16", "true"])
    assert trainer.state.global_step == 2
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}
    assert all(torch.isfinite(torch.tensor(l)) for l in losses(trainer).values())


def test_accumulation_syncs_once_per_optimizer_step(setup, monkeypatch):
    """The seam DeepSpeed (and DDP, FSDP) depend on: accelerate's backward steps a DeepSpeed engine whenever
    `sync_gradients` is set, so each optimizer step must have exactly one synced backward, its last micro-batch,
    whatever the accumulation schedule says."""
    from accelerate import Accelerator

    import train

    calls = []
    original = Accelerator.backward

    def recording_backward(self, loss, **kwargs):
        calls.append(self.sync_gradients)
        return original(self, loss, **kwargs)

    monkeypatch.setattr(Accelerator, "backward", recording_backward)
    trainer = train.main([str(setup / "tiny.yaml"), "--output_dir", str(setup / "sync"), "--max_steps", "8",
                          "--accumulation_schedule", "0:1,3:2,5:3"])
    assert trainer.state.global_step == 8
    expected = [True] * 3 + [False, True] * 2 + [False, False, True] * 3  # accumulation 1, 1, 1, 2, 2, 3, 3, 3
    assert calls == expected
    assert sum(calls) == trainer.state.global_step  # one engine step per optimizer step


def test_training_with_standardization_per_speaker_and_a_head_learning_rate(setup, caplog):
    """train.py with --feature_standardization speaker: each training speaker's statistics are measured before the
    first step and tracked; the heads and layer weights train at --head_learning_rate; the saved model standardizes
    single clips with the source statistics and scores through the command line."""
    import logging

    import train
    from modeling_emotion_whisper import cli
    from modeling_emotion_whisper.trainer import HEAD_PARAMETERS

    caplog.set_level(logging.INFO)
    out = setup / "standardized"
    trainer = train.main([str(setup / "tiny.yaml"), "--output_dir", str(out), "--max_steps", "4",
                          "--feature_standardization", "speaker", "--layer_weighting", "true",
                          "--head_learning_rate", "0.01"])
    from datasets import load_from_disk

    model = trainer.model
    speakers = len(set(load_from_disk(str(setup / "data"))["train"]["domain"]))
    assert f"feature standardization per speaker: statistics of {speakers} groups" in caplog.text
    assert model.group_mean is not None and tuple(model.group_mean.shape) == (speakers, 32)
    rates = {}
    for group in trainer.optimizer.param_groups:
        names = {n for n, p in model.named_parameters() if any(p is q for q in group["params"])}
        for name in names:
            rates[name] = group["initial_lr"]
    assert all(rate == 0.01 for name, rate in rates.items() if name.startswith(HEAD_PARAMETERS))
    assert all(rate == 3e-3 for name, rate in rates.items() if not name.startswith(HEAD_PARAMETERS))
    assert "layer_weights" in rates and any(n.startswith("encoder.") for n in rates)
    saved = json.loads((out / "final" / "config.json").read_text())
    assert saved["feature_standardization"] == "speaker" and len(saved["source_feature_std"]) == 32
    clips = sorted(str(p) for p in (setup / "savee").rglob("*.wav"))[:24]
    assert cli.main(["predict", *clips, "--model", str(out / "final"), "--adapt-to-inputs"]) == 0
    # evaluate_model.py --save_source_statistics reports the model it saves: single clips with the new statistics
    import shutil

    import evaluate_model

    copy = setup / "standardized-copy"
    shutil.copytree(out / "final", copy)
    config = json.loads((copy / "config.json").read_text())
    config["source_feature_mean"] = [m + 3.0 for m in config["source_feature_mean"]]  # far from any clip's
    (copy / "config.json").write_text(json.dumps(config))
    args = ["--model", str(copy), "--dataset_path", str(setup / "data"), "--split", "validation"]
    stored = evaluate_model.main([*args, "--save_source_statistics", "--out", str(setup / "e1")])
    again = evaluate_model.main([*args, "--out", str(setup / "e2")])
    assert stored["overall"] == again["overall"]

"""Train WhisperForEmotionClassification as in the paper (2.3, 2.4, 2.6).

    accelerate launch train.py configs/cpu-whisper-base.yaml [--learning_rate 3e-5 ...]

A config file (YAML or JSON) gives every argument; command-line flags after it override. The steps of `main()`
match docs/training.md: 1 arguments, 2 data, 3 model, 4 packing, 5 trainer, 6 train (resuming), 7 save and evaluate.
"""

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import yaml
from transformers import HfArgumentParser, TrainingArguments, WhisperFeatureExtractor, set_seed

from data_scripts.corpora import corpus_cards
from modeling_emotion_whisper import EmotionWhisperConfig, WhisperForEmotionClassification
from modeling_emotion_whisper.configuration_emotion_whisper import DOMAIN_ATTRIBUTES, INPUT_NORMALIZATIONS
from modeling_emotion_whisper.evaluation import corpus_label_sets, evaluate_model
from modeling_emotion_whisper.head_fit import (STREAM_HEAD_COLUMNS, fit_stream_head, per_frame_head, probe_layout,
                                              refit_head)
from modeling_emotion_whisper.packing import ClipCollator
from modeling_emotion_whisper.trainer import (PackingArguments, build_trainer, check_packing, clip_draw_weights,
                                              end_distributed, record_training_data, train_resuming)

logger = logging.getLogger("train")
REQUIRED_COLUMNS = ("path", "duration", "soft_label", "label", "dataset", "domain")


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="openai/whisper-medium",
        metadata={"help": "A Whisper checkpoint (Hub id or folder) to start from, or a saved emotion-whisper model."})
    domain_loss_weight: float = field(default=0.01, metadata={"help": "w_d in L = CE_emo - w_d * CE_dom."})
    domain_attribute: str = field(default="speaker", metadata={
        "help": "What the adversarial domain head predicts (and so what the encoder is pushed to forget): speaker "
                "(the build's domains, corpus x speaker x language: the paper's), corpus or language."})
    domain_confusion: bool = field(default=False, metadata={
        "help": "The encoder learns to make the domain head's posterior uniform (Tzeng et al. 2015) instead of "
                "reversing its gradient (the paper); the head still learns the domains."})
    freeze_conv_stem: bool = field(default=True, metadata={"help": "Freeze the two input convolutions (paper 2.5)."})
    freeze_encoder_layers: int = field(
        default=0, metadata={"help": "Also freeze the lowest N transformer layers (a compute budget, not the paper)."})
    classifier_dropout: float = field(default=0.0, metadata={"help": "Dropout before the emotion and domain heads."})
    layer_weighting: bool = field(
        default=False, metadata={"help": "Heads read a learned softmax-weighted sum of every encoder hidden state."})
    layer_concatenation: bool = field(
        default=False, metadata={"help": "Heads read every encoder hidden state side by side (the probe's features)."})
    trainable_encoder_layers: int = field(
        default=-1, metadata={"help": "Encoder depth that trains: -1 all (the paper), 0 frozen, k the top k layers."})
    feature_standardization: str = field(default="none", metadata={
        "help": "Standardize the heads' input per 'speaker' or per 'corpus' in training, with each group's own "
                "statistics (and at inference with a group of inputs'); 'none' as in the paper."})
    input_normalization: str = field(default="none", metadata={
        "help": "'utterance': each clip's log-mel has its per-bin mean over the clip moved to the clip's overall "
                "mean before the encoder (a channel's colouring removed, in training and at every prediction); "
                "'none' as in the paper."})
    standardization_momentum: float = field(
        default=0.01, metadata={"help": "Per-clip weight of the running update of a group's statistics."})
    head_learning_rate: float = field(default=0.0, metadata={
        "help": "Peak learning rate of the heads and layer weights (0: --learning_rate, as for the encoder)."})
    logit_adjustment_tau: float = field(default=1.0, metadata={"help": "tau of the saved logit adjustment."})
    apply_logit_adjustment: bool = field(default=False, metadata={
        "help": "Whether the saved model adjusts its logits by the training label prior unless told otherwise "
                "(pipeline, predict, timeline, live); evaluations report both. Off: on corpora never heard it gains "
                "(leave one corpus out, six targets: +1.6 single clips, +2.8 per corpus), on the training corpora's "
                "unseen speakers it loses (ASED significantly), and the release rule's veto keeps it off "
                "(docs/history.md 6g)."})
    refit_head: str = field(default="none", metadata={
        "help": "'speaker' or 'corpus': after training (or instead of it, with --num_epochs 0), the heads read every "
                "hidden state side by side, z-scored within each speaker or corpus, and the emotion head is refitted "
                "as a linear probe on every training clip (modeling_emotion_whisper.head_fit); 'none': keep the "
                "trained head."})
    refit_head_c: float = field(default=0.5, metadata={"help": "Inverse L2 strength of the refit (scikit-learn's C)."})
    refit_head_levels: str = field(default="", metadata={
        "help": "Comma-separated groupings the refit z-scores the training clips within, stacked (speaker, corpus, "
                "all = the training set as one group); empty: the --refit_head level alone."})
    fit_stream_head: bool = field(default=False, metadata={
        "help": "After training (and any refit), fit a head for the live stream on the newest frames of short "
                "windows of training clips (modeling_emotion_whisper.head_fit.fit_stream_head); needs a per-frame "
                "head. With --num_epochs 0, fits it on the model as it is."})
    stream_head_context: float = field(default=4.0, metadata={
        "help": "Seconds of audio in each window the stream head is fitted on (the stream's --context)."})
    stream_head_hop: float = field(default=0.5, metadata={
        "help": "Seconds at each window's end whose frames it is fitted on (the stream's --hop)."})
    stream_head_windows: int = field(default=1500, metadata={"help": "Windows the stream head is fitted on."})
    stream_head_start_share: Optional[float] = field(default=None, metadata={
        "help": "Unset: windows of random length (about half shorter than --stream_head_context, as a "
                "stream's first windows are); a share: that share of a stream's first windows, the rest full "
                "(head_fit.stream_windows)."})


@dataclass
class DataArguments:
    dataset_path: str = field(default="data/corpus", metadata={"help": "Output folder of data_scripts.build."})
    train_corpora: str = field(default="", metadata={"help": "Comma-separated corpora to train on; empty: all."})
    eval_corpora: str = field(default="", metadata={"help": "Comma-separated corpora to validate on; empty: all."})
    max_eval_clips: int = field(default=0, metadata={"help": "Evaluate on at most this many clips (0: all)."})


def parse_arguments(argv):
    """A config file first (YAML or JSON), then command-line overrides."""
    parser = HfArgumentParser((ModelArguments, DataArguments, PackingArguments, TrainingArguments))
    argv = list(argv)
    file_args = []
    if argv and argv[0].endswith((".yaml", ".yml", ".json")):
        path = Path(argv.pop(0))
        if not path.exists():
            raise SystemExit(f"config file {path} not found; the shipped ones are in configs/")
        settings = yaml.safe_load(path.read_text()) if path.suffix != ".json" else json.loads(path.read_text())
        for key, value in settings.items():
            values = value if isinstance(value, list) else [value]
            file_args += [f"--{key}", *[str(v) for v in values]]
    return parser.parse_args_into_dataclasses(args=file_args + argv)


def corpus_filter(text: str):
    return {c.strip() for c in text.split(",") if c.strip()}


def load_splits(data_args):
    """Step 2: the built DatasetDict, checked, filtered to the requested corpora; with the domain vocabulary and
    each corpus's label set in the whole build (what evaluation's banning keeps, whatever validation holds)."""
    from datasets import load_from_disk

    path = Path(data_args.dataset_path)
    if not (path / "dataset_dict.json").exists():
        raise SystemExit(f"{path} is not a dataset built by data_scripts.build (no dataset_dict.json); build it first:"
                         " python -m data_scripts.build --corpus NAME=PATH ... --out " + str(path)
                         + " (README.md, 'Data', has the commands behind the shipped configs)")
    data = load_from_disk(str(path))
    for split in ("train", "validation"):
        if split not in data:
            raise SystemExit(f"{path} has no '{split}' split")
        missing = [c for c in REQUIRED_COLUMNS if c not in data[split].column_names]
        if missing:
            raise SystemExit(f"{path}[{split}] lacks the column(s) {', '.join(missing)}; rebuild with data_scripts.build")
    train_only, eval_only = corpus_filter(data_args.train_corpora), corpus_filter(data_args.eval_corpora)
    known = set(data["train"].unique("dataset"))
    for name in train_only | eval_only:
        if name not in known:
            raise SystemExit(f"corpus {name!r} is not in {path}; it holds {', '.join(sorted(known))}")
    train = data["train"].filter(lambda d: d in train_only, input_columns="dataset") if train_only else data["train"]
    validation = data["validation"]
    if eval_only:
        validation = validation.filter(lambda d: d in eval_only, input_columns="dataset")
    vocabulary = json.loads((path / "domains.json").read_text())
    return train, validation, vocabulary, corpus_label_sets(data)


def adversary_domains(vocabulary: list[str], attribute: str):
    """The domain head's classes for `attribute`: (number of classes, map from the build's domain ids to them, or
    None for the build's own). The build names each domain "corpus|speaker|language" (data_scripts.build)."""
    if attribute == "speaker":
        return len(vocabulary), None
    parts = [name.split("|") for name in vocabulary]
    if any(len(p) != 3 for p in parts):
        raise SystemExit("the build's domains.json does not name domains corpus|speaker|language; rebuild it with "
                         "data_scripts.build, or keep --domain_attribute speaker")
    keys = [p[0] if attribute == "corpus" else p[2] for p in parts]
    names = sorted(set(keys))
    return len(names), np.asarray([names.index(k) for k in keys], dtype=np.int64)


def is_emotion_whisper(name_or_path) -> bool:
    """A saved emotion-whisper model (its heads trained), as opposed to a Whisper checkpoint."""
    try:
        found = EmotionWhisperConfig.get_config_dict(name_or_path)[0].get("model_type")
    except OSError:
        found = None
    return found == EmotionWhisperConfig.model_type


def build_model(model_args, train, num_domains, draw_weights=None, as_saved: bool = False):
    """Step 3: from a Whisper checkpoint (new heads) or from a saved emotion-whisper model (continue training), or
    with `as_saved` a saved model exactly as it is (nothing trains or is refitted: only a stream head is added)."""
    if as_saved:
        if not is_emotion_whisper(model_args.model_name_or_path):
            raise SystemExit("--num_epochs 0 --fit_stream_head fits a stream head on a trained model: pass a saved "
                             "emotion-whisper model as --model_name_or_path")
        return WhisperForEmotionClassification.from_pretrained(model_args.model_name_or_path, dtype=torch.float32)
    # Logit adjustment's prior: the hard-label distribution of the training clips as packing draws them (with
    # corpus sampling, `draw_weights`: the loss counts each drawn clip once). A class that is never a hard label
    # (e.g. "other", which gets soft mass only from neutral smoothing) has prior 0 and is not adjusted; the mean
    # soft label would give it ~0.01 and a +4.8 nat boost for a class no clip was ever labelled with.
    hard = np.asarray(train["label"], dtype=np.int64)
    counts = np.bincount(hard, weights=draw_weights, minlength=len(np.asarray(train[0]["soft_label"])))
    prior = counts / max(counts.sum(), 1e-12)
    is_ours = is_emotion_whisper(model_args.model_name_or_path)
    settings = dict(domain_loss_weight=model_args.domain_loss_weight, freeze_conv_stem=model_args.freeze_conv_stem,
                    classifier_dropout=model_args.classifier_dropout, label_prior=[float(p) for p in prior],
                    layer_weighting=model_args.layer_weighting, layer_concatenation=model_args.layer_concatenation,
                    trainable_encoder_layers=model_args.trainable_encoder_layers,
                    feature_standardization=model_args.feature_standardization,
                    input_normalization=model_args.input_normalization,
                    domain_attribute=model_args.domain_attribute, domain_confusion=model_args.domain_confusion,
                    standardization_momentum=model_args.standardization_momentum,
                    logit_adjustment_tau=model_args.logit_adjustment_tau,
                    apply_logit_adjustment=model_args.apply_logit_adjustment,
                    # measured again on the validation clips after training (step 7), for the model as it ends up
                    source_feature_mean=None, source_feature_std=None,
                    # fitted to the encoder as saved, which this run changes; not built, so no unused parameters
                    # under DDP (step 6c fits a new one when asked)
                    stream_head=False)
    if is_ours:
        saved = EmotionWhisperConfig.get_config_dict(model_args.model_name_or_path)[0]
        if saved.get("stream_head"):
            logger.warning("dropping the saved model's stream head: it was fitted to the encoder before this run; "
                           "--fit_stream_head fits a new one")
        # A different head input (layer weighting or concatenation switched) starts new heads on the trained encoder.
        # Releases are saved in float16; training needs float32 weights (bf16 autocast refuses half-precision ones).
        model = WhisperForEmotionClassification.from_pretrained(model_args.model_name_or_path, dtype=torch.float32,
                                                                ignore_mismatched_sizes=True, **settings)
        trained_on = saved.get("input_normalization", "none")
        if trained_on != model_args.input_normalization:
            logger.warning("the model was trained with input_normalization %s, this run uses %s: its encoder will see "
                           "other features (pass --input_normalization %s to keep them)", trained_on,
                           model_args.input_normalization, trained_on)
        saved_attribute = saved.get("domain_attribute", "speaker")  # models saved before it was recorded: the paper's
        if model.config.num_domains != num_domains or saved_attribute != model_args.domain_attribute:
            # Domain ids index this dataset's vocabulary of this attribute, not the one the model was trained with,
            # so the old rows mean nothing here: a new adversarial head of the right size (the emotion head is kept).
            logger.warning("the model's domain head has %d domains (%s), the data %d (%s): starting a new domain head",
                           model.config.num_domains, saved_attribute, num_domains, model_args.domain_attribute)
            model.resize_domain_head(num_domains)
    else:
        model = WhisperForEmotionClassification.from_whisper(model_args.model_name_or_path, num_domains=num_domains,
                                                             **settings)
    hours = {}
    for name, seconds in zip(train["dataset"], train["duration"]):
        hours[name] = hours.get(name, 0.0) + seconds / 3600
    record_training_data(model.config, hours, corpus_cards(hours))
    for layer in model.encoder.layers[: model_args.freeze_encoder_layers]:
        layer.requires_grad_(False)
    return model


def main(argv=None):
    # 1. Arguments, logging, seed.
    model_args, data_args, packing, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    set_seed(training_args.seed)
    if training_args.push_to_hub and not training_args.hub_model_id:  # before hours of training, not after
        raise SystemExit("--push_to_hub needs --hub_model_id ORG/NAME")
    if model_args.refit_head not in ("none", "speaker", "corpus"):
        raise SystemExit(f"--refit_head must be none, speaker or corpus (the group each clip is z-scored within), "
                         f"got {model_args.refit_head!r}")
    for name, choices in (("domain_attribute", DOMAIN_ATTRIBUTES), ("input_normalization", INPUT_NORMALIZATIONS)):
        if getattr(model_args, name) not in choices:  # the config refuses them too, but only after the data is read
            raise SystemExit(f"--{name} must be one of {', '.join(choices)}, got {getattr(model_args, name)!r}")
    check_packing(packing)
    if model_args.domain_attribute != "speaker" and model_args.feature_standardization != "none":
        raise SystemExit(f"--feature_standardization {model_args.feature_standardization} looks up each clip's "
                         f"statistics by the build's domain ids, which --domain_attribute "
                         f"{model_args.domain_attribute} replaces: use one of the two")
    if (packing.num_epochs <= 0 and training_args.max_steps <= 0 and model_args.refit_head == "none"
            and not model_args.fit_stream_head):
        raise SystemExit("--num_epochs 0 trains nothing: add --refit_head speaker (a linear probe on the encoder as "
                         "it is), --fit_stream_head, or give a number of passes")

    # 2. Data (filtering writes cache files: the main process goes first, the others reuse its cache).
    with training_args.main_process_first(desc="loading the corpus"):
        train, validation, vocabulary, label_sets = load_splits(data_args)
    if data_args.max_eval_clips and len(validation) > data_args.max_eval_clips:
        validation = validation.shuffle(seed=training_args.seed).select(range(data_args.max_eval_clips))
    logger.info("train: %d clips (%.2f h) from %s; validation: %d clips", len(train), sum(train["duration"]) / 3600,
                ", ".join(sorted(train.unique("dataset"))), len(validation))

    # 3. Model and feature extractor.
    try:
        draw_weights = clip_draw_weights(train, packing)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    will_train = packing.num_epochs > 0 or training_args.max_steps > 0
    head_only = not will_train and model_args.refit_head == "none"
    num_domains, domain_map = adversary_domains(vocabulary, model_args.domain_attribute)
    model = build_model(model_args, train, num_domains, draw_weights, as_saved=head_only)
    if model_args.fit_stream_head:  # checked before hours of training, not after
        from modeling_emotion_whisper.streaming import check_timing

        # the per-frame head step 6c starts from: the model's own, or what step 6b's probe layout keeps of it
        if model_args.refit_head == "none":
            has_frames = model.frame_head is not None
        else:
            trained = will_train or is_emotion_whisper(model_args.model_name_or_path)
            has_frames = trained and per_frame_head(model) is not None
        if not has_frames:
            raise SystemExit("--fit_stream_head starts from a trained per-frame head, which this run does not give "
                             "the model: train with --refit_head corpus from a model whose emotion head reads the "
                             "final layer (no --layer_weighting/--layer_concatenation), or start from a refitted "
                             "model; or drop --fit_stream_head")
        missing = [c for c in STREAM_HEAD_COLUMNS if c not in train.column_names]
        if missing:
            raise SystemExit(f"--fit_stream_head needs the training clips' columns {', '.join(missing)}, which "
                             f"{data_args.dataset_path} lacks: rebuild it with data_scripts.build")
        try:
            check_timing(model_args.stream_head_hop, model_args.stream_head_context)
        except ValueError as err:
            raise SystemExit(f"--stream_head_hop / --stream_head_context: {err}") from None
        if model_args.stream_head_windows < 1:
            raise SystemExit("--stream_head_windows must be at least 1")
        if model_args.stream_head_start_share is not None and not 0 <= model_args.stream_head_start_share <= 1:
            raise SystemExit("--stream_head_start_share must be between 0 and 1 (or unset)")
    feature_extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True)

    # 4. Packing (Algorithm 1) and 5. the Trainer. Pushing goes through our release path after training (checked
    # folder, model card), not through the Trainer's own checkpoint pushes.
    # --num_epochs 0: no fine-tuning (with --refit_head, a linear probe on the encoder as it is).
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False
    trainer, summary = None, {}
    if will_train:
        try:
            trainer, summary = build_trainer(model, training_args, train, feature_extractor, packing,
                                             head_learning_rate=model_args.head_learning_rate or None,
                                             domain_map=domain_map)
        except ValueError as err:
            raise SystemExit(str(err)) from None
    if training_args.process_index == 0:  # the resolved configuration, saved with the run
        os.makedirs(training_args.output_dir, exist_ok=True)
        resolved = {"model": asdict(model_args), "data": asdict(data_args), "packing": asdict(packing),
                    "training": training_args.to_dict(), "command": sys.argv, **summary}
        Path(training_args.output_dir, "run_config.json").write_text(json.dumps(resolved, indent=1, default=str))

    # 6. Train, resuming from the last checkpoint of this output_dir unless told otherwise.
    if trainer is not None:
        train_resuming(trainer)
        model = trainer.model
    is_main = training_args.process_index == 0

    # 6b. Refit the emotion head as a linear probe on every training clip (main process; the others wait to save).
    if model_args.refit_head != "none" and is_main:
        # the trained head keeps scoring frames (head_fit.probe_layout); a new Whisper's random one does not
        trained = trainer is not None or is_emotion_whisper(model_args.model_name_or_path)
        model = probe_layout(model, model_args.refit_head, keep_frame_head=trained)
        fit = refit_head(model, train, ClipCollator(feature_extractor), C=model_args.refit_head_c,
                         batch_size=training_args.per_device_eval_batch_size, bf16=training_args.bf16,
                         levels=[level for level in model_args.refit_head_levels.split(",") if level] or None)
        logger.info("head refit: %s", fit)
        Path(training_args.output_dir, "refit_head.json").write_text(json.dumps(fit, indent=1))

    # 6c. The live stream's head, fitted on the encoder as it now is (main process; one saved with the model this run
    # started from was dropped in step 3, or, when only heads are fitted, is replaced here: it starts from frame_head).
    if is_main and model_args.fit_stream_head:
        try:
            fit = fit_stream_head(model, feature_extractor, train, context=model_args.stream_head_context,
                                  hop=model_args.stream_head_hop, windows=model_args.stream_head_windows,
                                  seed=training_args.seed, start_share=model_args.stream_head_start_share)
        except ValueError as err:  # no per-frame head, or a dataset without the columns it needs
            raise SystemExit(str(err)) from None
        logger.info("stream head: %s", fit)
        Path(training_args.output_dir, "stream_head.json").write_text(json.dumps(fit, indent=1))

    # 7. Evaluate on the validation clips, then save the final model. A refitted head came with the statistics it
    # was fitted with (the training clips'); otherwise the validation clips' (unseen speakers of the training domains)
    # are kept in the config for single clips and unsupervised adaptation.
    final_dir = Path(training_args.output_dir) / "final"
    if is_main:
        metrics = evaluate_model(model, validation, ClipCollator(feature_extractor),
                                 batch_size=training_args.per_device_eval_batch_size,
                                 # a stream head alone leaves them as saved, a refit stored its own
                                 store_source_statistics=not head_only and model_args.refit_head == "none",
                                 corpus_labels=label_sets)
    if trainer is not None and model is trainer.model:
        trainer.save_model(str(final_dir))
    elif is_main:
        model.save_pretrained(final_dir)
    if is_main:
        metrics.update(split="validation", zero_shot=False)
        (final_dir / "eval_results.json").write_text(json.dumps(metrics, indent=1))
        logger.info("validation: %s", {k: v for k, v in metrics["overall"].items() if k != "confusion_matrix"})
        if push_to_hub:
            from modeling_emotion_whisper.release import ReleaseError, release

            try:
                release(final_dir, training_args.hub_model_id, out=Path(training_args.output_dir) / "release",
                        push_to_hub=True, eval_json=[final_dir / "eval_results.json"])
            except ReleaseError as err:  # the trained model is saved either way
                logger.error("push to the Hub failed: %s", err)
    return trainer


if __name__ == "__main__":
    main()
    end_distributed()

"""Fine-tune on Hume-Prosody (paper 3.2), or on anyone's own labels.

    python finetune_hume.py --data_dir ComParE2023_EmotionShare/data --model_name_or_path checkpoints/emotion-whisper-base \
        --output_dir runs/hume

Hume-Prosody, as the ACM MM 2023 ComParE Emotion Share challenge distributes it: `wav/<file>` and `lab/train.csv`,
`lab/devel.csv`, `lab/test.csv`, each with a `filename` column and the 9 emotion intensities in [0, 1] (Anger,
Boredom, Calmness, Concentration, Determination, Excitement, Interest, Sadness, Tiredness; empty for test).
The emotion head is replaced by a new, randomly initialized 9-output head with sigmoid outputs and mean squared
error; everything else (packing, augmentation, Trainer, accelerate) is the training recipe of train.py.

Your own labels: `--labels_csv my.csv --audio_column path --target_columns a,b,c` for continuous targets in [0, 1],
or `--label_column emotion` for one categorical label per file (softmax + cross-entropy); a `partition` column
(train / devel / test) splits the rows, otherwise 10 % of the files are held out (seeded) for devel.

Steps: 1 arguments; 2 rows per partition; 3 the model with a new head; 4-5 packing and the Trainer;
6 train; 7 devel metrics (per-class and mean Pearson r, micro-F1 at --threshold) and test predictions in the
challenge's submission format (predictions_test.csv: filename + the 9 columns).
"""

import csv
import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import HfArgumentParser, TrainingArguments, WhisperFeatureExtractor, set_seed

from modeling_emotion_whisper import WhisperForEmotionClassification
from modeling_emotion_whisper.audio import AudioError, audio_info
from modeling_emotion_whisper.batch import predict_logits
from modeling_emotion_whisper.features import scores_from_logits
from modeling_emotion_whisper.metrics import classification_metrics
from modeling_emotion_whisper.packing import ClipCollator
from modeling_emotion_whisper.trainer import (PackingArguments, build_trainer, check_packing, end_distributed,
                                              record_training_data, train_resuming)

logger = logging.getLogger("finetune_hume")
HUME_CLASSES = ("Anger", "Boredom", "Calmness", "Concentration", "Determination", "Excitement", "Interest",
                "Sadness", "Tiredness")


@dataclass
class FinetuneArguments:
    model_name_or_path: str = field(default="checkpoints/emotion-whisper-base",
                                    metadata={"help": "An emotion-whisper model (or any Whisper checkpoint)."})
    data_dir: str = field(default="", metadata={"help": "Hume-Prosody data folder holding lab/ and wav/."})
    labels_csv: str = field(default="", metadata={"help": "Instead of --data_dir: one CSV of your own labels."})
    audio_root: str = field(default="", metadata={"help": "Folder the audio paths are relative to (default: CSV's)."})
    audio_column: str = field(default="filename", metadata={"help": "Column naming the audio file."})
    target_columns: str = field(default=",".join(HUME_CLASSES),
                                metadata={"help": "Comma-separated continuous targets in [0, 1] (regression)."})
    label_column: str = field(default="", metadata={"help": "A categorical label column (classification instead)."})
    threshold: float = field(default=0.5, metadata={"help": "Binarization of targets and outputs for micro-F1."})
    devel_fraction: float = field(default=0.1, metadata={"help": "Held out when the CSV has no partition column."})
    freeze_encoder_layers: int = field(default=0, metadata={"help": "Freeze the lowest N encoder layers."})
    new_head: bool = field(default=False, metadata={
        "help": "With --label_column: start every class from a random row, even those the model knows (the "
                "comparison of docs/results.md, 'Few-shot'); by default known emotions start from the trained rows."})


def read_rows(args):
    """Step 2: {partition: [row]} with path, duration, soft_label (the targets), domain, and the file's name."""
    if args.data_dir:
        data = Path(args.data_dir)
        tables = {part: data / "lab" / f"{part}.csv" for part in ("train", "devel", "test")}
        if not tables["train"].exists():
            raise SystemExit(f"{tables['train']} not found: --data_dir must hold lab/train.csv and wav/ "
                             "(the ComParE 2023 Emotion Share layout)")
        root = Path(args.audio_root) if args.audio_root else data / "wav"
        listed = {part: _read_csv(path) for part, path in tables.items() if path.exists()}
    elif args.labels_csv:
        path = Path(args.labels_csv)
        if not path.exists():
            raise SystemExit(f"--labels_csv {path} not found")
        rows = _read_csv(path)
        root = Path(args.audio_root) if args.audio_root else path.parent
        if rows and "partition" in rows[0]:
            listed = {part: [r for r in rows if r["partition"] == part] for part in ("train", "devel", "test")}
        else:
            order = np.random.default_rng(0).permutation(len(rows))
            cut = max(1, int(len(rows) * args.devel_fraction))
            listed = {"train": [rows[i] for i in order[cut:]], "devel": [rows[i] for i in order[:cut]]}
    else:
        raise SystemExit("pass --data_dir (Hume-Prosody) or --labels_csv (your own labels)")
    columns = list(listed["train"][0]) if listed.get("train") else []
    if args.audio_column not in columns:
        raise SystemExit(f"no column {args.audio_column!r} in the labels; columns are {columns}")
    if args.label_column:
        if args.label_column not in columns:
            raise SystemExit(f"no column {args.label_column!r} in the labels; columns are {columns}")
        classes = sorted({r[args.label_column] for rows in listed.values() for r in rows if r[args.label_column]})
    else:
        classes = [c.strip() for c in args.target_columns.split(",") if c.strip()]
        missing = [c for c in classes if c not in columns]
        if missing:
            raise SystemExit(f"target column(s) {missing} not in the labels; columns are {columns}")
    out, skipped = {}, []
    for part, rows in listed.items():
        out[part] = []
        for row in rows:
            path = root / row[args.audio_column]
            try:
                frames, rate = audio_info(path)
            except AudioError as err:
                skipped.append(str(err))
                continue
            if args.label_column:
                target = [float(row[args.label_column] == c) for c in classes] if row[args.label_column] else None
            else:
                target = [float(row[c]) if row.get(c, "") != "" else np.nan for c in classes]
                target = None if any(np.isnan(target)) else target
            if target is None and part != "test":
                skipped.append(f"{path}: no label")
                continue
            out[part].append({"name": row[args.audio_column], "path": str(path), "offset": 0.0,
                              "duration": frames / rate, "soft_label": target or [0.0] * len(classes), "domain": 0})
    for reason in skipped:
        logger.warning("skipped %s", reason)
    return out, classes, skipped


def _read_csv(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return [{k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def regression_metrics(predictions, targets, classes, threshold: float) -> dict:
    """Per-class and mean Pearson r, and micro-F1 of (prediction > threshold) against (target > threshold)."""
    per_class = {c: pearson(predictions[:, k], targets[:, k]) for k, c in enumerate(classes)}
    predicted, actual = predictions > threshold, targets > threshold
    tp = float((predicted & actual).sum())
    precision = tp / max(1.0, float(predicted.sum()))
    recall = tp / max(1.0, float(actual.sum()))
    micro_f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"mean_pearson": float(np.mean(list(per_class.values()))), "pearson": per_class, "micro_f1": micro_f1,
            "threshold": threshold, "n": int(len(targets))}


def start_from_trained_rows(model, trained, classes) -> list[str]:
    """Classes among the trained model's emotions, or mapping onto them through the harmonization table (e.g.
    'happy' -> happiness, 'pleasant surprise' -> 0.7 surprise + 0.3 happiness), start from the trained head's rows
    (a weighted mix for a mapped label); only unknown labels keep their new random row. Returns the reused ones."""
    from modeling_emotion_whisper.labels import HARMONIZATION

    names = [trained.config.id2label[i] for i in range(trained.config.num_labels)]
    # A refitted model scores frames with a head of its own: its rows are reused the same way.
    heads = [(model.emotion_head, trained.emotion_head)]
    if model.frame_head is not None and trained.frame_head is not None:
        heads.append((model.frame_head, trained.frame_head))
    reused = []
    with torch.no_grad():
        for row, label in enumerate(classes):
            key = label.strip().lower()
            weights = {key: 1.0} if key in names else HARMONIZATION.get(key, ({},))[0]
            weights = {e: w for e, w in weights.items() if e in names}
            if not weights:
                continue
            total = sum(weights.values())
            for new, old in heads:
                new.weight[row] = sum(w / total * old.weight[names.index(e)] for e, w in weights.items())
                new.bias[row] = sum(w / total * old.bias[names.index(e)] for e, w in weights.items())
            reused.append(label)
    return reused


def build_model(args, classes, regression: bool):
    """Step 3: the encoder of an emotion-whisper model (or a Whisper checkpoint) with a new, random head."""
    head = dict(id2label=dict(enumerate(classes)), label2id={c: i for i, c in enumerate(classes)},
                emotion_loss="sigmoid_mse" if regression else "soft_ce", num_domains=0, label_prior=None,
                apply_logit_adjustment=False,
                stream_head=False)  # fitted to the old labels' frames: a new label set has no stream head
    config_file = Path(args.model_name_or_path, "config.json")
    is_ours = config_file.exists() and json.loads(config_file.read_text()).get("model_type") == "emotion_whisper"
    if is_ours:
        model = WhisperForEmotionClassification.from_pretrained(args.model_name_or_path, ignore_mismatched_sizes=True,
                                                                dtype=torch.float32, **head)
        for head in (model.emotion_head, model.frame_head):  # new heads even when the sizes happen to match
            if head is not None:
                head.reset_parameters()
        if not regression and not args.new_head:  # categorical labels: the trained head's rows are worth keeping
            trained = WhisperForEmotionClassification.from_pretrained(args.model_name_or_path, dtype=torch.float32)
            reused = start_from_trained_rows(model, trained, classes)
            logger.info("emotion head: %d of %d classes start from the trained rows (%s); the others are new",
                        len(reused), len(classes), ", ".join(reused) or "none")
    else:
        model = WhisperForEmotionClassification.from_whisper(args.model_name_or_path, **head)
    for layer in model.encoder.layers[: args.freeze_encoder_layers]:
        layer.requires_grad_(False)
    return model


def main(argv=None):
    # 1. Arguments.
    parser = HfArgumentParser((FinetuneArguments, PackingArguments, TrainingArguments))
    args, packing, training_args = parser.parse_args_into_dataclasses(args=sys.argv[1:] if argv is None else argv)
    check_packing(packing)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    set_seed(training_args.seed)

    # 2. Rows.
    from datasets import Dataset

    parts, classes, skipped = read_rows(args)
    regression = not args.label_column
    if not parts.get("train"):
        raise SystemExit("no usable training rows; see the warnings above")
    train = Dataset.from_list(parts["train"])

    # 3. Model.
    model = build_model(args, classes, regression)
    source = Path(args.data_dir).name if args.data_dir else Path(args.labels_csv).name
    record_training_data(model.config, {source: sum(train["duration"]) / 3600})
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True)

    # 4-6. Packing, Trainer, training.
    try:
        trainer, summary = build_trainer(model, training_args, train, extractor, packing)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    out = Path(training_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "run_config.json").write_text(json.dumps(
        {"finetune": asdict(args), "packing": asdict(packing), "training": training_args.to_dict(),
         "classes": classes, "skipped": skipped, **summary}, indent=1, default=str))
    train_resuming(trainer)
    trainer.save_model(str(out / "final"))

    # 7. Devel metrics and test predictions.
    results = {}
    collator = ClipCollator(extractor)
    if parts.get("devel"):
        devel = Dataset.from_list(parts["devel"])
        outputs = predict_logits(trainer.model, devel, collator)
        targets = np.asarray(devel["soft_label"])
        if regression:
            results["devel"] = regression_metrics(scores_from_logits(outputs, trainer.model).numpy(), targets, classes,
                                                  args.threshold)
        else:
            results["devel"] = classification_metrics(targets.argmax(1), outputs.argmax(1), classes)
        logger.info("devel: %s", {k: v for k, v in results["devel"].items() if k != "confusion_matrix"})
    if parts.get("test"):
        test = Dataset.from_list(parts["test"])
        outputs = predict_logits(trainer.model, test, collator)
        scores = scores_from_logits(outputs, trainer.model).numpy()  # sigmoid or a max-subtracted softmax
        with open(out / "predictions_test.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([args.audio_column, *classes])
            for name, row in zip(test["name"], scores):
                writer.writerow([name, *[f"{v:.6f}" for v in row]])
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
    end_distributed()

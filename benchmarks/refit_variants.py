"""Does a different head close an in-domain gap? Variants of the head refit on one fine-tuned encoder, offline.

    python benchmarks/refit_variants.py --model runs/whisper-base-six-5p/final --cache runs/exp/six5p-cache.npz

For a model trained with `--refit_head` (train.py step 6b): the pooled features of every training clip (bf16, as the
refit reads them) and of every validation clip (float32, as evaluation reads them) of its training corpora are
extracted once into --cache; then each variant is fitted by head_fit.fit_head, as the refit fits (z-scores within the model's
standardization groups, logistic regression, tau * log(prior) added to the bias) and scored on the validation
clips as a single clip is scored (z-scored with the statistics stored in the config; label banning and logit
adjustment). Variants: the recipe (C 0.5, classes balanced), corpora weighted equally (classes balanced within each),
smaller C, and the paper's fine-tuned head (`frame_head` on the pooled final layer: a linear head's clip score).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from single_clip_statistics import markdown_rows  # noqa: E402  (this folder is on the path when run as a script)


def corpus_balanced_weights(corpora, labels):
    """Each corpus the same total weight, and within it each of its classes the same (the mean weight is 1)."""
    corpora, labels = np.asarray(corpora), np.asarray(labels)
    pairs, index, counts = np.unique(np.stack([corpora, labels.astype(str)]), axis=1, return_inverse=True,
                                     return_counts=True)
    classes_of = {c: int((pairs[0] == c).sum()) for c in np.unique(corpora)}
    per_clip_classes = np.array([classes_of[c] for c in corpora])
    return len(labels) / (len(classes_of) * per_clip_classes * counts[index.ravel()])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A model saved by train.py --refit_head corpus|speaker.")
    parser.add_argument("--cache", required=True, help="npz of the pooled features (written on the first run).")
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--C", default="0.5,0.05", help="Comma-separated inverse regularization strengths.")
    args = parser.parse_args(argv)

    import torch
    from datasets import load_from_disk
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.adaptation import pooled_features
    from modeling_emotion_whisper.evaluation import corpus_label_sets, score
    from modeling_emotion_whisper.features import label_names
    from modeling_emotion_whisper.head_fit import fit_head
    from modeling_emotion_whisper.packing import ClipCollator

    model = WhisperForEmotionClassification.from_pretrained(args.model, dtype=torch.float32).eval()
    config = model.config
    if config.feature_standardization == "none" or not config.layer_concatenation:
        raise SystemExit(f"{args.model} was not refitted (train.py --refit_head): nothing to vary")
    data = load_from_disk(args.dataset_path)
    corpora = sorted(config.training_corpora or data["train"].unique("dataset"))
    train, validation = (data[s].filter(lambda d: d in corpora, input_columns="dataset") for s in ("train", "validation"))
    if Path(args.cache).exists():
        cached = np.load(args.cache)
        train_features, validation_features = cached["train"], cached["validation"]
    else:
        collator = ClipCollator(WhisperFeatureExtractor(feature_size=config.num_mel_bins, return_attention_mask=True))
        train_features = pooled_features(model, train, collator, bf16=True, desc="training clips")
        validation_features = pooled_features(model, validation, collator, desc="validation clips")
        np.savez(args.cache, train=train_features, validation=validation_features)

    names, prior, tau = label_names(model), config.label_prior, config.logit_adjustment_tau
    label_sets = corpus_label_sets(data)
    labels = np.asarray(train["label"])
    single = (validation_features - np.asarray(config.source_feature_mean)) / np.maximum(config.source_feature_std, 1e-5)

    def f1(logits):
        result = score(logits, validation, names, prior, tau, corpus_labels=label_sets)
        return {name: 100 * m["micro_f1"] for name, m in result["per_corpus"].items()} | \
               {"all": 100 * result["overall"]["micro_f1"]}

    rows = {}
    for C in (float(c) for c in args.C.split(",")):
        for label, weights in (("classes balanced", None),
                               ("corpora equal, classes balanced within", corpus_balanced_weights(train["dataset"], labels))):
            weight, bias, _ = fit_head(train_features, train, config, C=C, sample_weight=weights)
            rows[f"refit C {C:g}, {label}"] = f1(single @ weight.T + bias)
    if config.frame_head:
        d_model = config.d_model
        head = model.frame_head
        rows["the paper's fine-tuned head (frame_head)"] = f1(
            validation_features[:, -d_model:] @ head.weight.detach().numpy().T + head.bias.detach().numpy())
    rows["as saved (the model's emotion head)"] = f1(single @ model.emotion_head.weight.detach().numpy().T
                                                     + model.emotion_head.bias.detach().numpy())
    print(f"{args.model}: {len(train)} training clips, {len(validation)} validation clips (single clips, micro-F1)\n")
    print(markdown_rows("head", rows))


if __name__ == "__main__":
    main()

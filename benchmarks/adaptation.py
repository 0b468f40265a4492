"""Adapting to an unseen corpus, measured leave-one-corpus-out (issue: test-time normalization and few-shot).

For each held-out corpus X, the model trained without X (runs/loco-X/final) scores every clip of X. X's speakers
are split into two seeded folds, A and B; each method adapts on A and is scored on B, then the other way round
(clip-weighted mean of both), so no test speaker is ever seen in adaptation:
- zero-shot: no adaptation;
- feature / logit / prior: unsupervised, estimated on fold A's audio without labels;
- speaker: per-speaker feature standardization of the test speaker's own (unlabeled) audio;
- k-shot head: k labelled clips per class of fold A train a fresh copy of the emotion head;
- k-shot head + top 2 layers: the same, fine-tuning the top two encoder layers too (fewer k, test fold subsampled).
Scores: micro-F1 and UA with label banning to X's emotions (all of them in the build); logit adjustment by the
training prior except where the method replaces the prior: the prior adaptation (whose shift already swapped the
training prior for the estimated target prior: adaptation.py, "Prior adaptation and logit adjustment") and k-shot
heads (trained on the target's support set).

    python benchmarks/adaptation.py --dataset_path data/speaker-split --runs runs --corpora ravdess,tess,savee,turevdb
"""

import argparse
import copy

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from modeling_emotion_whisper import WhisperForEmotionClassification
from modeling_emotion_whisper.adaptation import adapt_logits, estimate, apply_offline, few_shot_finetune, replaces_prior
from modeling_emotion_whisper.evaluation import corpus_label_sets, predict_logits
from modeling_emotion_whisper.features import label_names
from modeling_emotion_whisper.metrics import evaluate_logits
from modeling_emotion_whisper.packing import ClipCollator


def folds(speakers, seed):
    unique = sorted(set(speakers))
    rng = np.random.default_rng(seed)
    rng.shuffle(unique)
    half = set(unique[: max(1, len(unique) // 2)])
    first = np.array([s in half for s in speakers])
    return [(first, ~first), (~first, first)]


def support(indices, labels, k, rng):
    chosen = []
    for label in sorted(set(labels[indices])):
        pool = indices[labels[indices] == label]
        chosen += list(rng.choice(pool, size=min(k, len(pool)), replace=False))
    return np.array(sorted(chosen))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--runs", default="runs", help="folder holding loco-<corpus>/final")
    parser.add_argument("--corpora", default="ravdess,tess,savee,turevdb")
    parser.add_argument("--shots", default="1,5,10,20")
    parser.add_argument("--top_layer_shots", default="5,20")
    parser.add_argument("--max_test_clips", type=int, default=300, help="test clips for the top-layer rows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from datasets import concatenate_datasets, load_from_disk

    data = load_from_disk(args.dataset_path)
    everything = concatenate_datasets([data[s] for s in data])
    label_sets = corpus_label_sets(data)
    shots = [int(k) for k in args.shots.split(",") if k]
    top_shots = [int(k) for k in args.top_layer_shots.split(",") if k]
    table = {}
    for corpus in args.corpora.split(","):
        model = WhisperForEmotionClassification.from_pretrained(f"{args.runs}/loco-{corpus}/final",
                                                                dtype=torch.float32).eval()
        names = label_names(model)
        collator = ClipCollator(WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, return_attention_mask=True))
        rows = everything.filter(lambda d: d == corpus, input_columns="dataset")
        labels, speakers = np.asarray(rows["label"]), np.asarray(rows["speaker"])
        allowed = label_sets[corpus]
        logits, features = predict_logits(model, rows, collator, return_features=True, desc=corpus)
        prior, tau = model.config.label_prior, model.config.logit_adjustment_tau
        weight = model.emotion_head.weight.detach().numpy()
        bias = model.emotion_head.bias.detach().numpy()
        results = {}

        def add(method, test, method_logits, adjust=True):
            m = evaluate_logits(method_logits, labels[test], names, allowed, prior if adjust else None, tau)
            hits, ua, n = results.get(method, (0.0, 0.0, 0))
            results[method] = (hits + m["micro_f1"] * m["n"], ua + m["ua"] * m["n"], n + m["n"])

        for fold, (adapt, test) in enumerate(folds(speakers, args.seed)):
            add("zero-shot", test, logits[test])
            for method in ("feature", "logit", "prior"):
                stats = estimate(method, model, logits[adapt], features[adapt])
                add(f"unsupervised: {method}", test,
                    apply_offline(stats, logits[test], features[test], weight, bias), adjust=not replaces_prior(stats))
            add("unsupervised: per-speaker feature", test,
                adapt_logits("speaker", model, logits[test], features[test], speakers[test]))
            rng = np.random.default_rng([args.seed, fold])
            for k in shots:
                chosen = support(np.flatnonzero(adapt), labels, k, rng)
                head = torch.nn.Linear(weight.shape[1], weight.shape[0])
                head.load_state_dict(model.emotion_head.state_dict())
                optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.01)
                x = torch.from_numpy(features[chosen])
                y = torch.tensor(np.asarray(rows.select(chosen)["soft_label"]), dtype=torch.float32)
                for _ in range(100):
                    loss = -(y * torch.log_softmax(head(x), -1)).sum(-1).mean()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                with torch.no_grad():
                    few = head(torch.from_numpy(features[test])).numpy()
                add(f"{k}-shot: head", test, few, adjust=False)
            test_rows = np.flatnonzero(test)
            if len(test_rows) > args.max_test_clips:
                test_rows = np.sort(rng.choice(test_rows, size=args.max_test_clips, replace=False))
            mask = np.zeros(len(labels), dtype=bool)
            mask[test_rows] = True
            for k in top_shots:
                chosen = support(np.flatnonzero(adapt), labels, k, rng)
                tuned = few_shot_finetune(copy.deepcopy(model), rows.select(chosen), collator, train_layers=2,
                                          steps=40, lr=1e-4, batch_size=16, seed=args.seed)
                add(f"{k}-shot: head + top 2 layers", mask,
                    predict_logits(tuned, rows.select(test_rows), collator, desc=f"{corpus} {k}-shot"), adjust=False)
        table[corpus] = {method: (100 * h / n, 100 * u / n, n) for method, (h, u, n) in results.items()}

    corpora = list(table)
    methods = list(next(iter(table.values())))
    print(f"leave-one-corpus-out models from {args.runs}/loco-*; {args.dataset_path}; speaker folds, seed "
          f"{args.seed}; cells: micro-F1 / UA (%)\n")
    print("| method | " + " | ".join(f"Z-{c}" for c in corpora) + " |\n|---|" + "---|" * len(corpora))
    for method in methods:
        cells = [f"{table[c][method][0]:.1f} / {table[c][method][1]:.1f}" if method in table[c] else "-"
                 for c in corpora]
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

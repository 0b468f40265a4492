"""Head-only few-shot (adaptation.few_shot_finetune): is what the head learned what the saved model serves?

    python benchmarks/few_shot_head.py --model runs/exp/r2-refit/final --corpus ravdess --per_class 5 --eval_clips 80

k clips per emotion of the corpus's training speakers (seeded) train the head(s); other clips of its validation
speakers are scored twice: by the head applied to the inputs it trained on (pooled features mapped by
`model.head_input`) and by the saved model's forward, as `predict` and the pipeline serve it. Prints accuracy both
ways and the largest logit difference (issue 30.1: a head trained on unstandardized features served 38 nats away
from its training logits). The same on the support clips.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--corpus", default="ravdess")
    parser.add_argument("--per_class", type=int, default=5)
    parser.add_argument("--eval_clips", type=int, default=80)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from datasets import load_from_disk
    from transformers import WhisperFeatureExtractor

    from modeling_emotion_whisper import WhisperForEmotionClassification
    from modeling_emotion_whisper.adaptation import few_shot_finetune
    from modeling_emotion_whisper.batch import predict_logits
    from modeling_emotion_whisper.packing import ClipCollator

    data = load_from_disk(args.dataset_path)
    rng = np.random.default_rng(args.seed)
    train = data["train"].filter(lambda r: r["dataset"] == args.corpus)
    labels = np.asarray(train["label"])
    support = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[: args.per_class]
                                      for c in np.unique(labels)]))
    valid = data["validation"].filter(lambda r: r["dataset"] == args.corpus)
    held = np.sort(rng.permutation(len(valid))[: args.eval_clips])
    support_rows, held_rows = train.select(support), valid.select(held)

    model = WhisperForEmotionClassification.from_pretrained(args.model, dtype=torch.float32).eval()
    collator = ClipCollator(WhisperFeatureExtractor.from_pretrained(args.model))
    few_shot_finetune(model, support_rows, collator, steps=args.steps, lr=args.lr)
    for name, rows in (("support", support_rows), ("held out", held_rows)):
        served, pooled = predict_logits(model, rows, collator, return_features=True)
        with torch.no_grad():
            trained = model.emotion_head(model.head_input(torch.from_numpy(pooled))).numpy()
        truth = np.asarray(rows["label"])
        print(f"{name} ({len(truth)} clips): accuracy as trained {np.mean(trained.argmax(1) == truth):.3f}, as served "
              f"{np.mean(served.argmax(1) == truth):.3f}; largest logit difference {np.abs(trained - served).max():.2e}")


if __name__ == "__main__":
    main()

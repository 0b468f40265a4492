"""Is model B better or worse than model A on each corpus, beyond chance? A paired test on the same clips.

    python evaluate_model.py --model A --split validation --save_outputs --out runs/exp/a-eval   # and the same for B
    python benchmarks/paired_test.py --a A --a_outputs runs/exp/a-eval/outputs.npz \
        --b B --b_outputs runs/exp/b-eval/outputs.npz --dataset_path data/speaker-split-neutral --split validation

Both models scored every clip alone (evaluate_model.py --save_outputs keeps the raw logits); each clip is decided
as the evaluation decides it (label banning per corpus, logit adjustment with the model's own prior). Per corpus:
micro-F1 of each, the clips only one of them gets right, and the exact McNemar test (two-sided binomial test on those
discordant clips). It says whether a difference is more than chance over these clips; it cannot say whether it holds
for other speakers (a corpus validated on one speaker is one speaker's sample, however many clips).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts (1.0 when there are none)."""
    n = only_a + only_b
    return 1.0 if n == 0 else float(binomtest(only_a, n, 0.5).pvalue)


def correct(model_dir, outputs, rows, label_sets) -> np.ndarray:
    """Whether each clip of `rows` is right, from the saved logits of `model_dir` (banning to `label_sets`)."""
    from modeling_emotion_whisper.evaluation import decided_logits

    saved = np.load(outputs)
    if list(saved["paths"]) != list(rows["path"]):
        raise SystemExit(f"{outputs} holds other clips (or another order) than --dataset_path/--split: score both "
                         f"models with the same evaluate_model.py --dataset_path --split --corpora")
    config = json.loads(Path(model_dir, "config.json").read_text())
    logits = decided_logits(saved["logits"], rows, config.get("label_prior"), config.get("logit_adjustment_tau", 1.0),
                            corpus_labels=label_sets)
    return logits.argmax(-1) == np.asarray(rows["label"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", required=True, help="Model A's folder (its config gives the prior).")
    parser.add_argument("--a_outputs", required=True, help="outputs.npz of evaluate_model.py --save_outputs for A.")
    parser.add_argument("--b", required=True, help="Model B's folder.")
    parser.add_argument("--b_outputs", required=True, help="outputs.npz for B, on the same clips.")
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--split", default="validation")
    args = parser.parse_args(argv)

    from datasets import load_from_disk

    from modeling_emotion_whisper.evaluation import corpus_label_sets

    data = load_from_disk(args.dataset_path)
    rows, label_sets = data[args.split], corpus_label_sets(data)
    a, b = correct(args.a, args.a_outputs, rows, label_sets), correct(args.b, args.b_outputs, rows, label_sets)
    datasets = np.asarray(rows["dataset"])
    print(f"A = {args.a}\nB = {args.b}\n")
    print("| corpus | clips | A micro-F1 | B micro-F1 | B - A | only A right | only B right | McNemar p |")
    print("|---|---|---|---|---|---|---|---|")
    for name in [*sorted(set(datasets)), "all clips"]:
        mask = datasets == name if name != "all clips" else np.ones(len(a), dtype=bool)
        only_a, only_b = int((a & ~b)[mask].sum()), int((b & ~a)[mask].sum())
        fa, fb = 100 * a[mask].mean(), 100 * b[mask].mean()
        print(f"| {name} | {mask.sum()} | {fa:.2f} | {fb:.2f} | {fb - fa:+.2f} | {only_a} | {only_b} | "
              f"{mcnemar_p(only_a, only_b):.3g} |")


if __name__ == "__main__":
    main()

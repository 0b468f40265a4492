"""Few-shot fine-tuning on a corpus the model never heard: start the head from the trained rows, or from random ones.

    python benchmarks/few_shot.py --model runs/generalization/nemo-last-layer/final --corpus nemo --shots 4,16,64

For each k, k clips per emotion are drawn (seeded) from the corpus's training speakers of the built dataset and
written as a labels CSV (emotion names as the corpus gives them after harmonization); finetune_hume.py fine-tunes
the model on them with --label_column, once starting known emotions from the trained rows and once with a new
random head (--new_head), and reports micro-F1 on the corpus's validation speakers (never in the k shots).
Prints a markdown table; writes everything under --out.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_csv(path, rows, indices, partition):
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        for i in indices:
            writer.writerow([rows[int(i)]["path"], rows[int(i)]["emotion"], partition])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved emotion-whisper model that never heard --corpus")
    parser.add_argument("--corpus", default="nemo")
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--shots", default="4,16,64", help="clips per emotion")
    parser.add_argument("--num_epochs", type=float, default=5.0)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/few-shot")
    args = parser.parse_args(argv)

    from datasets import load_from_disk

    import finetune_hume
    from modeling_emotion_whisper.configuration_emotion_whisper import EMOTIONS

    data = load_from_disk(args.dataset_path)
    rows = {}
    for split in ("train", "validation"):
        part = data[split].filter(lambda d: d == args.corpus, input_columns="dataset")
        rows[split] = [dict(path=p, emotion=EMOTIONS[label]) for p, label in zip(part["path"], part["label"])]
    emotions = sorted({r["emotion"] for r in rows["train"]})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = {}
    for k in [int(x) for x in args.shots.split(",")]:
        rng = np.random.default_rng([args.seed, k])
        chosen = np.concatenate([rng.permutation([i for i, r in enumerate(rows["train"]) if r["emotion"] == e])[:k]
                                 for e in emotions])
        labels = out / f"k{k}.csv"
        labels.write_text("path,emotion,partition\n")
        write_csv(labels, rows["train"], chosen, "train")
        write_csv(labels, rows["validation"], range(len(rows["validation"])), "devel")
        for start in ("trained", "random"):
            run = out / f"k{k}-{start}"
            result_file = run / "results.json"
            if not result_file.exists():
                finetune_hume.main([
                    "--model_name_or_path", args.model, "--labels_csv", str(labels), "--audio_root", "/",
                    "--audio_column", "path", "--label_column", "emotion", "--output_dir", str(run),
                    "--num_epochs", str(args.num_epochs), "--learning_rate", str(args.learning_rate),
                    "--packs_per_batch", "2", "--warmup_steps", "0.1", "--bf16", "true", "--use_cpu", "true",
                    "--save_strategy", "no", "--report_to", "none", "--seed", str(args.seed),
                    "--audio_cache_dir", "data/decoded-16k", *(["--new_head", "true"] if start == "random" else []),
                ])
            table[(k, start)] = json.loads(result_file.read_text())["devel"]
    print(f"\nFew-shot on {args.corpus} (validation speakers, {len(rows['validation'])} clips), model {args.model}\n")
    print("| clips per emotion | head from the trained rows | new random head |")
    print("|---|---|---|")
    for k in sorted({k for k, _ in table}):
        cells = [f"{100 * table[(k, s)]['micro_f1']:.2f}" for s in ("trained", "random")]
        print(f"| {k} | " + " | ".join(cells) + " |")
    (out / "summary.json").write_text(json.dumps({f"{k}-{s}": v["micro_f1"] for (k, s), v in table.items()},
                                                 indent=1))


if __name__ == "__main__":
    main()

"""How many clips a group needs before standardizing on its own statistics helps (`predict --adapt-to-inputs`,
`--speaker-pattern`; inference.MIN_ADAPTATION_CLIPS).

    python benchmarks/adaptation_min_clips.py --outputs runs/generalization/nemo-lw-speaker/eval/outputs.npz \
        --model runs/generalization/nemo-lw-speaker/final --corpus nemo

From the raw logits and pooled features evaluate_model.py --save_outputs wrote for a corpus the model never heard:
for each group (the corpus, or each speaker) and each k, the statistics come from k clips of the group drawn at
random (--repeats draws, seeded) and standardize all of the group's clips; micro-F1 (label banning and logit
adjustment, as evaluate_model.py) is averaged over the draws and set against the plain model.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", required=True, help="outputs.npz of evaluate_model.py --save_outputs")
    parser.add_argument("--model", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--dataset_path", default="data/speaker-split")
    parser.add_argument("--shots", default="2,5,10,20,50,100")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from datasets import concatenate_datasets, load_from_disk

    from modeling_emotion_whisper import EmotionWhisperConfig
    from modeling_emotion_whisper.adaptation import apply_offline, feature_standardization, source_statistics
    from modeling_emotion_whisper.evaluation import corpus_label_sets, score
    from modeling_emotion_whisper.features import label_names
    from safetensors.numpy import load_file

    saved = np.load(args.outputs)
    data = load_from_disk(args.dataset_path)
    label_sets = corpus_label_sets(data)
    rows = concatenate_datasets([data[s] for s in data]).filter(lambda d: d == args.corpus, input_columns="dataset")
    by_path = {p: i for i, p in enumerate(rows["path"])}
    rows = rows.select([by_path[str(p)] for p in saved["paths"]])
    logits, features = saved["logits"], saved["features"]
    config = EmotionWhisperConfig.from_pretrained(args.model)
    weights = load_file(str(Path(args.model, "model.safetensors")))
    weight, bias = weights["emotion_head.weight"].astype(np.float32), weights["emotion_head.bias"].astype(np.float32)
    names = label_names(config)

    def f1(values):
        return 100 * score(values, rows, names, config.label_prior, config.logit_adjustment_tau,
                           corpus_labels=label_sets)["overall"]["micro_f1"]

    print(f"{args.corpus}: {len(rows)} clips, model {args.model}; plain micro-F1 {f1(logits):.2f}\n")
    print("| statistics from k clips of each | " + " | ".join(args.shots.split(",")) + " | all |")
    print("|---|" + "---|" * (len(args.shots.split(",")) + 1))
    rng = np.random.default_rng(0)
    for level, keys in (("corpus", np.zeros(len(rows), dtype=int)), ("speaker", np.asarray(rows["speaker"]))):
        cells = []
        for k in [int(x) for x in args.shots.split(",")] + [0]:
            scores = []
            for _ in range(args.repeats if k else 1):
                adapted = logits.copy()
                for group in np.unique(keys):
                    members = np.flatnonzero(keys == group)
                    sample = rng.choice(members, size=min(k, len(members)), replace=False) if k else members
                    stats = feature_standardization(features[sample], *source_statistics(config))
                    adapted[members] = apply_offline(stats, None, features[members], weight, bias)
                scores.append(f1(adapted))
            cells.append(f"{np.mean(scores):.2f}")
        print(f"| {level} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

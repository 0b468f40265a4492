"""The ablation table of docs/results.md from the runs of benchmarks/generalization_runs.sh.

    python benchmarks/ablation_table.py runs/generalization/nemo-last-layer runs/generalization/savee-last-layer ...

Per run: the switches it changed (run_config.json against configs/cpu-whisper-base.yaml), the zero-shot target's
micro-F1 / UA plain, per corpus and per speaker, on all its clips and on the skewed target, the in-domain validation
micro-F1, wall time of training, audio seconds trained per wall second and the padded share of the packed windows.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_summary import history  # noqa: E402

SWITCHES = ("layer_weighting", "trainable_encoder_layers", "feature_standardization", "head_learning_rate",
            "domain_loss_weight")
DEFAULTS = {"layer_weighting": False, "trainable_encoder_layers": -1, "feature_standardization": "none",
            "head_learning_rate": 0.0, "domain_loss_weight": 0.01}
VARIANTS = ("none", "feature", "speaker", "none-skewed", "feature-skewed", "speaker-skewed")


def cell(run: Path, variant: str) -> str:
    path = run / "eval" / variant / "results.json"
    if not path.exists():
        return "-"
    (metrics,) = json.loads(path.read_text())["per_corpus"].values()
    return f"{100 * metrics['micro_f1']:.2f} / {100 * metrics['ua']:.2f}"


def describe(run: Path) -> str:
    config = json.loads((run / "run_config.json").read_text())
    model = config["model"]
    changed = [f"{k}={model[k]}" for k in SWITCHES if k in model and model[k] != DEFAULTS[k]]
    if config["data"]["dataset_path"].rstrip("/") != "data/speaker-split":
        changed.append(Path(config["data"]["dataset_path"]).name)
    return ", ".join(changed) or "the paper's recipe (last layer, full fine-tuning)"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    print("| target | run | plain | per corpus | per speaker | skewed: plain | per corpus | per speaker | "
          "in-domain val. | train wall | audio s/s | padded |")
    print("|" + "---|" * 12)
    for run in map(Path, args.runs):
        log = history(run)
        speeds = [e["audio_seconds_per_second"] for e in log if "audio_seconds_per_second" in e]
        padding = [e["padding_fraction"] for e in log if "padding_fraction" in e]
        final = [e for e in log if "train_runtime" in e]
        wall = f"{final[-1]['train_runtime'] / 60:.0f} min" if final else "-"
        validation = json.loads((run / "final" / "eval_results.json").read_text())["overall"]["micro_f1"]
        target = run.name.split("-")[0]
        cells = [cell(run, v) for v in VARIANTS]
        print(f"| {target} | {describe(run)} | " + " | ".join(cells) + f" | {100 * validation:.2f} | {wall} | "
              f"{np.median(speeds):.1f} | {100 * np.mean(padding):.1f} % |")


if __name__ == "__main__":
    main()

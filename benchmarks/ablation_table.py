"""The ablation table of docs/history.md from the runs of benchmarks/generalization_runs.sh.

    python benchmarks/ablation_table.py runs/generalization/nemo-last-layer runs/generalization/savee-last-layer ...
    python benchmarks/ablation_table.py --loco runs/generalization/*-last-layer    # one recipe, every target

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

SWITCHES = ("layer_weighting", "layer_concatenation", "trainable_encoder_layers", "feature_standardization",
            "head_learning_rate", "domain_loss_weight", "refit_head")
DEFAULTS = {"layer_weighting": False, "layer_concatenation": False, "trainable_encoder_layers": -1,
            "feature_standardization": "none", "head_learning_rate": 0.0, "domain_loss_weight": 0.01,
            "refit_head": "none"}
BASE = "../shared/models/whisper-base-encoder"  # configs/cpu-whisper-base.yaml's starting point
VARIANTS = ("none", "feature", "speaker", "none-skewed", "feature-skewed", "speaker-skewed")


def scores(run: Path, variant: str):
    """(micro-F1, UA) in % of the run's target under one adaptation variant, or None before it is evaluated."""
    path = run / "eval" / variant / "results.json"
    if not path.exists():
        return None
    (metrics,) = json.loads(path.read_text())["per_corpus"].values()
    return 100 * metrics["micro_f1"], 100 * metrics["ua"]


def cell(run: Path, variant: str) -> str:
    found = scores(run, variant)
    return f"{found[0]:.2f} / {found[1]:.2f}" if found else "-"


def loco_table(runs: list[Path]):
    """One recipe, one run per held-out corpus: a row per variant, a column per target, and the mean."""
    runs = sorted(runs, key=lambda r: r.name)
    targets = [r.name.split("-")[0] for r in runs]
    print("| micro-F1 / UA | " + " | ".join(targets) + " | mean |")
    print("|" + "---|" * (len(runs) + 2))
    names = {"none": "plain", "feature": "per corpus", "speaker": "per speaker"}
    for variant in VARIANTS:
        found = [scores(r, variant) for r in runs]
        label = names[variant.split("-")[0]] + (", skewed" if variant.endswith("skewed") else "")
        done = [f for f in found if f]
        mean = (f"{np.mean([f[0] for f in done]):.2f} / {np.mean([f[1] for f in done]):.2f}"
                + ("" if len(done) == len(runs) else f" ({len(done)} of {len(runs)})")) if done else "-"
        print(f"| {label} | " + " | ".join(f"{f[0]:.2f} / {f[1]:.2f}" if f else "-" for f in found) + f" | {mean} |")


def describe(run: Path) -> str:
    config = json.loads((run / "run_config.json").read_text())
    model = config["model"]
    refit = model.get("refit_head", "none")  # older runs: no such argument; the first refit runs: a bool
    model["refit_head"] = {True: "yes", False: "none"}.get(refit, refit)
    changed = [f"{k}={model[k]}" for k in SWITCHES if k in model and model[k] != DEFAULTS[k]]
    if model["model_name_or_path"] != BASE:  # e.g. a head refit on another run's fine-tuned encoder
        changed.insert(0, f"from {Path(model['model_name_or_path']).parent.name}")
    if config["packing"]["num_epochs"] != 2:
        changed.append(f"{config['packing']['num_epochs']:g} passes")
    temperature = config["packing"].get("corpus_sampling_temperature", 1.0)  # older runs: Algorithm 1 as published
    if temperature != 1:
        changed.append(f"corpus sampling T={temperature:g}")
    if config["data"]["dataset_path"].rstrip("/") != "data/speaker-split":
        changed.append(Path(config["data"]["dataset_path"]).name)
    return ", ".join(changed) or "the paper's recipe (last layer, full fine-tuning)"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--loco", action="store_true",
                        help="the runs are one recipe with different held-out corpora: print targets side by side")
    args = parser.parse_args()
    if args.loco:
        return loco_table([Path(r) for r in args.runs])
    print("| target | run | plain | per corpus | per speaker | skewed: plain | per corpus | per speaker | "
          "in-domain val. | train wall | audio s/s | padded |")
    print("|" + "---|" * 12)
    for run in map(Path, args.runs):
        if any(run.glob("**/trainer_state.json")):
            log = history(run)
            speeds = [e["audio_seconds_per_second"] for e in log if "audio_seconds_per_second" in e]
            padding = [e["padding_fraction"] for e in log if "padding_fraction" in e]
            final = [e for e in log if "train_runtime" in e]
            wall = f"{final[-1]['train_runtime'] / 60:.0f} min" if final else "-"
            speed, padded = f"{np.median(speeds):.1f}", f"{100 * np.mean(padding):.1f} %"
        else:  # no fine-tuning (a head refit, --num_epochs 0): the script's wall time, all of it
            cost = run / "cost.json"  # written when the run's evaluation ends
            wall = f"{json.loads(cost.read_text())['train_seconds'] / 60:.1f} min" if cost.exists() else "-"
            speed = padded = "-"
        validation = json.loads((run / "final" / "eval_results.json").read_text())["overall"]["micro_f1"]
        target = run.name.split("-")[0]
        cells = [cell(run, v) for v in VARIANTS]
        print(f"| {target} | {describe(run)} | " + " | ".join(cells) + f" | {100 * validation:.2f} | {wall} | "
              f"{speed} | {padded} |")


if __name__ == "__main__":
    main()

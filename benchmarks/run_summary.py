"""Summarize training runs from their logs: steps, epochs, wall time, audio seconds trained per wall second, the
padded-frame fraction of the packed windows, and the last losses.

    python benchmarks/run_summary.py runs/whisper-base-all runs/loco-ravdess ...
"""

import argparse
import json
from pathlib import Path

import numpy as np

from modeling_emotion_whisper.packing import accumulation_at


def history(run: Path) -> list[dict]:
    candidates = [run / "trainer_state.json"] + sorted(run.glob("checkpoint-*/trainer_state.json"),
                                                       key=lambda p: int(p.parent.name.split("-")[1]))
    found = [p for p in candidates if p.exists()]
    if not found:
        raise SystemExit(f"{run}: no trainer_state.json")
    best = max(found, key=lambda p: json.loads(p.read_text())["global_step"])
    return json.loads(best.read_text())["log_history"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    print("| run | steps | data epochs | wall (min) | audio s / wall s | padded frames | emotion loss (first → last) |")
    print("|---|---|---|---|---|---|---|")
    for run in map(Path, args.runs):
        logs = [h for h in history(run) if "loss" in h]
        config = json.loads((run / "run_config.json").read_text())
        runtime = next((h["train_runtime"] for h in history(run) if "train_runtime" in h), None)
        speed = np.mean([h["audio_seconds_per_second"] for h in logs if "audio_seconds_per_second" in h])
        padding = np.mean([h["padding_fraction"] for h in logs if "padding_fraction" in h])
        losses = [h["emotion_loss"] for h in logs if "emotion_loss" in h]
        wall = f"{runtime / 60:.0f}" if runtime else "(running)"
        corpora = config.get("data", {}).get("train_corpora") or "all"
        packing = config.get("packing", config.get("data", {}))
        packs = sum(accumulation_at(step, config["accumulation"]) for step in range(logs[-1]["step"]))
        epochs = packs * packing["packs_per_batch"] * config["world_size"] / config["packs_per_epoch"]
        print(f"| {run.name} ({corpora}) | {logs[-1]['step']} / {config['num_steps']} | {epochs:.2f} | "
              f"{wall} | {speed:.1f} | {100 * padding:.1f} % | {losses[0]:.3f} → {np.mean(losses[-3:]):.3f} |")


if __name__ == "__main__":
    main()

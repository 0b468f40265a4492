#!/usr/bin/env bash
# The evaluations and benchmarks of docs/history.md (release 1) and docs/results.md (speed), after
# benchmarks/cpu_runs.sh has trained the models.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# (a) the default model on unseen speakers; its held-out feature statistics go into its config (for adaptation)
$PY evaluate_model.py --model runs/whisper-base-all/final --dataset_path data/speaker-split --split validation \
    --random_baseline --save_source_statistics --out runs/eval-validation
$PY -m modeling_emotion_whisper.release runs/whisper-base-all/final --repo-id emotion-whisper/emotion-whisper-base \
    --out checkpoints/emotion-whisper-base --eval-json runs/eval-validation/results.json --base-model openai/whisper-base

# (b) zero-shot on each held-out corpus, and adaptation to it
for held in ravdess tess savee turevdb; do
    $PY evaluate_model.py --model runs/loco-$held/final --dataset_path data/speaker-split --split all \
        --corpora $held --zero_shot --random_baseline --out runs/eval-z-$held
    $PY benchmarks/adaptation.py --corpora $held --top_layer_shots 20 --max_test_clips 200
done

# emotion over time, and speed (run the speed benchmarks on an otherwise idle machine)
$PY benchmarks/temporal.py --dataset_path data/speaker-split --split validation --per_corpus 40
$PY benchmarks/forward_speed.py --repeats 20
$PY benchmarks/clip_speed.py --dataset_path data/speaker-split --split validation --clips 300
$PY benchmarks/timeline_speed.py --minutes 10 60
$PY benchmarks/run_summary.py runs/whisper-base-all runs/loco-ravdess runs/loco-tess runs/loco-savee runs/loco-turevdb

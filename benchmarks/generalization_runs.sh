#!/usr/bin/env bash
# Ablation runs of the generalization issue, leave-one-corpus-out on the six shared corpora (docs/results.md,
# "Ablations"). Each run resumes from its last checkpoint when restarted; runs already evaluated are skipped.
#   nohup benchmarks/generalization_runs.sh [TARGET] > runs/generalization.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ACC=".venv/bin/accelerate launch --config_file configs/accelerate/cpu.yaml"
ALL="ased nemo ravdess savee tess turevdb"
TARGET=${1:-nemo}
others=$(echo $ALL | tr ' ' '\n' | grep -v "^$TARGET$" | paste -sd, -)

run() {  # run NAME [train.py overrides...]
    local name=$1; shift
    local out=runs/generalization/$TARGET-$name
    [ -f "$out/eval-speaker/results.json" ] && return 0
    $ACC train.py configs/cpu-whisper-base.yaml --train_corpora "$others" --eval_corpora "$others" \
        --num_epochs 2 --max_eval_clips 600 --output_dir "$out" "$@"
    for adaptation in none feature speaker; do  # plain; standardized per corpus; per speaker (labels unused)
        $PY evaluate_model.py --model "$out/final" --dataset_path data/speaker-split --split all --corpora "$TARGET" \
            --zero_shot --out "$out/eval-$adaptation" $([ $adaptation = none ] || echo --adaptation $adaptation)
    done
}

run last-layer
run layer-weighted --layer_weighting true

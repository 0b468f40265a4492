#!/usr/bin/env bash
# Ablation runs of the generalization issue, leave-one-corpus-out on the six shared corpora (docs/history.md,
# "Ablations"; the recipe's own table: docs/results.md). Each run resumes from its last checkpoint when restarted;
# runs already evaluated are skipped.
#   nohup benchmarks/generalization_runs.sh TARGET NAME [train.py overrides...] >> runs/generalization.log 2>&1 &
# trains on the five other corpora with configs/cpu-whisper-base.yaml's recipe (2 passes, corpora sampled equally on
# the neutral build, head refit stacked: per corpus, per speaker and pooled; no stream head: clips are what is
# measured; overrides change it) into
# runs/generalization/TARGET-NAME and scores
# TARGET (all its clips, never heard) plain, standardized per corpus and per speaker (labels unused), each on all
# clips and on a skewed version (each speaker keeps one or two emotions; seed 0), from one pass over the audio.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ACC=".venv/bin/accelerate launch --config_file configs/accelerate/cpu.yaml"
ALL="ased nemo ravdess savee tess turevdb"
TARGET=$1; NAME=$2; shift 2
others=$(echo $ALL | tr ' ' '\n' | grep -v "^$TARGET$" | paste -sd, -)
out=runs/generalization/$TARGET-$NAME
[ -f "$out/eval/speaker-skewed/results.json" ] && exit 0
start=$(date +%s)
[ -f "$out/final/model.safetensors" ] || $ACC train.py configs/cpu-whisper-base.yaml --train_corpora "$others" \
    --eval_corpora "$others" --num_epochs 2 --max_eval_clips 600 --fit_stream_head false --output_dir "$out" "$@"
trained=$(date +%s)
# the build the run trained on (either smoothing build holds the same clips and hard labels)
data=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["data"]["dataset_path"])' "$out/run_config.json")
$PY evaluate_model.py --model "$out/final" --dataset_path "$data" --split all --corpora "$TARGET" \
    --zero_shot --adaptation none,feature,speaker --skewed_seed 0 --save_outputs --out "$out/eval"
echo "{\"train_seconds\": $((trained - start)), \"eval_seconds\": $(( $(date +%s) - trained ))}" > "$out/cost.json"

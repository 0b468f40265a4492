#!/usr/bin/env bash
# The real runs of docs/history.md (release 1 and its leave-one-corpus-out models) on the development machine
# (2 CPU cores), in order. Each run resumes from its last checkpoint when restarted, so this script can be killed and
# started again.
#   nohup benchmarks/cpu_runs.sh > runs/cpu_runs.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
SHARED=../shared/corpora
ACC=".venv/bin/accelerate launch --config_file configs/accelerate/cpu.yaml"

# 1. The corpus: the six shared corpora, speaker-independent validation (about 20 % of each corpus's clips), the
#    validation speakers pinned by configs/splits/speaker-split.json (those of the four-corpus build the default
#    model was trained on, plus nEMO's and ASED's as drawn by the build).
$PY -m data_scripts.build --corpus ravdess=$SHARED/RAVDESS --corpus tess=$SHARED/TESS --corpus savee=$SHARED/SAVEE \
    --corpus turevdb=$SHARED/TurEV-DB --corpus nemo=$SHARED/nEMO --corpus ased=$SHARED/ASED \
    --out data/speaker-split --split speaker --validation_fraction 0.2 --validation_speakers configs/splits/speaker-split.json

# The recipe these runs used, pinned against today's config (which adds equal corpus sampling, the neutral build and
# the head refit): the literal smoothing formula, clips drawn as in Algorithm 1, the paper's head, fp32.
PAPER="--dataset_path data/speaker-split --corpus_sampling_temperature 1 --refit_head none --bf16 false"

# 2. The default model of docs/history.md (a), release 1: the four corpora it was trained on, 5 passes.
$ACC train.py configs/cpu-whisper-base.yaml --train_corpora ravdess,tess,savee,turevdb \
    --eval_corpora ravdess,tess,savee,turevdb --num_epochs 5 --output_dir runs/whisper-base-all $PAPER

# 3. Leave one corpus out: train on the other three, zero-shot on the held-out one.
for held in ravdess tess savee turevdb; do
    others=$(echo ravdess tess savee turevdb | tr ' ' '\n' | grep -v "^$held$" | paste -sd, -)
    $ACC train.py configs/cpu-whisper-base.yaml --train_corpora "$others" --eval_corpora "$others" \
        --num_epochs 2 --output_dir "runs/loco-$held" $PAPER
done

#!/bin/bash
# Issue 23 item 5 on the synthetic default: the baselines and the given LoCoMT patterns (the default
# sweep's front) trained with modality dropout 0.1 per modality, seeds 0-2, two trainings at a time
# (one torch thread each); then every run tested with modalities missing.
#   results/missing-modalities/dropout.sh PATTERN [PATTERN ...]
set -e
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
DROP="data.modality_dropout={video: 0.1, audio: 0.1, text: 0.1}"
jobs=()
for seed in 0 1 2; do
  for b in joint late bottleneck; do jobs+=("$b half $seed"); done
  for p in "$@"; do jobs+=("locomt $p $seed"); done
done
run() {
  set -- $1
  dir=runs/dropout/$1-${2//\//_}-seed$3
  [ -f "$dir/metrics.json" ] && return 0
  OMP_NUM_THREADS=1 $PY -m locomt.train --config experiments/synthetic-medvidcl-val625.yaml --run-dir "$dir" \
     model.backbone=$1 model.pattern=$2 seed=$3 "$DROP" > "$dir.log" 2>&1 || { echo "failed: $dir (see $dir.log)"; return 1; }
  echo "done: $dir"
}
mkdir -p runs/dropout
export -f run; export PY DROP
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c 'run "{}"'
$PY -m locomt.robust runs/dropout --out results/missing-modalities/default-dropout

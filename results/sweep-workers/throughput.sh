#!/bin/bash
# 1 worker x 2 threads, then 2 workers x 1 thread, on the same 4 configurations (2 epochs each), own run caches
mkdir -p /tmp/tp
cd "$(dirname "$0")/../.."
for w in 1 2; do
  rm -rf /tmp/tp/w$w
  s=$(date +%s.%N)
  /usr/bin/time -v nice -n 10 .venv/bin/python -m locomt.sweep --space results/sweep-workers/space.yaml --n-workers $w \
     --out /tmp/tp/w$w/out --set trainer.out_dir=/tmp/tp/w$w/runs > /tmp/tp/w$w.log 2>&1
  e=$(date +%s.%N)
  echo "workers $w wall $(echo "$e - $s" | bc)" >> /tmp/tp/summary.txt
done

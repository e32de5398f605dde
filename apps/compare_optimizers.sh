#!/usr/bin/env bash
# SGD vs SAM vs NCSAM on the `make demo` setting (ResNet-20 at half width,
# 30,000 Fashion-MNIST images, 40% symmetric noise, 3 epochs, CPU), printing
# one table row per optimizer: clean test accuracy, memorization of the wrong
# labels, wall time. Usage: apps/compare_optimizers.sh [BUILD_DIR] [OUT_DIR]
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-runs/compare}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT"

common=(--model resnet20 --width 0.5 --dataset fmnist --train-limit 30000 --no-augment
        --noise sym:0.4 --noise-seed 1 --lr 0.1 --momentum 0.9 --weight-decay 5e-4
        --schedule cosine --epochs 3 --batch-size 128 --seed 1 --threads 2 --quiet --overwrite)

for opt in sgd sam ncsam; do
  extra=()
  [[ $opt == ncsam ]] && extra=(--r-flip 0.4 --kappa 0.1)
  start=$(date +%s)
  "$BUILD/basin" train "${common[@]}" --optimizer "$opt" "${extra[@]}" --out "$OUT/$opt" > "$OUT/$opt.log" 2>&1
  echo "$opt $(( $(date +%s) - start ))" >> "$OUT/times.txt"
done

printf '%-8s %18s %16s %10s\n' optimizer "clean test acc %" "memorization %" "wall s"
for opt in sgd sam ncsam; do
  acc=$(grep -o '"final_test_accuracy":[0-9.eE+-]*' "$OUT/$opt/summary.json" | cut -d: -f2)
  mem=$(grep -o '"final_memorization":[0-9.eE+-]*' "$OUT/$opt/summary.json" | cut -d: -f2)
  secs=$(grep "^$opt " "$OUT/times.txt" | tail -1 | cut -d' ' -f2)
  printf '%-8s %18.2f %16.2f %10s\n' "$opt" "$(echo "$acc*100" | bc -l)" "$(echo "${mem:-0}*100" | bc -l)" "$secs"
done

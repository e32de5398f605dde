#!/usr/bin/env bash
# `make demo`: train a ResNet-20 (half width) on Fashion-MNIST with 40% symmetric
# label noise on the CPU, then print the clean test accuracy in one line.
# Sized to finish in about 3 minutes on 2 idle cores: 30,000 of the 60,000
# training images, 3 epochs, no augmentation (in so short a run it only slows
# learning); about 86% clean test accuracy. Output in runs/demo.
set -euo pipefail

BUILD=${1:-build}
BIN="$BUILD/basin"
DATA=/usr/share/datasets/fashion-mnist
OUT=runs/demo

if [[ ! -x "$BIN" ]]; then
  echo "demo: $BIN not found (build first: make)" >&2
  exit 1
fi
if [[ ! -f "$DATA/train-images-idx3-ubyte.gz" ]]; then
  echo "demo: Fashion-MNIST not found in $DATA (make deps installs dataset-fashion-mnist)" >&2
  exit 1
fi

# Idle OpenMP threads sleep instead of spinning, so a busy machine does not
# turn every barrier into a time slice lost.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
THREADS=${DEMO_THREADS:-2}

rm -rf "$OUT"
start=$(date +%s)
"$BIN" train \
  --model resnet20 --width 0.5 \
  --dataset fmnist --train-limit 30000 --no-augment \
  --noise sym:0.4 --noise-seed 1 \
  --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 5e-4 --schedule cosine \
  --epochs 3 --batch-size 128 --seed 1 \
  --threads "$THREADS" --log-every 20 --out "$OUT"
end=$(date +%s)

acc=$(grep -o '"final_test_accuracy":[0-9.eE+-]*' "$OUT/summary.json" | cut -d: -f2)
noise=$(grep -o '"realised_noise_rate":[0-9.eE+-]*' "$OUT/summary.json" | cut -d: -f2)
awk -v a="$acc" -v n="$noise" -v s="$((end - start))" -v out="$OUT" 'BEGIN {
  printf "demo: ResNet-20 (width 0.5) on Fashion-MNIST, %.1f%% of training labels wrong: clean test accuracy %.2f%% in %d s (run in %s)\n", 100 * n, 100 * a, s, out
}'

#!/usr/bin/env bash
# Reruns the study of docs/study.md. Every stage is a `basin sweep`, so the
# script can be stopped and rerun at any time: finished runs are skipped,
# interrupted ones resumed. Seed 0 of every configuration runs first, so a
# partial study already holds one run per configuration.
#   docs/study/run_study.sh [BASIN] [OUT]     (defaults: build/basin, study/)
set -euo pipefail
BASIN=${1:-build/basin}
OUT=${2:-study}
JOBS=${JOBS:-2}
THREADS=${THREADS:-1}  # one thread per run: two runs on two cores beat one run on two
COMMON=(--dataset fmnist --model resnet20 --width 0.5 --train-limit 4000 --test-limit 2000
        --no-augment --epochs 30 --rho 0.1 --log-every 10 --jobs "$JOBS" --threads "$THREADS")
OPTIMIZERS=optimizer=sgd,sam,ncsam,casam

for seeds in 0 0,1,2; do
  # r_flip follows the realised noise rate (sym:0.4 -> 0.36, asym:0.4 -> 0.16 on Fashion-MNIST).
  "$BASIN" sweep --out "$OUT/sym"   --grid seed=$seeds --grid $OPTIMIZERS --noise sym:0.4  --r-flip 0.4 "${COMMON[@]}"
  "$BASIN" sweep --out "$OUT/clean" --grid seed=$seeds --optimizer sgd    --noise none                "${COMMON[@]}"
  "$BASIN" sweep --out "$OUT/asym"  --grid seed=$seeds --grid $OPTIMIZERS --noise asym:0.4 --r-flip 0.2 "${COMMON[@]}"
done

# NCSAM ablation on sym:0.4, seed 0 (kappa 0.1, r_flip 0.4, sign +1, raw, temporary,
# projection on are the main grid's NCSAM run).
ABL=(--noise sym:0.4 --optimizer ncsam --seed 0 "${COMMON[@]}")
"$BASIN" sweep --out "$OUT/ablation-kappa"  --grid kappa=0,0.3 --r-flip 0.4 "${ABL[@]}"
"$BASIN" sweep --out "$OUT/ablation-rflip"  --grid r-flip=0.1,0.2 "${ABL[@]}"
"$BASIN" sweep --out "$OUT/ablation-variant" --grid sign=-1 --r-flip 0.4 "${ABL[@]}"
"$BASIN" sweep --out "$OUT/ablation-scale"  --grid ncsam-scale=normalized --r-flip 0.4 "${ABL[@]}"
"$BASIN" sweep --out "$OUT/ablation-target" --grid ncsam-target=observed --r-flip 0.4 "${ABL[@]}"
"$BASIN" sweep --out "$OUT/ablation-project" --grid project=false --r-flip 0.4 "${ABL[@]}"

"$BASIN" report "$OUT"/sym "$OUT"/clean --out "$OUT/report-sym.html"
"$BASIN" report "$OUT"/asym "$OUT"/clean --out "$OUT/report-asym.html"
"$BASIN" report "$OUT"/sym "$OUT"/ablation-* --group-over seed --out "$OUT/report-ablation.html"

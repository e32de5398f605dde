#!/usr/bin/env bash
# The flatness measurements of docs/study.md ("Flatness of the minima"): `basin probe` on the
# final checkpoint of every finished study run that still has one, on 1000 training samples
# with the run's noisy labels (BatchNorm in eval mode): λ_max, Hutchinson's trace (30
# vectors), ρ-sharpness at the study's ρ = 0.1 (5 ascent steps). For SGD and NCSAM of the same
# seed also the 2D surface of each and the line from SGD's minimum to NCSAM's.
# Probes already written are skipped (basin probe writes its JSON only when it is done), so the
# script can be rerun as runs land.
#   docs/study/probe_study.sh [BASIN] [STUDY] [OUT]   (defaults: build/basin, study/, docs/study/probe/)
# POINTS_2D=0 skips the 2D surfaces (441 loss evaluations each; one seed's are enough for the figures).
# Checkpoints are not committed (docs/study.md): probe in the sitting that trains the runs.
set -euo pipefail
BASIN=${1:-build/basin}
STUDY=${2:-study}
OUT=${3:-docs/study/probe}
COMMON=(--samples 1000 --rho 0.1 --trace-vectors 30 --threads "${THREADS:-1}" --quiet)

finished() { [[ -f "$1/checkpoint.safetensors" ]] && grep -q '"status": *"finished"' "$1/summary.json" 2>/dev/null; }

for sweep in sym asym; do
  for run in "$STUDY/$sweep"/*/; do
    run=${run%/}
    finished "$run" || continue
    name=$(basename "$run")
    out="$OUT/$sweep/$name.json"
    [[ -f "$out" ]] && continue
    mkdir -p "$OUT/$sweep"
    extra=(--points-1d 0)
    [[ $name == *optimizer=sgd* || $name == *optimizer=ncsam* ]] && extra=(--points-1d 0 --points-2d "${POINTS_2D:-21}")
    sgd_twin=${run/optimizer=ncsam/optimizer=sgd}
    if [[ $name == *optimizer=ncsam* ]] && finished "$sgd_twin"; then
      # The line from SGD's minimum (a = 0) to NCSAM's (a = 1), probed from the SGD side.
      line="$OUT/$sweep/${name/optimizer=ncsam/line-sgd-to-ncsam}.json"
      [[ -f "$line" ]] || "$BASIN" probe "$sgd_twin" --to "$run" --eigenvalues 0 --trace-vectors 0 \
        --sam-steps 0 --points-1d 0 --samples 1000 --threads "${THREADS:-1}" --quiet --out "$line"
    fi
    echo "probe_study: $sweep/$name" >&2
    "$BASIN" probe "$run" "${COMMON[@]}" "${extra[@]}" --out "$out"
  done
done

#!/usr/bin/env bash
# `make bench`: basin's CPU training step next to PyTorch's on the same shapes
# (forward + backward, 2 threads): ResNet-20 batch 128 and ResNet-18 batch 64.
#   apps/bench.sh BUILD_DIR
# Environment: THREADS (2), STEPS20/WARMUP20 (10/2), STEPS18/WARMUP18 (4/1),
#   BREAKDOWN=1 adds the per-kernel tables of both engines.
# Prints a table with the ratio basin/torch and every JSON line; see docs/benchmarks.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: apps/bench.sh BUILD_DIR}
basin="$build/basin"
[[ -x "$basin" ]] || { echo "bench.sh: $basin not found (build first: make)" >&2; exit 1; }
threads=${THREADS:-2}
extra=()
[[ "${BREAKDOWN:-0}" == 1 ]] && extra=(--breakdown)

python=""
for p in "${PYTHON:-}" /usr/bin/python3 python3; do
  [[ -n "$p" ]] && "$p" -c "import torch, numpy" 2>/dev/null && { python=$p; break; }
done
[[ -n "$python" ]] || echo "bench.sh: no python3 with torch (bash cmake/deps.sh --reference): basin only" >&2

echo "basin bench: $(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rows=()
run_case() {  # model batch steps warmup
  local model=$1 batch=$2 steps=$3 warmup=$4
  local common=(--model "$model" --batch "$batch" --threads "$threads" --steps "$steps" --warmup "$warmup")
  OMP_NUM_THREADS=$threads "$basin" bench "${common[@]}" "${extra[@]}" >"$tmp/basin.out"
  grep -v '^{' "$tmp/basin.out" | sed -n '3,$p' || true
  local b t=""
  b=$(grep -m1 '^{"engine":"basin","model"' "$tmp/basin.out")
  echo "$b"
  grep '^{"engine":"basin","breakdown' "$tmp/basin.out" || true
  if [[ -n "$python" ]]; then
    OMP_NUM_THREADS=$threads "$python" "$here/tests/reference/bench_torch.py" "${common[@]}" "${extra[@]}" >"$tmp/torch.out"
    grep -v '^{' "$tmp/torch.out" | sed -n '3,$p' || true
    t=$(grep -m1 '^{"engine": "torch", "torch"' "$tmp/torch.out")
    echo "$t"
    grep '^{"engine": "torch", "breakdown' "$tmp/torch.out" || true
  fi
  rows+=("$model|$batch|$b|$t")
}
run_case resnet20 128 "${STEPS20:-10}" "${WARMUP20:-2}"
run_case resnet18 64 "${STEPS18:-4}" "${WARMUP18:-1}"

"${python:-python3}" - "${rows[@]}" <<'PY'
import json, sys
print(f"\n{'model':<10} {'batch':>5} {'threads':>7} {'basin ms/step':>14} {'torch ms/step':>14} "
      f"{'basin img/s':>12} {'torch img/s':>12} {'basin/torch':>12}")
for row in sys.argv[1:]:
    model, batch, b, t = row.split("|", 3)
    b = json.loads(b)
    t = json.loads(t) if t else None
    ratio = b["ms_per_step"] / t["ms_per_step"] if t else float("nan")
    print(f"{model:<10} {int(batch):5d} {b['threads']:7d} {b['ms_per_step']:14.1f} "
          f"{(t['ms_per_step'] if t else float('nan')):14.1f} {b['images_per_s']:12.1f} "
          f"{(t['images_per_s'] if t else float('nan')):12.1f} {ratio:12.2f}")
    print(json.dumps({"bench": "cpu_step", "model": model, "batch": int(batch), "threads": b["threads"],
                      "basin_ms": b["ms_per_step"], "torch_ms": t["ms_per_step"] if t else None,
                      "ratio_basin_over_torch": round(ratio, 3) if t else None}))
PY

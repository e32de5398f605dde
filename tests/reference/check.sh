#!/usr/bin/env bash
# The PyTorch reference check: for each model, `basin reference` dumps one
# train-mode forward/backward and check_resnet.py redoes it in PyTorch.
#   tests/reference/check.sh BUILD_DIR [models...]   (default: resnet20 resnet18)
# Prints one PASS/FAIL line per model (the full table on failure); exits 1 on any FAIL.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: check.sh BUILD_DIR [models...]}
shift
models=("$@")
[[ ${#models[@]} -eq 0 ]] && models=(resnet20 resnet18)
basin="$build/basin"
[[ -x "$basin" ]] || { echo "check.sh: $basin not found or not executable (build first: make)" >&2; exit 1; }

# Debian's python3-torch lives under the system interpreter; a pyenv/venv python3 on PATH may lack it.
python=""
for p in "${PYTHON:-}" /usr/bin/python3 python3; do
  [[ -n "$p" ]] && "$p" -c "import torch, numpy" 2>/dev/null && { python=$p; break; }
done
[[ -n "$python" ]] || { echo "check.sh: no python3 with torch and numpy (bash cmake/deps.sh --reference)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
status=0
for model in "${models[@]}"; do
  dump="$tmp/$model.safetensors"
  log="$tmp/$model.log"
  if ! "$basin" reference --model "$model" --batch 8 --seed 1 --out "$dump" >"$log" 2>&1; then
    echo "FAIL $model: basin reference failed"; cat "$log"; status=1; continue
  fi
  if "$python" "$here/check_resnet.py" "$dump" >>"$log" 2>&1; then
    summary=$(grep -E "^$model: worst" "$log")
    echo "PASS $model (${summary#"$model: "})"
  else
    echo "FAIL $model:"; cat "$log"; status=1
  fi
done
exit $status

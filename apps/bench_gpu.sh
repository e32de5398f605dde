#!/usr/bin/env bash
# The GPU benchmark matrix: basin's training step next to PyTorch's on the same
# GPU, back to back, for ResNet-18 / ResNet-20 x SGD / SAM / NCSAM x batch 128 /
# 512 x fp32 / tf32. Runs CUDA-vs-CPU parity (BUILD_DIR/test_cuda) first and
# stops when it fails or finds no GPU; see docs/benchmarks.md, "GPU".
#   apps/bench_gpu.sh BUILD_DIR        (BUILD_DIR configured with -DBASIN_CUDA=ON)
# Environment: STEPS (8) and WARMUP (3) per case, DEVICE (cuda:0), CASE_TIMEOUT
#   (120 s per engine and case), MODELS, BATCHES, OPTIMIZERS, PRECISIONS (space
#   lists, default the whole matrix), PYTHON (a python3 with a CUDA torch),
#   SKIP_PARITY=1 (not for numbers anyone quotes).
# Prints every JSON line as it comes, then one table (throughput ratio =
# basin img/s / torch img/s, from the mean step) and one summary JSON line per case.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: apps/bench_gpu.sh BUILD_DIR}
build=$(cd "$build" && pwd)
basin="$build/basin"
test_cuda="$build/test_cuda"
for f in "$basin" "$test_cuda"; do
  [[ -x "$f" ]] || { echo "bench_gpu.sh: $f not found (cmake -S . -B $build -DBASIN_CUDA=ON && cmake --build $build --target basin test_cuda)" >&2; exit 1; }
done
command -v nvidia-smi >/dev/null || { echo "bench_gpu.sh: nvidia-smi not found: no GPU driver here" >&2; exit 1; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
steps=${STEPS:-8}
warmup=${WARMUP:-3}
device=${DEVICE:-cuda:0}
case_timeout=${CASE_TIMEOUT:-120}
read -r -a models <<<"${MODELS:-resnet18 resnet20}"
read -r -a batches <<<"${BATCHES:-128 512}"
read -r -a optimizers <<<"${OPTIMIZERS:-sgd sam ncsam}"
read -r -a precisions <<<"${PRECISIONS:-fp32 tf32}"

python=""
for p in "${PYTHON:-}" /usr/bin/python3 python3; do
  [[ -n "$p" ]] && "$p" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
    && { python=$p; break; }
done
[[ -n "$python" ]] || echo "bench_gpu.sh: no python3 whose torch sees a GPU (set PYTHON=...): basin only" >&2
table_python=${python:-python3}

echo "basin bench_gpu: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "GPU (nvidia-smi --query-gpu=name --format=csv,noheader): $gpu"
echo "driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1), basin commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$python" ]]; then echo "torch: $("$python" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())')"; fi
echo "commands (per case; fp32: no flag, tf32: --tf32):"
echo "  $basin bench --device $device --model M --batch-size B --optimizer O --steps $steps --warmup $warmup [--tf32] --json"
if [[ -n "$python" ]]; then echo "  $python $here/tests/reference/bench_torch.py --device $device --model M --batch-size B --optimizer O --steps $steps --warmup $warmup [--tf32] --json"; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- parity first: numbers from a backend that disagrees with the CPU mean nothing ---
if [[ "${SKIP_PARITY:-0}" != 1 ]]; then
  echo "parity: $test_cuda"
  if ! (cd "$here" && "$test_cuda") >"$tmp/parity.out" 2>&1; then
    tail -n 60 "$tmp/parity.out"
    echo "bench_gpu.sh: CUDA parity FAILED: no benchmark run" >&2
    exit 1
  fi
  if grep -q "skipped: no CUDA device" "$tmp/parity.out"; then
    grep -m1 "skipped: no CUDA device" "$tmp/parity.out"
    echo "bench_gpu.sh: test_cuda found no GPU: no benchmark run" >&2
    exit 1
  fi
  grep -E "compared [0-9]+ tensors|test cases:" "$tmp/parity.out" || true
else
  echo "parity: SKIPPED (SKIP_PARITY=1)"
fi

# Runs one engine on one case; prints its JSON line, or nothing when it failed.
run_engine() {  # out_file command...
  local out=$1
  shift
  if timeout "$case_timeout" "$@" >"$out" 2>"$out.err"; then
    grep -m1 '^{"engine"' "$out" || true
  else
    echo "bench_gpu.sh: failed or timed out (${case_timeout}s): $*" >&2
    tail -n 3 "$out.err" >&2 || true
  fi
}

rows=()
for model in "${models[@]}"; do
  for batch in "${batches[@]}"; do
    for precision in "${precisions[@]}"; do
      for opt in "${optimizers[@]}"; do
        common=(--device "$device" --model "$model" --batch-size "$batch" --optimizer "$opt"
                --steps "$steps" --warmup "$warmup" --json)
        [[ "$precision" == tf32 ]] && common+=(--tf32)
        b=$(run_engine "$tmp/basin.out" "$basin" bench "${common[@]}")
        if [[ -n "$b" ]]; then echo "$b"; fi
        t=""
        if [[ -n "$python" ]]; then
          t=$(run_engine "$tmp/torch.out" "$python" "$here/tests/reference/bench_torch.py" "${common[@]}")
          if [[ -n "$t" ]]; then echo "$t"; fi
        fi
        rows+=("$model|$batch|$opt|$precision|$b|$t")
      done
    done
  done
done

"$table_python" - "$gpu" "${rows[@]}" <<'PY'
import json, sys
gpu = sys.argv[1]
def get(line, key):
    return json.loads(line)[key] if line else None
def fmt(v, spec):
    return format(v, spec) if v is not None else "-"
print(f"\nGPU: {gpu}   (img/s from the mean of the timed steps; ratio = basin img/s / torch img/s;"
      " peak MiB = device memory allocated by tensors during the timed steps)")
print(f"{'model':<10} {'batch':>5} {'optimizer':<9} {'precision':<9} {'basin img/s':>12} {'torch img/s':>12} "
      f"{'ratio':>7} {'basin peak MiB':>15} {'torch peak MiB':>15}")
summary = []
for row in sys.argv[2:]:
    model, batch, opt, precision, b, t = row.split("|", 5)
    bi, ti = get(b, "images_per_s"), get(t, "images_per_s")
    bp, tp = get(b, "peak_device_mib"), get(t, "peak_device_mib")
    ratio = bi / ti if bi and ti else None
    print(f"{model:<10} {int(batch):5d} {opt:<9} {precision:<9} {fmt(bi, '12.1f')} {fmt(ti, '12.1f')} "
          f"{fmt(ratio, '7.2f')} {fmt(bp, '15.0f')} {fmt(tp, '15.0f')}")
    summary.append({"bench": "gpu_step", "gpu": gpu, "model": model, "batch": int(batch), "optimizer": opt,
                    "precision": precision, "basin_images_per_s": bi, "torch_images_per_s": ti,
                    "ratio_basin_over_torch": round(ratio, 3) if ratio else None,
                    "basin_peak_device_mib": bp, "torch_peak_device_mib": tp,
                    "basin_median_ms": get(b, "median_ms"), "torch_median_ms": get(t, "median_ms")})
print()
for s in summary:
    print(json.dumps(s))
PY

#!/usr/bin/env bash
# `make bench`: basin's CPU training step next to PyTorch's on the same shapes
# (2 threads): ResNet-20 batch 128 and ResNet-18 batch 64, each with the SGD
# step (forward + backward + update) and the SAM and NCSAM steps, against
# Debian's python3-torch and the newest PyPI torch (a venv, .venv-bench).
#   apps/bench.sh BUILD_DIR
# Engines are interleaved (basin, torch, basin, torch, ... ROUNDS times) so a
# noisy neighbour hits all of them; each engine's timed steps are pooled over
# its rounds and the MEDIAN step is compared. The load average is printed at
# the start and the end: quote it next to the numbers (docs/benchmarks.md).
# Environment:
#   THREADS (2), ROUNDS (2), OPTIMIZERS ("sgd sam ncsam"),
#   STEPS20/WARMUP20 (5/1), STEPS18/WARMUP18 (3/1): timed/untimed steps per run,
#   BREAKDOWN=1 adds the per-layer conv table (basin vs torch ms, GFLOP/s),
#   GEMM=1 adds `basin bench --gemm` (FMA peak, GEMM GFLOP/s on the conv shapes),
#   BENCH_VENV (.venv-bench): venv of the PyPI torch; created on first use with
#     pip install torch --index-url https://download.pytorch.org/whl/cpu
#     (BENCH_VENV=none skips it; without network the bench says so and goes on),
#   OMP_WAIT_POLICY (passive, for every engine: spin-waiting makes all engines
#     erratic when other processes share the cores; active on a dedicated box).
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: apps/bench.sh BUILD_DIR}
basin="$build/basin"
[[ -x "$basin" ]] || { echo "bench.sh: $basin not found (build first: make)" >&2; exit 1; }
threads=${THREADS:-2}
rounds=${ROUNDS:-2}
read -r -a optimizers <<<"${OPTIMIZERS:-sgd sam ncsam}"
venv=${BENCH_VENV:-$here/.venv-bench}

# Torch engines: name=python. Debian's, then the PyPI one in the venv.
torches=()
if /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
  torches+=("torch-debian=/usr/bin/python3")
else
  echo "bench.sh: /usr/bin/python3 has no torch (bash cmake/deps.sh --reference)" >&2
fi
if [[ "$venv" != none ]]; then
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "bench.sh: installing the newest PyPI torch (CPU wheel) into $venv ..." >&2
    fresh=0
    [[ -e "$venv" ]] || fresh=1
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q --timeout 15 --retries 0 numpy torch \
             --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple; } >&2; then
      echo "bench.sh: could not install PyPI torch into $venv (no network?): Debian torch only" >&2
      [[ $fresh == 1 ]] && rm -rf "$venv"
    fi
  fi
  if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
    torches+=("torch-pypi=$venv/bin/python")
  fi
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "basin bench: $(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, load at start $(load), OMP_WAIT_POLICY=$OMP_WAIT_POLICY, $threads threads, $rounds interleaved rounds"
for t in "${torches[@]}"; do
  echo "  ${t%%=*}: torch $("${t#*=}" -c 'import torch; print(torch.__version__)') (${t#*=})"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/lines"

run_case() {  # model batch steps warmup
  local model=$1 batch=$2 steps=$3 warmup=$4 opt round t
  local common=(--model "$model" --batch-size "$batch" --threads "$threads" --steps "$steps" --warmup "$warmup")
  for opt in "${optimizers[@]}"; do
    for ((round = 1; round <= rounds; ++round)); do
      OMP_NUM_THREADS=$threads "$basin" bench "${common[@]}" --optimizer "$opt" --json \
        | grep '^{' | sed "s/^{/{\"run\":\"basin\",/" >>"$tmp/lines"
      for t in "${torches[@]}"; do
        OMP_NUM_THREADS=$threads "${t#*=}" "$here/tests/reference/bench_torch.py" "${common[@]}" \
          --optimizer "$opt" --json | grep '^{' | sed "s/^{/{\"run\": \"${t%%=*}\", /" >>"$tmp/lines"
      done
    done
    echo "  $model batch $batch $opt: done (load $(load))" >&2
  done
  if [[ "${BREAKDOWN:-0}" == 1 ]]; then
    OMP_NUM_THREADS=$threads "$basin" bench "${common[@]}" --steps 1 --warmup 1 --breakdown \
      | grep '^{"engine":"basin","layer"' | sed "s/^{/{\"run\":\"basin\",\"model\":\"$model\",/" >>"$tmp/lines"
    for t in "${torches[@]}"; do
      OMP_NUM_THREADS=$threads "${t#*=}" "$here/tests/reference/bench_torch.py" "${common[@]}" \
        --steps 1 --warmup 1 --breakdown | grep '^{"engine": "torch", "layer"' \
        | sed "s/^{/{\"run\": \"${t%%=*}\", \"model\": \"$model\", /" >>"$tmp/lines"
    done
  fi
}
run_case resnet20 128 "${STEPS20:-5}" "${WARMUP20:-1}"
run_case resnet18 64 "${STEPS18:-3}" "${WARMUP18:-1}"
if [[ "${GEMM:-0}" == 1 ]]; then
  echo
  OMP_NUM_THREADS=$threads "$basin" bench --gemm --model resnet20 --batch-size 128 --threads "$threads"
fi
echo "load at end $(load)"

summary_python=python3
[[ ${#torches[@]} -gt 0 ]] && summary_python=${torches[0]#*=}
"$summary_python" - "$tmp/lines" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
steps = [r for r in runs if "step_ms" in r]
layers = [r for r in runs if "layer" in r]
engines = [e for e in dict.fromkeys(r["run"] for r in steps) if e != "basin"]

def pooled(engine, model, step):
    rs = [r for r in steps if r["run"] == engine and r["model"] == model and r["step"] == step]
    ms = [v for r in rs for v in r["step_ms"]]
    return (statistics.median(ms), max(r["peak_rss_mib"] or 0 for r in rs), rs) if ms else None

print("\nmedian step over every timed step of the interleaved runs (ms); ratio = basin / torch")
head = f"{'model':<9} {'batch':>5} {'step':<13} {'basin ms':>9} {'GFLOP/s':>8} {'MiB':>6}"
for e in engines:
    head += f" {e + ' ms':>17} {'MiB':>6} {'ratio':>6}"
print(head)
cases = list(dict.fromkeys((r["model"], r["batch"], r["step"]) for r in steps if r["run"] == "basin"))
sgd_ms = {}
for model, batch, step in cases:
    b = pooled("basin", model, step)
    if step == "fwd+bwd+sgd":
        sgd_ms[model] = b[0]
    gflops = b[2][0].get("conv_gflop_per_step", 0) / (b[0] / 1000)
    line = f"{model:<9} {batch:5d} {step:<13} {b[0]:9.1f} {gflops:8.1f} {b[1]:6.0f}"
    summary = {"bench": "cpu_step", "model": model, "batch": batch, "step": step,
               "threads": b[2][0]["threads"], "basin_median_ms": round(b[0], 2),
               "basin_conv_gflops": round(gflops, 1), "basin_peak_rss_mib": b[1]}
    for e in engines:
        t = pooled(e, model, step)
        if t is None:
            line += f" {'-':>17} {'-':>6} {'-':>6}"
            continue
        line += f" {t[0]:17.1f} {t[1]:6.0f} {b[0] / t[0]:6.2f}"
        summary[e] = {"torch": t[2][0]["torch"], "median_ms": round(t[0], 2),
                      "peak_rss_mib": t[1], "ratio_basin_over_torch": round(b[0] / t[0], 3)}
    print(line)
    print(json.dumps(summary))
for model, batch, step in cases:
    if step != "fwd+bwd+sgd" and model in sgd_ms:
        ratio = pooled("basin", model, step)[0] / sgd_ms[model]
        print(f"basin {model} {step} / fwd+bwd+sgd step: {ratio:.2f}")
if layers:
    print("\nper-layer convolution (ms per pass: forward / backward-input / backward-weight; "
          "GFLOP/s of the three together; median of 3 runs of each kernel)")
    for model in dict.fromkeys(r["model"] for r in layers):
        print(f"{model}:")
        head = f"  {'layer':<20} {'x -> y':<26} {'basin fwd/bi/bw':>19} {'GFLOP/s':>8}"
        for e in engines:
            head += f" {e + ' fwd/bi/bw':>27} {'GFLOP/s':>8}"
        print(head)
        for lb in [r for r in layers if r["run"] == "basin" and r["model"] == model]:
            def cell(r):
                total = r["forward_ms"] + r["backward_input_ms"] + r["backward_weight_ms"]
                passes = 2 if r["backward_input_ms"] == 0 else 3
                return (f"{r['forward_ms']:5.1f}/{r['backward_input_ms']:5.1f}/{r['backward_weight_ms']:5.1f}",
                        passes * r["gflop_per_pass"] / (total / 1000))
            c, g = cell(lb)
            line = f"  {lb['layer']:<20} {lb['shape']:<26} {c:>19} {g:8.1f}"
            for e in engines:
                lt = [r for r in layers if r["run"] == e and r["model"] == model and r["layer"] == lb["layer"]]
                if lt:
                    c, g = cell(lt[0])
                    line += f" {c:>27} {g:8.1f}"
            print(line)
PY

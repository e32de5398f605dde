#!/usr/bin/env bash
# ThreadSanitizer probe of the OpenMP CPU kernels (docs/reliability.md): builds
# tests/reliability/tsan_kernels.cpp with core/cpu's gemm, convolution and
# pooling under clang -fsanitize=thread, linked with LLVM's libomp, and runs it
# with OMP_NUM_THREADS threads twice: with LLVM's Archer OMPT tool (it tells
# TSan about OpenMP's barriers, reductions and task joins) and without it.
# Only those four files are compiled (a TSan build of the whole engine takes
# too long for the shared machine); conv_shape's Tensor dependencies are
# never called, and the linker drops them (--gc-sections).
#   tsan_kernels.sh [OUT_DIR] [THREADS]
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build-tsan}
threads=${2:-4}
mkdir -p "$out"
archer=/usr/lib/llvm-14/lib/libarcher.so
clang++ -std=c++17 -O1 -g -march=native -fsanitize=thread -fopenmp=libomp -fno-omit-frame-pointer \
  -ffunction-sections -fdata-sections -Wl,--gc-sections -I. \
  tests/reliability/tsan_kernels.cpp core/cpu/gemm.cpp core/cpu/conv.cpp core/cpu/pool.cpp core/error.cpp \
  -o "$out/tsan_kernels"
# libomp itself is not instrumented: without ignore_noninstrumented_modules
# TSan reports the runtime's own mutex set-up (pthread_mutex_init in a worker,
# pthread_mutex_lock in the master, on memory libomp allocated) as a race.
# Without Archer (OMP_TOOL=disabled) TSan sees none of OpenMP's fork, join and
# barrier ordering either and reports false races everywhere (29 here); that
# run is shown for comparison and does not set the exit status.
run() {  # run LABEL LOG TOOL OMP_TOOL
  echo "== TSan, $1, OMP_NUM_THREADS=$threads"
  OMP_NUM_THREADS=$threads OMP_TOOL_LIBRARIES=$3 TSAN_OPTIONS="halt_on_error=0 ignore_noninstrumented_modules=1" \
    OMP_TOOL=$4 ARCHER_OPTIONS=verbose=1 "$out/tsan_kernels" >"$out/$2" 2>&1
  local rc=$?
  tail -1 "$out/$2"
  echo "TSan reports, $1: $(grep -c 'WARNING: ThreadSanitizer' "$out/$2" || true) (exit $rc)"
  return $rc
}
status=0
# The probe must be able to fail: a planted race has to be reported.
planted=$(BASIN_TSAN_PLANT_RACE=1 OMP_NUM_THREADS=$threads OMP_TOOL_LIBRARIES=$archer \
  TSAN_OPTIONS="halt_on_error=0 ignore_noninstrumented_modules=1" "$out/tsan_kernels" 2>&1 | grep -c 'SUMMARY: ThreadSanitizer')
echo "planted race: $planted TSan report(s) (expected 1)"
[[ $planted -ge 1 ]] || status=1
if [[ -f "$archer" ]]; then run "with Archer" tsan_archer.log "$archer" enabled || status=1; fi
run "without Archer (OMP_TOOL=disabled)" tsan_plain.log "" disabled || true  # shown, not judged: see above
exit $status

#!/usr/bin/env bash
# Runs every fuzz target of a BASIN_FUZZ build (make fuzz SECONDS=N RUNS=M):
# each for N seconds or M executions, whichever comes first, starting from its
# seed corpus in tests/fuzz/corpus/<target>/ (read only) and growing a working
# corpus in BUILD/fuzz/corpus/<target>/. Findings (crash, leak, timeout,
# sanitizer report) land in BUILD/fuzz/findings/; one JSON line per target is
# appended to BUILD/fuzz/results.jsonl. Exit status 1 when any target found something.
# FUZZ_NICE sets the niceness of the fuzzing process (default 10).
#   run.sh BUILD SECONDS RUNS [TARGET...]
set -uo pipefail
build=${1:?usage: run.sh BUILD SECONDS RUNS [TARGET...]}
seconds=${2:-60}
runs=${3:-1000000}
shift 3 || true
cd "$(dirname "$0")/../.."
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in tests/fuzz/*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
mkdir -p "$build/fuzz/findings"
status=0
for t in "${targets[@]}"; do
  binary="$build/fuzz_$t"
  [[ -x "$binary" ]] || { echo "fuzz: $binary is not built (make sanitize builds it)" >&2; exit 1; }
  work="$build/fuzz/corpus/$t"
  mkdir -p "$work"
  log="$build/fuzz/$t.log"
  echo "fuzz: $t for ${seconds}s or $runs executions (log: $log)"
  # The CPU time it got, next to the wall time: on a loaded machine they differ a lot.
  TIMEFORMAT='%U %S'
  { time nice -n "${FUZZ_NICE:-10}" "$binary" -max_total_time="$seconds" -runs="$runs" -timeout=25 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz/findings/$t-" "$work" "tests/fuzz/corpus/$t" \
      >"$log" 2>&1; } 2>"$build/fuzz/$t.cpu"
  rc=$?
  cpu=$(awk '{printf "%.0f", $1 + $2}' "$build/fuzz/$t.cpu")
  per_second=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  elapsed=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  findings=$(find "$build/fuzz/findings" -name "$t-*" -type f | wc -l)
  result=clean
  if [[ $rc -ne 0 ]]; then result="finding (exit $rc): see $log"; status=1; fi
  echo "fuzz: $t: ${execs:-?} executions in ${elapsed:-?}s (${cpu:-?} s CPU, ${per_second:-?}/s), corpus $corpus, coverage ${coverage:-?} edges, $result"
  printf '{"target": "%s", "executions": %s, "seconds": %s, "cpu_seconds": %s, "exec_per_second": %s, "corpus": %s, "coverage_edges": %s, "findings": %s, "exit": %s}\n' \
    "$t" "${execs:-null}" "${elapsed:-null}" "${cpu:-null}" "${per_second:-null}" "$corpus" "${coverage:-null}" "$findings" "$rc" >>"$build/fuzz/results.jsonl"
done
exit $status

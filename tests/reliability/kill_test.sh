#!/usr/bin/env bash
# Kill test (make check-kill, docs/reliability.md): a small training run is
# SIGKILLed at random moments and resumed, again and again, until it finishes;
# its final checkpoint must match an uninterrupted run's bit for bit, and every
# checkpoint left behind by a kill must be whole. Half of the kills wait for a
# checkpoint write to start (BASIN_FAULT_WRITE_DELAY_MS stretches each write)
# and land inside it. Trials repeat until at least KILLS kills have been made.
#   kill_test.sh BUILD [KILLS] [SEED]
set -uo pipefail
build=$(cd "${1:?usage: kill_test.sh BUILD [KILLS] [SEED]}" && pwd)
kills_wanted=${2:-50}
RANDOM=${3:-1}
cd "$(dirname "$0")/../.."
basin="$build/basin"
tool="tests/reliability/checkpoint_tool.py"
[[ -x "$basin" ]] || { echo "kill test: $basin is not built" >&2; exit 1; }
[[ -d /usr/share/datasets/fashion-mnist ]] || { echo "kill test: needs dataset-fashion-mnist (make deps)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/basin-kill.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/log"

# Tiny and fast: 4 steps per epoch, a checkpoint after each of 6 epochs.
run_flags=(--dataset fmnist --train-limit 256 --test-limit 64 --model resnet20 --width 0.25
           --optimizer ncsam --noise sym:0.4 --epochs 6 --batch-size 64 --seed 7 --threads 1 --quiet)
overwrite=()
"$basin" train --help 2>&1 | grep -q -- '--overwrite' && overwrite=(--overwrite)

fail() { echo "kill test: FAILED: $*" >&2; tail -20 "$log" >&2; exit 1; }

seconds_of() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }  # milliseconds -> "s.mmm" for sleep
start_ns=$(date +%s%N)
"$basin" train "${run_flags[@]}" --out "$work/reference" >"$log" 2>&1 || fail "the uninterrupted run failed"
reference_ms=$((($(date +%s%N) - start_ns) / 1000000))
echo "kill test: uninterrupted run $(seconds_of "$reference_ms")s; killing until $kills_wanted kills"

export BASIN_FAULT_WRITE_DELAY_MS=150
kills=0 mid_write=0 trials=0 invocations=0
while (( kills < kills_wanted )); do
  trials=$((trials + 1))
  dir="$work/trial$trials"
  while :; do
    invocations=$((invocations + 1))
    if [[ -f "$dir/checkpoint.safetensors" ]]; then
      "$basin" train --resume "$dir" --quiet >>"$log" 2>&1 &
    else
      "$basin" train "${run_flags[@]}" --out "$dir" "${overwrite[@]}" >>"$log" 2>&1 &
    fi
    pid=$!
    if (( RANDOM % 2 )); then  # at a random moment of the run
      sleep "$(seconds_of $(((RANDOM * 32768 + RANDOM) % reference_ms)))"
    else                       # inside a checkpoint write
      while kill -0 "$pid" 2>/dev/null && ! compgen -G "$dir/checkpoint.safetensors.tmp.$pid" >/dev/null; do
        sleep 0.01
      done
      sleep "$(seconds_of $((RANDOM % 150)))"
    fi
    if kill -KILL "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      kills=$((kills + 1))
      compgen -G "$dir/checkpoint.safetensors.tmp.$pid" >/dev/null && mid_write=$((mid_write + 1))
      if [[ -f "$dir/checkpoint.safetensors" ]]; then
        python3 "$tool" check "$dir/checkpoint.safetensors" >/dev/null 2>>"$log" \
          || fail "kill $kills left an unreadable checkpoint"
      fi
    else
      wait "$pid"; rc=$?
      (( rc == 0 )) || fail "invocation $invocations exited with status $rc"
      break  # the run finished before the kill
    fi
  done
  python3 "$tool" same "$work/reference/checkpoint.safetensors" "$dir/checkpoint.safetensors" >>"$log" 2>&1 \
    || fail "trial $trials: the final checkpoint differs from the uninterrupted run's"
  echo "kill test: trial $trials finished bit-identical; $kills kills so far ($mid_write inside a checkpoint write)"
done
echo "kill test: passed: $kills SIGKILLs ($mid_write inside a checkpoint write) over $trials trials and $invocations invocations; every final checkpoint bit-identical to the uninterrupted run, no checkpoint unreadable"

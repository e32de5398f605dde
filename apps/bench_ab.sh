#!/usr/bin/env bash
# A/B of two basin builds on a machine shared with other work: the two
# `basin bench` binaries run interleaved (A, B, A, B, ... ROUNDS times) on the
# same model, and the comparison uses each step's process CPU time (the
# "step_cpu_ms" of `basin bench --json`), which a neighbour taking the cores
# does not inflate the way it inflates wall time. Prints per engine the median
# wall ms, median CPU ms and peak RSS, then B/A ratios, with the load average.
#   apps/bench_ab.sh OLD_BASIN NEW_BASIN [basin bench flags...]
#   e.g. apps/bench_ab.sh /tmp/basin-old build-dev/basin --model resnet20 --batch-size 128 \
#          --threads 1 --steps 4 --warmup 1 --optimizer sgd
# Environment: ROUNDS (3).
set -euo pipefail
old=${1:?usage: apps/bench_ab.sh OLD_BASIN NEW_BASIN [bench flags]}
new=${2:?usage: apps/bench_ab.sh OLD_BASIN NEW_BASIN [bench flags]}
shift 2
rounds=${ROUNDS:-3}
threads=1
for ((i = 1; i <= $#; ++i)); do [[ "${!i}" == --threads ]] && { j=$((i + 1)); threads=${!j}; }; done
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "bench_ab: $(date -u +%H:%MZ), load at start $(load), $rounds rounds, flags: $*"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for ((r = 1; r <= rounds; ++r)); do
  for side in A B; do
    bin=$old
    [[ $side == B ]] && bin=$new
    OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$bin" bench "$@" --json \
      | grep '^{' | sed "s/^{/{\"side\":\"$side\",/" >>"$tmp"
  done
done
echo "load at end $(load)"
python3 - "$tmp" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
stats = {}
for side in "AB":
    rs = [r for r in runs if r["side"] == side]
    wall = statistics.median(v for r in rs for v in r["step_ms"])
    cpu = statistics.median(v for r in rs for v in r.get("step_cpu_ms", []) or [float("nan")])
    rss = max(r["peak_rss_mib"] or 0 for r in rs)
    stats[side] = (wall, cpu, rss)
    losses = sorted({r["loss"] for r in rs})
    print(f"{side}: median wall {wall:9.1f} ms  median cpu {cpu:9.1f} ms  peak RSS {rss:7.1f} MiB"
          f"  loss {losses}")
a, b = stats["A"], stats["B"]
print(f"B/A: wall {b[0] / a[0]:.3f}  cpu {b[1] / a[1]:.3f}  peak RSS {b[2] / a[2]:.3f}")
PY

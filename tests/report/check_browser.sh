#!/usr/bin/env bash
# Renders a `basin report` page in a real headless browser (Debian's chromium)
# and checks that every figure the report wrote is in the rendered page, drawn.
# The runs come from a tiny `basin sweep` (2 optimizers x 2 seeds, 2 epochs of
# 256 Fashion-MNIST images), so this also exercises sweep -> report end to end.
#   usage: tests/report/check_browser.sh [BUILD_DIR]     (make check-report)
set -euo pipefail
build=${1:-build}
basin="$build/basin"
[[ -x $basin ]] || { echo "check-report: $basin not built (make build-basin)" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "check-report: no chromium (bash cmake/deps.sh --browser installs it)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$basin" sweep --out "$tmp/sweep" --grid optimizer=sgd,sam --grid seed=0,1 --epochs 2 --train-limit 256 \
  --test-limit 256 --width 0.25 --batch-size 64 --noise sym:0.4 --log-every 1 --jobs 2 --threads 2 \
  > "$tmp/sweep.log" 2>&1 || { cat "$tmp/sweep.log"; exit 1; }
"$basin" report "$tmp/sweep" --out "$tmp/report.html" >/dev/null

# Chromium runs as root here (CI): it needs --no-sandbox then. Its own chatter goes to a log.
flags=(--headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$tmp/profile")
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$tmp/report.html" > "$tmp/dom.html" 2> "$tmp/chromium.log" \
  || { tail -20 "$tmp/chromium.log"; echo "check-report: chromium failed to render the page" >&2; exit 1; }
timeout 120 "$browser" "${flags[@]}" --window-size=1200,4000 --screenshot="$tmp/page.png" \
  "file://$tmp/report.html" >> "$tmp/chromium.log" 2>&1 || true

expected=$(grep -o 'data-figures="[0-9]*"' "$tmp/report.html" | grep -o '[0-9]*')
files=$(ls "$tmp"/report-*.svg | wc -l)
# Every figure element of the rendered DOM, one per line, with what it holds.
python3 - "$tmp/dom.html" "$expected" "$files" <<'PY'
import re, sys
dom, expected, files = open(sys.argv[1], encoding="utf-8").read(), int(sys.argv[2]), int(sys.argv[3])
figures = re.findall(r'<figure id="fig-([a-z_0-9]+)">(.*?)</figure>', dom, re.S)
problems = []
if expected == 0: problems.append("the report says it has no figures")
if len(figures) != expected: problems.append(f"{len(figures)} figures rendered, the report wrote {expected}")
if files != expected: problems.append(f"{files} .svg files beside the page, {expected} figures in it")
for name, body in figures:
    if "<svg" not in body: problems.append(f"figure {name}: no <svg> in the rendered DOM")
    elif "<polyline" not in body: problems.append(f"figure {name}: no line drawn")
if problems:
    print("check-report: FAILED\n  " + "\n  ".join(problems)); sys.exit(1)
print(f"check-report: {len(figures)} figures rendered by chromium: " + ", ".join(n for n, _ in figures))
PY
if [[ -s $tmp/page.png ]]; then echo "check-report: screenshot $(stat -c %s "$tmp/page.png") bytes"; fi
echo "check-report: ok"

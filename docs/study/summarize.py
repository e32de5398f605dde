#!/usr/bin/env python3
"""One line per run of a study folder: best/final clean test accuracy, final
memorization, seconds per epoch, and for NCSAM the mean step observables after
warm-up. Reads run.jsonl only (standard library), for docs/study.md's tables.
   python3 docs/study/summarize.py docs/study/runs/sym"""
import json, pathlib, statistics, sys

def mean(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.fmean(xs) if xs else float("nan")

for sweep in sys.argv[1:]:
    for run in sorted(pathlib.Path(sweep).glob("*/run.jsonl")):
        epochs, steps = [], []
        for line in run.read_text().splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a run still in progress
            (epochs if d.get("type") == "epoch" else steps if d.get("type") == "step" else []).append(d)
        if not epochs:
            continue
        acc = [e["test_acc"] for e in epochs if "test_acc" in e]
        perturbed = [s for s in steps if s.get("perturbed")]
        line = (f"{run.parent.name:40s} epochs {len(epochs):2d}  test best {max(acc):.3f} final {acc[-1]:.3f}  "
                f"memorization {epochs[-1]['memorization']:.3f}  median s/epoch {statistics.median([e['epoch_s'] for e in epochs]):.1f}")
        if any("comp_ratio" in s and isinstance(s["comp_ratio"], (int, float)) for s in perturbed):
            line += (f"  |e| {mean(s['perturb_norm'] for s in perturbed):.3f}"
                     f"  comp_ratio {mean(s['comp_ratio'] for s in perturbed):.2f}"
                     f"  cos(g,g*) {mean(s['cos_g_aux'] for s in perturbed):+.2f}"
                     f"  s(t) {mean(s['s_t'] for s in perturbed):.3f}"
                     f"  chosen_wrong {mean(s['chosen_wrong_share'] for s in perturbed):.2f}"
                     f" vs batch_wrong {mean(s['batch_wrong_share'] for s in perturbed):.2f}")
        print(line)

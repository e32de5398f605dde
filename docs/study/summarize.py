#!/usr/bin/env python3
"""docs/study.md's tables from run.jsonl files only (standard library).
   python3 docs/study/summarize.py DIR...          one line per run
   python3 docs/study/summarize.py --group DIR...  one markdown row per configuration:
       runs that differ only in their seed, mean ± sample std over the seeds
Per run: best/final clean test accuracy, final memorization, median seconds per
epoch, and for perturbed steps after warm-up the mean step observables."""
import json, pathlib, re, statistics, sys

def mean(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.fmean(xs) if xs else float("nan")

def read_run(path):
    epochs, steps = [], []
    for line in path.read_text().splitlines():
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line of a run still in progress
        (epochs if d.get("type") == "epoch" else steps if d.get("type") == "step" else []).append(d)
    if not epochs:
        return None
    acc = [e["test_acc"] for e in epochs if "test_acc" in e]
    perturbed = [s for s in steps if s.get("perturbed")]
    r = {"epochs": len(epochs), "best": max(acc), "final": acc[-1], "mem": epochs[-1]["memorization"],
         "s_epoch": statistics.median(e["epoch_s"] for e in epochs)}
    if perturbed:
        r.update(e_norm=mean(s.get("perturb_norm") for s in perturbed),
                 cos_g_aux=mean(s.get("cos_g_aux") for s in perturbed),
                 comp_ratio=mean(s.get("comp_ratio") for s in perturbed),
                 s_t=mean(s.get("s_t") for s in perturbed),
                 chosen_wrong=mean(s.get("chosen_wrong_share") for s in perturbed),
                 batch_wrong=mean(s.get("batch_wrong_share") for s in perturbed))
    return r

def runs(dirs):
    for d in dirs:
        for path in sorted(pathlib.Path(d).glob("*/run.jsonl")):
            r = read_run(path)
            if r:
                yield pathlib.Path(d).name, path.parent.name, r

def pm(xs, digits=3):
    if len(xs) == 1:
        return f"{xs[0]:.{digits}f}"
    return f"{statistics.fmean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}"

def grouped(dirs):
    groups = {}
    for sweep, name, r in runs(dirs):
        config = re.sub(r"(^|,)seed=\d+", "", name).strip(",") or "(one configuration)"
        groups.setdefault((sweep, config), []).append(r)
    print("| sweep | configuration | seeds | best test acc | final test acc | final memorization | s/epoch |")
    print("|---|---|---|---|---|---|---|")
    for (sweep, config), rs in groups.items():
        print(f"| {sweep} | {config} | {len(rs)} | {pm([r['best'] for r in rs])} | {pm([r['final'] for r in rs])} "
              f"| {pm([r['mem'] for r in rs])} | {pm([r['s_epoch'] for r in rs], 1)} |")

def per_run(dirs):
    for sweep, name, r in runs(dirs):
        line = (f"{sweep + '/' + name:48s} epochs {r['epochs']:2d}  test best {r['best']:.3f} final {r['final']:.3f}  "
                f"memorization {r['mem']:.3f}  median s/epoch {r['s_epoch']:.1f}")
        if "e_norm" in r:
            line += f"  |e| {r['e_norm']:.3f}  cos(g,g*) {r['cos_g_aux']:+.2f}"
            if r["comp_ratio"] == r["comp_ratio"]:  # NCSAM only
                line += (f"  comp_ratio {r['comp_ratio']:.2f}  s(t) {r['s_t']:.3f}"
                         f"  chosen_wrong {r['chosen_wrong']:.2f} vs batch_wrong {r['batch_wrong']:.2f}")
        print(line)

if __name__ == "__main__":
    args = sys.argv[1:]
    (grouped if args[:1] == ["--group"] else per_run)([a for a in args if a != "--group"])

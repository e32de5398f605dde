"""Replay one `basin train --dump-step N` step in PyTorch from the dump alone.

usage: /usr/bin/python3 replay_step.py STEP.safetensors [--tol 1e-4] [--lr-scale 1]

The dump holds the batch as it was fed (augmented and normalised), the labels
trained on, the weights and the momentum buffer before the step, every scalar
(lr, rho, s(t), momentum, weight decay, ...) as an exact decimal, the model to
build, and basin's g, e, g2, g* and weights after the step. This script builds
the same ResNet (check_resnet.py), puts the dumped weights in it through the
segment table, and redoes the step with its own code:

  SGD:    g at w;                         d = g + wd*w;  m = mu*m + d;  w -= lr*m
  SAM:    e = rho*g/(|g| + eps), g2 at w + e (train-mode BatchNorm), then as SGD with g2
  NCSAM:  g* = gradient of the mean CE of the dumped chosen rows against their
          temporary labels (recomputed: the top class, or the runner-up when the
          top class is the label), s(t) = kappa*min(2(3-2t)t^2, 1),
          e = rho*g/(|g| + eps) + sign*s(t)*g*, rescaled onto the rho-ball when
          projecting and |e| > rho, then as SAM.

The samples NCSAM chose come from basin's random stream, so they are taken from
the dump (and checked to be distinct rows of the batch). Comparisons are
relative L2 errors against basin's tensors, in f32 as basin trained; the update
w_after - w_before is the one that matters. --lr-scale multiplies the replay's
learning rate: check.sh uses it to show that a 1% error in the update fails.
Exits 0 when everything is within --tol, 1 otherwise, 2 on an unusable dump.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_resnet  # noqa: E402
import safetensors_np  # noqa: E402


def parse_segments(text):
    """'name:offset:numel:[shape]:decay|no_decay:kind;' -> list of dicts."""
    out = []
    for item in filter(None, text.split(";")):
        name, offset, numel, shape, decay, _kind = item.rsplit(":", 5)
        dims = [int(d) for d in shape.strip("[]").replace(" ", "").split(",") if d]
        out.append({"name": name, "offset": int(offset), "numel": int(numel), "shape": dims,
                    "decay": decay == "decay"})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dump")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--lr-scale", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    check_resnet.RECORD_RELUS = False

    try:
        t, meta = safetensors_np.load(args.dump)
    except (OSError, ValueError) as e:
        print(f"replay_step.py: cannot read {args.dump}: {e}", file=sys.stderr)
        return 2
    needed = ["inputs", "labels", "w_before", "w_after", "g", "logits"]
    missing = [k for k in needed if k not in t] + [k for k in ("model", "width", "num_classes", "in_channels",
                                                               "segments", "lr", "method") if k not in meta]
    if missing:
        print(f"replay_step.py: {args.dump}: missing {missing} (not a self-sufficient step dump)",
              file=sys.stderr)
        return 2
    method = meta["method"]
    if method not in ("sgd", "sam", "ncsam") or meta.get("micro_batches", "1") != "1":
        print(f"replay_step.py: {args.dump}: method {method} with {meta.get('micro_batches')} micro-batches "
              "is not replayed here (sgd, sam, ncsam, one batch)", file=sys.stderr)
        return 2
    if meta.get("skipped") == "true":
        print(f"replay_step.py: {args.dump}: the step was skipped; nothing to replay", file=sys.stderr)
        return 2

    f64 = lambda key: float(meta[key])  # noqa: E731  (exact decimals: %.17g)
    lr, rho, mu, wd = f64("lr") * args.lr_scale, f64("rho"), f64("momentum"), f64("weight_decay")
    smoothing, eps = f64("label_smoothing"), f64("norm_epsilon")
    model = check_resnet.build(meta["model"], int(meta["num_classes"]), f64("width"), int(meta["in_channels"]))
    model.train()
    segments = parse_segments(meta["segments"])
    params = dict(model.named_parameters())
    names = [s["name"] for s in segments]
    if names != list(params):
        print(f"replay_step.py: segment names differ from the PyTorch model's parameters: "
              f"{[n for n in names if n not in params][:5]} / {[n for n in params if n not in names][:5]}",
              file=sys.stderr)
        return 2
    dtype = torch.from_numpy(t["w_before"]).dtype
    model.to(dtype)
    w_before = torch.from_numpy(t["w_before"]).reshape(-1)

    def set_weights(flat):
        with torch.no_grad():
            for s in segments:
                params[s["name"]].copy_(flat[s["offset"]:s["offset"] + s["numel"]].reshape(s["shape"]))

    def gradient(loss, retain=False):
        grads = torch.autograd.grad(loss, [params[n] for n in names], retain_graph=retain)
        return torch.cat([g.reshape(-1) for g in grads])

    x = torch.from_numpy(t["inputs"])
    y = torch.from_numpy(t["labels"]).long()
    rows = []

    # ---- pass 1 at w ----
    set_weights(w_before)
    logits = model(x)
    loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
    g = gradient(loss, retain=(method == "ncsam"))
    rows += [("logits", check_resnet.rel_err(t["logits"], logits.detach().numpy())),
             ("loss", check_resnet.rel_err(f64("loss"), loss.item())),
             ("g", check_resnet.rel_err(t["g"], g.numpy()))]

    direction = g
    if method in ("sam", "ncsam") and meta.get("perturbed") == "true":
        e = rho * g / (g.norm() + eps)
        if method == "ncsam":
            chosen = torch.from_numpy(t["ncsam.chosen"]).long()
            if len(set(chosen.tolist())) != len(chosen) or chosen.min() < 0 or chosen.max() >= len(y):
                print("replay_step.py: ncsam.chosen is not a set of distinct rows of the batch", file=sys.stderr)
                return 1
            top2 = logits.detach().topk(2, dim=1).indices
            runner_up = torch.where(top2[:, 0] == y, top2[:, 1], top2[:, 0])
            temporary = runner_up[chosen]
            same = np.array_equal(temporary.numpy(), t["ncsam.temporary_labels"])
            rows.append(("ncsam.temporary_labels", 0.0 if same else float("inf")))
            sub = F.cross_entropy(logits[chosen], temporary, label_smoothing=f64("subset_label_smoothing"))
            g_star = gradient(sub)
            rows.append(("ncsam.g_star", check_resnet.rel_err(t["ncsam.g_star"], g_star.numpy())))
            progress = f64("progress")
            s_t = f64("kappa") * min(2.0 * (3.0 - 2.0 * progress) * progress * progress, 1.0)
            rows.append(("s_t", check_resnet.rel_err(f64("s_t"), s_t)))
            e = e + float(meta["sign"]) * s_t * g_star
            if meta["project"] == "true" and e.norm() > rho:
                e = e * (rho / e.norm())
        rows.append(("e", check_resnet.rel_err(t["e"], e.numpy())))
        # ---- pass 2 at w + e (running statistics do not enter a train-mode forward) ----
        set_weights(w_before + e)
        loss2 = F.cross_entropy(model(x), y, label_smoothing=smoothing)
        direction = gradient(loss2)
        rows += [("loss_perturbed", check_resnet.rel_err(f64("loss_perturbed"), loss2.item())),
                 ("g2", check_resnet.rel_err(t["g2"], direction.numpy()))]

    # ---- base SGD at w_before (weight decay where the segment table says) ----
    decay = torch.cat([torch.full((s["numel"],), 1.0 if s["decay"] else 0.0, dtype=dtype) for s in segments])
    d = direction + wd * decay * w_before
    m_before = torch.from_numpy(t["momentum_before"]).reshape(-1) if "momentum_before" in t else torch.zeros_like(d)
    m = mu * m_before + d if mu != 0 else d
    step = d + mu * m if meta.get("nesterov") == "true" else m
    w_after = w_before - lr * step
    want_update = t["w_after"].reshape(-1).astype(np.float64) - t["w_before"].reshape(-1).astype(np.float64)
    rows.append(("update w_after - w_before", check_resnet.rel_err(want_update,
                                                                  (w_after - w_before).double().numpy())))
    if "momentum_after" in t:
        rows.append(("momentum_after", check_resnet.rel_err(t["momentum_after"], m.numpy())))

    failed = [(n, err) for n, err in rows if not (err < args.tol)]
    width = max(len(n) for n, _ in rows)
    label = f"{method} step {meta.get('step')}"
    print(f"{label}: {meta['model']} width {meta['width']}, batch {x.shape[0]}, lr {lr:.17g}, "
          f"tolerance {args.tol:g} (relative L2)")
    for n, err in rows:
        print(f"  {n:<{width}}  {err:.3e}{'  FAIL' if not (err < args.tol) else ''}")
    worst = max(rows, key=lambda r: r[1])
    print(f"{label}: worst {worst[0]} {worst[1]:.3e}; {len(failed)} of {len(rows)} over tolerance")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The PyTorch side of `make bench`: the same training step as `basin bench`
(forward + backward of the mean cross-entropy of a CIFAR ResNet on random
data, optionally + SGD or SAM) with torch.set_num_threads(threads).

usage: /usr/bin/python3 bench_torch.py --model resnet20 --batch 128 --threads 2
       [--steps 10] [--warmup 2] [--optimizer none|sgd|sam] [--json] [--breakdown]

Prints a table and one JSON line with the same fields as basin's. The model is
check_resnet.py's (the architecture the reference check holds basin to).
--breakdown times each convolution (forward, backward-input, backward-weight)
and BatchNorm (train forward, backward) alone through aten, like basin's.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_resnet  # noqa: E402

check_resnet.RECORD_RELUS = False


def median3(fn):
    fn()
    ms = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        ms.append(1000 * (time.perf_counter() - t0))
    return sorted(ms)[1]


def stage_output_size(name, size):
    if not name.startswith("layer"):
        return size
    stage = int(name[5:].split(".")[0])
    return size >> (stage - 1)


def breakdown(model, batch, size, step_ms):
    conv_ops = torch.ops.aten.convolution_backward
    totals = dict(conv_forward=0.0, conv_backward_input=0.0, conv_backward_weight=0.0,
                  bn_forward=0.0, bn_backward=0.0)
    print(f"\nper-layer kernel times (ms, median of 3; torch {torch.__version__})")
    print(f"{'conv layer':<28} {'x -> y':<26} {'forward':>9} {'bwd-input':>9} {'bwd-weight':>9}")
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Conv2d):
                s = m.stride[0]
                oh = stage_output_size(name, size)
                ih = oh * s
                x = torch.randn(batch, m.in_channels, ih, ih)
                w = m.weight.detach()
                gy = torch.randn(batch, m.out_channels, oh, oh)
                args = ([0], m.stride, m.padding, m.dilation, False, [0, 0], 1)
                f = median3(lambda: F.conv2d(x, w, None, m.stride, m.padding))
                bi = 0.0 if name == "conv1" else median3(
                    lambda: conv_ops(gy, x, w, *args, [True, False, False]))
                bw = median3(lambda: conv_ops(gy, x, w, *args, [False, True, False]))
                totals["conv_forward"] += f
                totals["conv_backward_input"] += bi
                totals["conv_backward_weight"] += bw
                shapes = f"{m.in_channels}x{ih}x{ih} -> {m.out_channels}x{oh}x{oh} k{m.kernel_size[0]}"
                print(f"{name:<28} {shapes:<26} {f:9.2f} {bi:9.2f} {bw:9.2f}")
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                hw = stage_output_size(name, size)
                c = m.num_features
                x = torch.randn(batch, c, hw, hw)
                gy = torch.randn_like(x)
                g, b = m.weight.detach(), m.bias.detach()
                rm, rv = torch.zeros(c), torch.ones(c)
                out = torch.ops.aten.native_batch_norm(x, g, b, rm, rv, True, 0.1, 1e-5)
                totals["bn_forward"] += median3(
                    lambda: torch.ops.aten.native_batch_norm(x, g, b, rm, rv, True, 0.1, 1e-5))
                totals["bn_backward"] += median3(lambda: torch.ops.aten.native_batch_norm_backward(
                    gy, x, g, rm, rv, out[1], out[2], True, 1e-5, [True, True, True]))
    counted = sum(totals.values())
    totals["other"] = step_ms - counted
    totals["step"] = step_ms
    print(f"\n{'kernel':<24} {'ms/step':>10} {'% step':>8}")
    labels = [("conv forward", "conv_forward"), ("conv backward-input", "conv_backward_input"),
              ("conv backward-weight", "conv_backward_weight"), ("batchnorm forward", "bn_forward"),
              ("batchnorm backward", "bn_backward"), ("other (step - above)", "other")]
    for label, key in labels:
        print(f"{label:<24} {totals[key]:10.1f} {100 * totals[key] / step_ms:7.1f}%")
    print(f"{'measured step':<24} {step_ms:10.1f}")
    print(json.dumps({"engine": "torch", "breakdown_ms": {k: round(v, 2) for k, v in totals.items()}}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--optimizer", default="none", choices=["none", "sgd", "sam"])
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--breakdown", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = check_resnet.build(args.model, args.classes)
    model.train()
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, args.classes, (args.batch,))
    params = list(model.parameters())
    opt = (torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)
           if args.optimizer != "none" else None)

    def step():
        for p in params:
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if args.optimizer == "sam":  # w + rho g/|g|, second pass, restore, SGD step
            with torch.no_grad():
                norm = torch.norm(torch.stack([p.grad.norm() for p in params]))
                e = [0.05 * p.grad / (norm + 1e-12) for p in params]
                for p, ei in zip(params, e):
                    p.add_(ei)
            for p in params:
                p.grad = None
            F.cross_entropy(model(x), y).backward()
            with torch.no_grad():
                for p, ei in zip(params, e):
                    p.sub_(ei)
        if opt is not None:
            opt.step()
        return loss.item()

    loss = 0.0
    for _ in range(args.warmup):
        loss = step()
    ms = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        ms.append(1000 * (time.perf_counter() - t0))
    mean = sum(ms) / len(ms)
    srt = sorted(ms)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    what = "fwd+bwd" if args.optimizer == "none" else "fwd+bwd+" + args.optimizer
    if not args.json:
        print(f"{'model':<10} {'batch':>6} {'threads':>7} {'step':<14} {'ms/step':>9} {'median':>9} "
              f"{'min':>9} {'images/s':>10} {'peak MiB':>10}")
        print(f"{args.model:<10} {args.batch:6d} {args.threads:7d} {what:<14} {mean:9.1f} "
              f"{srt[len(srt) // 2]:9.1f} {srt[0]:9.1f} {1000 * args.batch / mean:10.1f} {int(peak):10d}")
    print(json.dumps({"engine": "torch", "torch": torch.__version__, "model": args.model,
                      "batch": args.batch, "threads": args.threads, "device": "cpu", "step": what,
                      "steps": args.steps, "warmup": args.warmup, "ms_per_step": round(mean, 3),
                      "median_ms": round(srt[len(srt) // 2], 3), "min_ms": round(srt[0], 3),
                      "images_per_s": round(1000 * args.batch / mean, 2),
                      "peak_rss_mib": round(peak, 1), "loss": round(loss, 6)}))
    if args.breakdown:
        breakdown(model, args.batch, args.size, mean)


if __name__ == "__main__":
    main()

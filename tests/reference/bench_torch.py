"""The PyTorch side of `make bench` and apps/bench_gpu.sh: the same training step
as `basin bench` (forward + backward of the mean cross-entropy of a CIFAR ResNet
on random data, optionally + SGD, SAM or NCSAM) on the CPU with
torch.set_num_threads(threads), or on a GPU.

usage: /usr/bin/python3 bench_torch.py --model resnet20 --batch-size 128 --threads 2
       [--steps 10] [--warmup 2] [--optimizer none|sgd|sam|ncsam]
       [--device cpu|cuda[:i]] [--tf32] [--json] [--breakdown]

Prints a table and one JSON line with the same fields as basin's. The model is
check_resnet.py's (the architecture the reference check holds basin to).
--breakdown times each convolution (forward, backward-input, backward-weight)
and BatchNorm (train forward, backward) alone through aten, like basin's (CPU).
On a GPU every step starts and ends with torch.cuda.synchronize(), TF32 is off
unless --tf32 (matmul and cuDNN alike), and the peak device memory of the timed
steps is torch.cuda.max_memory_allocated(). NCSAM is written here from
docs/algorithms.md ("NCSAM") for timing: its sampling uses torch's RNG, not basin's stream.
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
    print(f"{'conv layer':<28} {'x -> y':<26} {'forward':>9} {'bwd-input':>9} {'bwd-weight':>9} "
          f"{'GFLOP/s':>9}")
    layers = []
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
                gflop = 2.0 * batch * m.out_channels * oh * oh * m.in_channels * m.kernel_size[0] ** 2 / 1e9
                passes = 2 if name == "conv1" else 3
                print(f"{name:<28} {shapes:<26} {f:9.2f} {bi:9.2f} {bw:9.2f} "
                      f"{passes * gflop / ((f + bi + bw) / 1000):9.1f}")
                layers.append({"engine": "torch", "layer": name, "shape": shapes, "forward_ms": f,
                               "backward_input_ms": bi, "backward_weight_ms": bw,
                               "gflop_per_pass": gflop})
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
    for layer in layers:
        print(json.dumps(layer))


def sharpness_aware_step(model, params, bns, x, y, opt, args):
    """One SAM or NCSAM step (docs/algorithms.md) with no host round trip before loss.item():
    pass 1 at w, e from g (and g*), pass 2 at w+e with BatchNorm running stats frozen,
    w -= e, SGD with the gradient at w+e."""
    rho = 0.05
    for p in params:
        p.grad = None
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    ncsam = args.optimizer == "ncsam"
    loss.backward(retain_graph=ncsam)
    g = [p.grad.detach().clone() for p in params]
    with torch.no_grad():
        g_norm = torch.norm(torch.stack([gi.norm() for gi in g]))
        e = [rho * gi / (g_norm + 1e-12) for gi in g]
    if ncsam:
        kappa, r_flip, t = 0.1, 0.2, 0.5
        with torch.no_grad():
            z = logits.detach()
            top2 = torch.topk(z, 2, dim=1).values
            q = 1.0 / (1.0 + (top2[:, 0] - top2[:, 1]))  # low margin: likely to be drawn
            p_draw = q / q.sum()
            u = torch.rand(z.shape[0], device=z.device).clamp_(min=1e-20, max=1.0 - 1e-7)
            keys = torch.log(p_draw) - torch.log(-torch.log(u))  # Gumbel-top-k
            m = max(1, int(r_flip * z.shape[0]))
            chosen = torch.topk(keys, m).indices
            masked = z.scatter(1, y.unsqueeze(1), float("-inf"))
            temp_labels = masked.argmax(dim=1)  # best class other than the observed label
        # g*: a second upstream gradient through the retained pass-1 graph.
        subset_loss = F.cross_entropy(logits[chosen], temp_labels[chosen])
        g_star = torch.autograd.grad(subset_loss, params)
        r_t = 2 * (3 - 2 * t) * t * t
        s_t = kappa * min(r_t, 1.0)
        with torch.no_grad():
            e = [ei + s_t * gs for ei, gs in zip(e, g_star)]
            e_norm = torch.norm(torch.stack([ei.norm() for ei in e]))
            scale = torch.clamp(rho / (e_norm + 1e-12), max=1.0)  # projection onto the rho-ball
            e = [ei * scale for ei in e]
    with torch.no_grad():
        for p, ei in zip(params, e):
            p.add_(ei)
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0  # running stats frozen in pass 2
    for p in params:
        p.grad = None
    F.cross_entropy(model(x), y).backward()
    for bn, mom in zip(bns, momenta):
        bn.momentum = mom
    with torch.no_grad():
        for p, ei in zip(params, e):
            p.sub_(ei)
    opt.step()
    return loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--batch-size", dest="batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--optimizer", default="none", choices=["none", "sgd", "sam", "ncsam"])
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    ap.add_argument("--tf32", action="store_true",
                    help="GPU: TF32 tensor-core math for matmul and cuDNN (default: full f32)")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--breakdown", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type not in ("cpu", "cuda"):
        sys.exit(f"bench_torch.py: --device must be cpu or cuda[:i], got {args.device!r}")
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit(f"bench_torch.py: --device {args.device}: torch {torch.__version__} sees no GPU")
    if args.tf32 and not cuda:
        sys.exit("bench_torch.py: --tf32 applies to --device cuda only")
    if args.breakdown and cuda:
        sys.exit("bench_torch.py: --breakdown times CPU kernels only")
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = check_resnet.build(args.model, args.classes).to(device)
    model.train()
    x = torch.randn(args.batch, 3, args.size, args.size).to(device)
    y = torch.randint(0, args.classes, (args.batch,)).to(device)
    params = list(model.parameters())
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    opt = (torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)
           if args.optimizer != "none" else None)

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def step():
        if args.optimizer in ("sam", "ncsam"):
            return sharpness_aware_step(model, params, bns, x, y, opt, args).item()
        for p in params:
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if opt is not None:
            opt.step()
        return loss.item()

    loss = 0.0
    for _ in range(args.warmup):
        loss = step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    ms = []
    for _ in range(args.steps):
        sync()
        t0 = time.perf_counter()
        loss = step()
        sync()
        ms.append(1000 * (time.perf_counter() - t0))
    mean = sum(ms) / len(ms)
    srt = sorted(ms)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    peak_device = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    if cuda:
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = "cpu"
        try:
            with open("/proc/cpuinfo") as f:
                device_name = next((ln.split(":", 1)[1].strip() for ln in f
                                    if ln.startswith("model name")), "cpu")
        except OSError:
            pass
    what = "fwd+bwd" if args.optimizer == "none" else "fwd+bwd+" + args.optimizer
    if not args.json:
        print(f"{'model':<10} {'batch':>6} {'threads':>7} {'step':<14} {'ms/step':>9} {'median':>9} "
              f"{'min':>9} {'images/s':>10} {'peak MiB':>10}")
        shown_peak = peak_device if cuda else peak
        print(f"{args.model:<10} {args.batch:6d} {args.threads:7d} {what:<14} {mean:9.1f} "
              f"{srt[len(srt) // 2]:9.1f} {srt[0]:9.1f} {1000 * args.batch / mean:10.1f} {int(shown_peak):10d}")
        if cuda:
            print(f"device {device} ({device_name}), tf32 {'on' if args.tf32 else 'off'}; "
                  "peak MiB = device memory of the timed steps")
    print(json.dumps({"engine": "torch", "torch": torch.__version__, "model": args.model,
                      "batch": args.batch, "threads": args.threads,
                      "device": f"cuda:{device.index or 0}" if cuda else "cpu", "step": what,
                      "steps": args.steps, "warmup": args.warmup, "ms_per_step": round(mean, 3),
                      "median_ms": round(srt[len(srt) // 2], 3), "min_ms": round(srt[0], 3),
                      "images_per_s": round(1000 * args.batch / mean, 2),
                      "peak_rss_mib": round(peak, 1), "loss": round(loss, 6),
                      "device_name": device_name,
                      "peak_device_mib": round(peak_device, 1) if cuda else None,
                      "tf32": args.tf32, "deterministic": False,
                      "step_ms": [round(v, 3) for v in ms]}))
    if args.breakdown:
        breakdown(model, args.batch, args.size, mean)


if __name__ == "__main__":
    main()

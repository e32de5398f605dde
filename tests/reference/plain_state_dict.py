"""PyTorch -> basin: a plain state_dict saved by PyTorch loads into `basin eval`.

usage: /usr/bin/python3 plain_state_dict.py make DIR
       /usr/bin/python3 plain_state_dict.py compare DIR BASIN_LOGITS.npy [--tol 1e-4]

`make` writes into DIR:
  data/data_batch_{1..5}.bin, data/test_batch.bin   a small random dataset in the
      CIFAR-10 binary layout (label byte, then 3x32x32 pixel bytes per record);
  plain.safetensors        state_dict() of a ResNet-20 of width 0.25 (check_resnet.py)
      with random weights and random BatchNorm statistics, exactly as PyTorch names
      it: no "model." prefix, no metadata;
  wide.safetensors         the same for width 0.5 (basin must refuse it as width 0.25);
  torch_logits.npy         PyTorch's eval-mode logits of the test split, normalised
      with mean 0.5 and std 0.25 (the constants check.sh gives basin).
`compare` checks basin's --dump-logits against torch_logits.npy (relative L2).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_resnet  # noqa: E402
import safetensors_np  # noqa: E402

TRAIN_PER_FILE, TEST_RECORDS, MEAN, STD = 16, 40, 0.5, 0.25


def write_split(path, records, rng):
    labels = rng.integers(0, 10, size=records, dtype=np.uint8)
    pixels = rng.integers(0, 256, size=(records, 3 * 32 * 32), dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(np.concatenate([labels[:, None], pixels], axis=1).tobytes())
    return pixels.reshape(records, 3, 32, 32)


def random_model(width, seed):
    torch.manual_seed(seed)
    model = check_resnet.build("resnet20", 10, width)
    with torch.no_grad():  # fresh BatchNorm (1, 0, 0, 1) would hide a swapped buffer
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(7)
    return model


def plain_save(model, path):
    safetensors_np.save(path, {k: v.detach().numpy() for k, v in model.state_dict().items()})


def make(out):
    rng = np.random.default_rng(7)
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    for b in range(1, 6):
        write_split(os.path.join(data, f"data_batch_{b}.bin"), TRAIN_PER_FILE, rng)
    test = write_split(os.path.join(data, "test_batch.bin"), TEST_RECORDS, rng)
    model = random_model(0.25, 3)
    plain_save(model, os.path.join(out, "plain.safetensors"))
    plain_save(random_model(0.5, 4), os.path.join(out, "wide.safetensors"))
    model.eval()
    check_resnet.RECORD_RELUS = False
    x = (torch.from_numpy(test).float() / 255.0 - MEAN) / STD
    with torch.no_grad():
        np.save(os.path.join(out, "torch_logits.npy"), model(x).numpy())
    return 0


def compare(out, basin_npy, tol):
    want = np.load(os.path.join(out, "torch_logits.npy"))
    got = np.load(basin_npy)
    err = check_resnet.rel_err(got, want)
    print(f"plain state_dict: basin eval logits {list(got.shape)} vs PyTorch {list(want.shape)}: "
          f"relative L2 {err:.3e} (tolerance {tol:g})")
    return 0 if err < tol else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["make", "compare"])
    ap.add_argument("dir")
    ap.add_argument("logits", nargs="?")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.action == "make":
        return make(args.dir)
    if not args.logits:
        ap.error("compare needs BASIN_LOGITS.npy")
    return compare(args.dir, args.logits, args.tol)


if __name__ == "__main__":
    sys.exit(main())

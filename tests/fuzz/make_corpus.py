#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ (standard library only).

    python3 tests/fuzz/make_corpus.py [BUILD_DIR]

Every seed is a small valid (or nearly valid) input for one target, in that
target's input layout (see the comment at the top of tests/fuzz/<target>.cpp).
The checkpoint seed is written by BUILD_DIR/fuzz_checkpoint itself (so it
always matches the run that target restores into); without BUILD_DIR the
committed one is kept.
"""
import gzip
import json
import os
import struct
import subprocess
import sys
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def pixels(n, seed):
    return bytes((seed * 31 + i * 7) % 256 for i in range(n))


def cifar():
    records10 = b"".join(bytes([label]) + pixels(3072, label) for label in (3, 9))
    put("cifar", "cifar10_two_records", b"\x00" + records10)
    put("cifar", "cifar10_truncated", b"\x00" + records10[:4000])
    put("cifar", "cifar100_one_record", b"\x01" + bytes([4, 42]) + pixels(3072, 5))
    put("cifar", "cifar100_bad_coarse", b"\x01" + bytes([20, 99]) + pixels(3072, 6))


def idx_file(magic, dims, body):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + body


def idx():
    images = idx_file(0x803, (2, 4, 4), pixels(32, 1))
    labels = idx_file(0x801, (2,), bytes([1, 7]))
    head = lambda mode: bytes([mode]) + struct.pack(">H", len(images))
    put("idx", "raw", head(0) + images + labels)
    put("idx", "gzip_both", head(3) + images + labels)  # the target gzips both parts
    packed = gzip.compress(images, mtime=0)  # already gzip'd: the loader inflates these bytes as they are
    put("idx", "pre_gzipped_images", bytes([4]) + struct.pack(">H", len(packed)) + packed + labels)
    put("idx", "count_mismatch", head(0) + images + idx_file(0x801, (3,), bytes([1, 2, 3])))


def safetensors_bytes(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors():
    put("safetensors", "mixed", safetensors_bytes({
        "w": ("F32", [2, 3], struct.pack("<6f", *[0.5 * i for i in range(6)])),
        "i": ("I64", [2], struct.pack("<2q", -1, 7)),
        "b": ("U8", [4], bytes([1, 2, 3, 4])),
        "d": ("F64", [1], struct.pack("<d", 3.25)),
        "n": ("I32", [0], b""),
    }, {"format": "basin", "step": "12"}))
    put("safetensors", "scalar", safetensors_bytes({"s": ("F32", [], struct.pack("<f", 1.5))}))
    put("safetensors", "empty", safetensors_bytes({}))


def json_seeds():
    put("json", "object", '{"a": [1, -2.5e3, true, false, null], "name": "x\\u00e9\\n", "o": {"k": []}}')
    put("json", "numbers", "[0, -0, 1e308, 9223372036854775807, -9223372036854775808, 1.5E-3]")
    put("json", "string", '"\\ud83d\\ude00 \\" \\\\ \\/ \\b\\f\\r\\t"')
    put("json", "nested", "[[[[{}]]]]")


def metadata_text():
    return json.dumps({
        "format": "basin-dataset-1", "name": "fuzzset", "source": "hand", "layout": "cifar10-binary",
        "transform": "none", "image": {"height": 32, "width": 32, "channels": 3},
        "original_image": {"height": 28, "width": 28, "channels": 1},
        "samples": {"train": 4, "test": 2}, "class_names": ["a", "b"],
        "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "normalization_source": "hand",
        "asym_noise": [[0, 1]]}, indent=2)


def dataset_metadata():
    put("dataset_metadata", "valid", metadata_text())
    put("dataset_metadata", "no_mapping", metadata_text().replace('"asym_noise": [\n    [\n      0,\n      1\n    ]\n  ]',
                                                               '"asym_noise": null'))


def noise_file():
    labels = [(i * 3) % 10 for i in range(16)]
    put("noise_file", "valid", "".join(f"{v}\n" for v in labels))
    put("noise_file", "crlf_trailing_blank", "".join(f" {v}\r\n" for v in labels) + "\n")
    put("noise_file", "out_of_range", "".join(f"{v}\n" for v in labels[:15]) + "12\n")


def png(width, height, colour, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def bmp(width, height):
    row = bytes(range(3 * width)) + b"\x00" * ((4 - 3 * width % 4) % 4)
    body = row * height
    header = struct.pack("<2sIHHI", b"BM", 54 + len(body), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(body), 2835, 2835, 0, 0)
    return header + info + body


def image_folder():
    grey = png(2, 2, 0, [b"\x10\x20", b"\x30\x40"])
    rgb = png(3, 2, 2, [pixels(9, 1), pixels(9, 2)])
    put("image_folder", "grey_png_same_size", b"\x00" + grey)
    put("image_folder", "rgb_png_resized", b"\x04" + rgb)
    put("image_folder", "bmp_rgb_forced", b"\x0a" + bmp(2, 2))
    put("image_folder", "rgb_png_other_size", b"\x00" + rgb)


def flags():
    argv = lambda *a: "\0".join(a)
    put("flags", "typical", argv("--model", "resnet20", "--width=0.5", "--optimizer", "ncsam", "--epochs", "3",
                                 "--noise", "sym:0.4", "--schedule", "multistep:1,2:0.5", "--no-augment"))
    put("flags", "dataset_options", argv("--dataset", "folder:/x", "--mean", "0.5,0.4,0.3", "--std=0.2",
                                         "--resize", "8x8", "--channels", "1", "--quiet"))
    put("flags", "bad_number", argv("--batch-size", "12x"))
    put("flags", "help", argv("--help"))


def checkpoint(build_dir):
    binary = os.path.join(build_dir, "fuzz_checkpoint")
    os.makedirs(os.path.join(ROOT, "checkpoint"), exist_ok=True)
    out = os.path.join(ROOT, "checkpoint", "casam_resnet20")
    subprocess.run([binary], env=dict(os.environ, BASIN_FUZZ_WRITE_SEED=out), check=True)


def checkpoint_regressions():
    """The checkpoint seed with its augment generator state damaged (found while
    reading the resume path: it was parsed with std::stoull, whose exception
    named neither the file nor the key)."""
    with open(os.path.join(ROOT, "checkpoint", "casam_resnet20"), "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    header["__metadata__"]["augment_seed"] = "3x"
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    put("checkpoint", "regress_augment_seed_text", struct.pack("<Q", len(text)) + text + raw[8 + length:])


if __name__ == "__main__":
    cifar()
    idx()
    safetensors()
    json_seeds()
    dataset_metadata()
    noise_file()
    image_folder()
    flags()
    if len(sys.argv) > 1:
        checkpoint(sys.argv[1])
    checkpoint_regressions()

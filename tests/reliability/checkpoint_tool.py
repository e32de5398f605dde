#!/usr/bin/env python3
"""Reads basin checkpoints (safetensors) with the standard library only, for
kill_test.sh: an independent check that a file is whole, and a bit-for-bit
comparison of two files' tensors.

    checkpoint_tool.py check FILE            exit 0 when whole; prints the epoch
    checkpoint_tool.py same FILE_A FILE_B    exit 0 when every tensor matches bit for bit
"""
import json
import os
import struct
import sys

SIZES = {"F32": 4, "F64": 8, "I32": 4, "I64": 8, "U8": 1}


def read(path):
    """(metadata, {name: raw bytes}); raises ValueError naming what is wrong."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header of {n} bytes runs past the end ({len(data)} bytes)")
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors, end = {}, 0
    for name, entry in header.items():
        begin, stop = entry["data_offsets"]
        count = 1
        for d in entry["shape"]:
            count *= d
        if stop - begin != count * SIZES[entry["dtype"]] or base + stop > len(data):
            raise ValueError(f"{path}: tensor {name}: span {begin}..{stop} does not fit its shape or the file")
        tensors[name] = data[base + begin:base + stop]
        end = max(end, stop)
    if base + end != len(data):
        raise ValueError(f"{path}: {len(data) - base - end} bytes after the last tensor")
    return metadata, tensors


def main(argv):
    if len(argv) == 3 and argv[1] == "check":
        try:
            metadata, _ = read(argv[2])
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            print(f"unreadable checkpoint: {e}", file=sys.stderr)
            return 1
        print(metadata.get("epoch", "?"))
        return 0
    if len(argv) == 4 and argv[1] == "same":
        _, a = read(argv[2])
        _, b = read(argv[3])
        if a.keys() != b.keys():
            print(f"tensor names differ: {sorted(a.keys() ^ b.keys())}", file=sys.stderr)
            return 1
        differ = [name for name in a if a[name] != b[name]]
        if differ:
            print(f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:5]}", file=sys.stderr)
            return 1
        print(f"{len(a)} tensors, {sum(len(v) for v in a.values())} bytes, bit-identical")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

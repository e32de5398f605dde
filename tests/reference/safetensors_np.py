"""safetensors files with numpy only (no safetensors package needed):
8-byte little-endian header length, a JSON header {name: {dtype, shape,
data_offsets}, "__metadata__": {...}}, then the raw little-endian bytes."""
import json
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
           "U8": np.uint8, "F16": np.float16, "I8": np.int8, "I16": np.int16, "BOOL": np.bool_}
_NAMES = {np.dtype(v).str: k for k, v in _DTYPES.items()}


def load(path):
    """Returns (dict name -> numpy array in header order, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} runs past the end of the file ({len(raw)} bytes)")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if end - begin != count * dtype.itemsize or end > len(data):
            raise ValueError(f"{path}: tensor {name}: byte span [{begin}, {end}) does not fit "
                             f"shape {list(shape)} {info['dtype']} in {len(data)} data bytes")
        tensors[name] = np.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(shape).copy()
    return tensors, metadata


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (written in dict order)."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, array in tensors.items():
        # ascontiguousarray would turn a 0-dim array (num_batches_tracked) into shape [1]
        a = np.ascontiguousarray(array).reshape(np.shape(array))
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        key = np.dtype(a.dtype).str
        if key not in _NAMES:
            raise ValueError(f"tensor {name}: unsupported dtype {a.dtype}")
        b = a.tobytes()
        header[name] = {"dtype": _NAMES[key], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # align the data to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in chunks:
            f.write(b)

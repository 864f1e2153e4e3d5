"""Writes .safetensors files by hand, byte for byte as the reference `safetensors` library does.

Debian's Python has no `safetensors` package, so the oracle writes the format itself:
  8 bytes    little-endian u64 N, the header's length
  N bytes    JSON header {"__metadata__": {...}, name: {"dtype", "shape", "data_offsets": [begin, end]}},
             compact, padded with spaces so that the data starts at a multiple of 8
  data       the tensors' raw little-endian bytes, back to back, offsets relative to the data's start
Like the reference writer, tensors are laid out sorted by dtype (larger alignment first, as the Rust
implementation's Dtype order: I64 before F32) then by name, and the header lists them in that order.
"""
import json
import os
import struct

import numpy as np
import torch

# torch dtype -> (safetensors dtype, numpy little-endian dtype, rank in the reference library's sort)
_DTYPES = {
    torch.float32: ("F32", "<f4", 1),
    torch.int64: ("I64", "<i8", 0),
}


def safetensors_bytes(tensors, metadata=None):
    """tensors: ordered mapping name -> torch.Tensor (f32 or i64). Returns the file's bytes."""
    entries = []
    for name, tensor in tensors.items():
        if tensor.dtype not in _DTYPES:
            raise ValueError(f"{name}: dtype {tensor.dtype} is not written by this oracle")
        st_dtype, np_dtype, rank = _DTYPES[tensor.dtype]
        raw = tensor.detach().cpu().contiguous().numpy().astype(np_dtype, copy=False).tobytes(order="C")
        entries.append((rank, name, st_dtype, list(tensor.shape), raw))
    entries.sort(key=lambda e: (e[0], e[1]))

    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for _, name, st_dtype, shape, raw in entries:
        header[name] = {"dtype": st_dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    return struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(e[4] for e in entries)


def write_safetensors(path, tensors, metadata=None):
    """Writes atomically (temp file + rename)."""
    data = safetensors_bytes(tensors, metadata if metadata is not None else {"format": "pt"})
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def read_safetensors(path):
    """Reads back what write_safetensors writes (for the script's own self-check). Returns name -> ndarray."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)
    out = {}
    np_dtypes = {"F32": "<f4", "I64": "<i8"}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + begin : 8 + n + end], dtype=np_dtypes[info["dtype"]]).reshape(
            info["shape"]
        )
    return out

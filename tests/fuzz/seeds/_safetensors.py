"""safetensors bytes for the seed scripts: [u64 LE header length][JSON header, space-padded to 8][data]."""
import json
import struct

import numpy as np

DTYPES = {np.float32: "F32", np.float64: "F64", np.float16: "F16", np.int8: "I8", np.uint8: "U8",
          np.int16: "I16", np.int32: "I32", np.int64: "I64", np.bool_: "BOOL"}


def safetensors_bytes(tensors, metadata=None):
    """tensors: {name: numpy array}, in file order."""
    header, data, offset = {}, b"", 0
    if metadata:
        header["__metadata__"] = metadata
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": DTYPES[array.dtype.type], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    return header_bytes(json.dumps(header, separators=(",", ":"))) + data


def header_bytes(text):
    text = text.encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text

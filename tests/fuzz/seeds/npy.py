"""NumPy .npy: float32/float64 arrays of a few ranks, format 1.0 and 2.0; and headers just off the format."""
import io

import numpy as np


def npy_bytes(array, version=None):
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array)
    else:
        np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


def seeds():
    rng = np.random.default_rng(0)
    return {
        "nchw_f32": npy_bytes(rng.standard_normal((1, 3, 4, 4), dtype=np.float32)),
        "vector_f64": npy_bytes(np.arange(5, dtype=np.float64)),
        "scalar": npy_bytes(np.array(2.5, np.float32)),
        "empty": npy_bytes(np.zeros((0, 3), np.float32)),
        "v2": npy_bytes(np.ones((2, 2), np.float32), version=(2, 0)),
        "fortran": npy_bytes(np.asfortranarray(np.ones((2, 3), np.float32))),
        "big_endian": npy_bytes(np.ones(3, ">f4")),
        "int32": npy_bytes(np.arange(4, dtype=np.int32)),
    }

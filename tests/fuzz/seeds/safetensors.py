"""safetensors: every dtype the reader knows, empty tensors, metadata; and headers just off the format."""
import numpy as np

from _safetensors import header_bytes, safetensors_bytes


def seeds():
    rng = np.random.default_rng(0)
    out = {
        "f32_conv": safetensors_bytes({"conv1.weight": rng.standard_normal((4, 3, 3, 3), dtype=np.float32),
                                       "fc.bias": np.zeros(2, np.float32)}, {"format": "pt"}),
        "all_dtypes": safetensors_bytes({f"t_{t.__name__}": np.arange(6).reshape(2, 3).astype(t)
                                         for t in (np.float32, np.float64, np.float16, np.int8, np.uint8,
                                                   np.int16, np.int32, np.int64, np.bool_)}),
        "empty_tensors": safetensors_bytes({"a": np.zeros((0, 3), np.float32), "b": np.zeros((2, 0), np.int64),
                                            "scalar": np.array(1.5, np.float32)}),
        "empty_header": header_bytes("{}"),
        "metadata_only": header_bytes('{"__metadata__":{"format":"pt","arch":"resnet18"}}'),
        "bad_offsets": header_bytes('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}') + b"\0" * 8,
        "bad_dtype": header_bytes('{"w":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}}') + b"\0",
    }
    return out

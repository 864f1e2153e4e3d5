"""The .int8.safetensors of `resnet quantize`: s8 conv weights with per-output-channel scales, activation and
folded-weight scales, the metadata; and entries just off the format."""
import numpy as np

from _safetensors import safetensors_bytes

METADATA = {"format": "resnet.cpp int8", "method": "percentile", "percentile": "99.99",
            "calibration_images": "8"}


def int8_file(out_channels=2, extra=None):
    rng = np.random.default_rng(0)
    tensors = {
        "quant.int8_weight.conv1": rng.integers(-127, 128, (out_channels, 3, 3, 3)).astype(np.int8),
        "quant.int8_weight_scale.conv1": np.full(out_channels, 0.01, np.float32),
        "bn1.weight": np.ones(out_channels, np.float32),
        "quant.activation_scale.input": np.array([0.05], np.float32),
        "quant.activation_scale.conv1": np.array([0.1], np.float32),
        "quant.weight_scale.conv1": np.full(out_channels, 0.02, np.float32),
    }
    tensors.update(extra or {})
    return safetensors_bytes(tensors, METADATA)


def seeds():
    return {
        "conv1": int8_file(),
        "zero_scale": int8_file(extra={"quant.int8_weight_scale.conv1": np.array([0.01, 0.0], np.float32)}),
        "weight_without_scale": int8_file(extra={"quant.int8_weight.conv2": np.zeros((1, 1, 1, 1), np.int8)}),
        "f32_weight": int8_file(extra={"quant.int8_weight.conv1": np.zeros((2, 3, 3, 3), np.float32)}),
        "minmax": safetensors_bytes({"quant.activation_scale.input": np.array([1.0], np.float32)},
                                    {"format": "resnet.cpp int8", "method": "minmax"}),
    }

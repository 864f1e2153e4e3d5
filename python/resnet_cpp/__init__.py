"""resnet.cpp from Python: ResNets on oneDNN with torchvision's names and conventions.

    import numpy as np, resnet_cpp as rc
    m = rc.models.resnet50(weights="resnet50.pth").eval()
    logits = m(np.zeros((1, 3, 224, 224), np.float32))

See docs/PYTHON.md.
"""
from ._core import (  # noqa: F401
    LoadResult,
    Model,
    Plan,
    export_onnx,
    get_num_threads,
    models,
    predict,
    set_num_threads,
    zoo_names,
)

__all__ = ["LoadResult", "Model", "Plan", "export_onnx", "get_num_threads", "models", "predict", "set_num_threads", "zoo_names"]

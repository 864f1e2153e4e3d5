"""torchvision's logits for a model `resnet infer` cannot build (a dilated ResNet: --dilation is a flag of
features/summary/export only). Run by Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14):
  torchvision_logits.py ARCH DILATION(a,b,c) NUM_CLASSES WEIGHTS.safetensors X.npy OUT.npy
"""
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from safetensors_file import read_safetensors  # noqa: E402

arch, dilation, num_classes, weights, x_npy, out_npy = sys.argv[1:7]
model = getattr(torchvision.models, arch)(
    num_classes=int(num_classes), replace_stride_with_dilation=[d == "1" for d in dilation.split(",")]
)
model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in read_safetensors(weights).items()}, strict=True)
model.eval()
with torch.no_grad():
    np.save(out_npy, model(torch.from_numpy(np.load(x_npy))).numpy())

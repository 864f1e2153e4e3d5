#!/usr/bin/python3
"""Fixtures for tests/parity/test_conv_winograd.cpp: one 3x3 stride-1 pad-1 convolution's forward and
backward in torch, the reference for training's Winograd F(4x4, 3x3) path.

Usage: /usr/bin/python3 make_conv_winograd_fixtures.py OUT_DIR

Per case <c> (sizes that leave partial 4x4 tiles, batch 1 and 3, in != out channels; one of 392 tiles for
the weight gradient's sum): float32 x (NCHW), w (OIHW), dy (NCHW) from a seeded generator, and torch's
y = conv2d(x, w, padding=1), dx, dw computed in float64 from those same float32 values (so the reference is
exact to float32 rounding), saved as float32 <c>.{x,w,dy,y,dx,dw}.npy; manifest.json lists the cases.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as TF

CASES = {  # name -> (N, C, H, W, K)
    "n3_c32_k48_13x10": (3, 32, 13, 10, 48),
    "n1_c48_k32_9x13": (1, 48, 9, 13, 32),
    "n3_c32_k32_6x5": (3, 32, 6, 5, 32),
    "n8_c32_k32_28x28": (8, 32, 28, 28, 32),  # the weight gradient's sum over 392 tiles
}


def save(out_dir, name, tensor):
    np.save(os.path.join(out_dir, name), np.ascontiguousarray(tensor.detach().numpy().astype(np.float32)))


def make_case(out_dir, name, n, c, h, w, k, generator):
    x = torch.randn((n, c, h, w), generator=generator)
    weight = torch.randn((k, c, 3, 3), generator=generator) / (3 * c ** 0.5)
    dy = torch.randn((n, k, h, w), generator=generator)
    x64 = x.double().requires_grad_()
    w64 = weight.double().requires_grad_()
    y64 = TF.conv2d(x64, w64, padding=1)
    y64.backward(dy.double())
    for suffix, tensor in (("x", x), ("w", weight), ("dy", dy), ("y", y64), ("dx", x64.grad), ("dw", w64.grad)):
        save(out_dir, f"{name}.{suffix}.npy", tensor)
    return {"name": name, "n": n, "c": c, "h": h, "w": w, "k": k}


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    generator = torch.Generator().manual_seed(17)
    cases = [make_case(out_dir, name, *shape, generator) for name, shape in CASES.items()]
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)
    print(f"make_conv_winograd_fixtures: {len(cases)} cases in {out_dir}")


if __name__ == "__main__":
    main()

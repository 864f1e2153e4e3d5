#!/usr/bin/python3
"""Everything the peers share, made once with Debian's torch (/usr/bin/python3) into a work folder:

  WORK/input_b{B}.npy        the fixed input batch, float32 NCHW [B, 3, S, S] (batch 1 = the first image of batch 32)
  WORK/calib.npy             other images of the same kind, for the int8 calibrations (never the timed batch)
  WORK/{arch}.pth            the weights every engine loads (torchvision state_dict)
  WORK/{arch}.onnx           torchvision -> ONNX (torch.onnx.export, opset 17, dynamic batch)
  WORK/ref_{arch}_b{B}.npy   PyTorch f32 logits of input_b{B}: the reference every engine is compared with

Weights: torchvision's pretrained files cannot be downloaded here (no route to download.pytorch.org), so each model
is torchvision's own initialisation with torch.manual_seed(0), whose batch-norm running statistics are then measured
on the calibration images (train-mode forward, cumulative average) so that activations have realistic scales
instead of growing through the residual stages. Images: Fashion-MNIST (Debian's dataset-fashion-mnist), bilinearly
resized to S x S, grey copied to 3 channels, normalised with ImageNet's mean and std; random normal images if the
dataset is missing. Existing files are kept (delete WORK to rebuild).

  /usr/bin/python3 bench/peers/prepare.py --work build/peers-data --archs resnet18 resnet50 --batches 1 32
"""
import argparse
import gzip
import os
import sys

import numpy as np
import torch
import torchvision

FMNIST = "/usr/share/datasets/fashion-mnist"
CALIB_IMAGES = 64


def load_images(first, count, size, split):
    """count images from index first of Fashion-MNIST's split, as float32 [count, 3, size, size]."""
    path = os.path.join(FMNIST, ("t10k" if split == "test" else "train") + "-images-idx3-ubyte.gz")
    if not os.path.exists(path):
        g = torch.Generator().manual_seed(1 + first + (0 if split == "test" else 100000))
        return torch.randn(count, 3, size, size, generator=g)
    with gzip.open(path, "rb") as f:
        raw = f.read()
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)[first:first + count]
    x = torch.from_numpy(pixels.astype(np.float32) / 255.0)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.expand(-1, 3, -1, -1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def save(path, array):
    tmp = path + ".tmp.npy"
    np.save(tmp, np.ascontiguousarray(array, dtype=np.float32))
    os.replace(tmp, path)


def make_model(arch, calib):
    """torchvision's seeded initialisation with batch-norm statistics measured on calib [N, 3, S, S]."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for chunk in calib.split(16):
            model(chunk)
    return model.eval()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--archs", nargs="+", default=["resnet18", "resnet50"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)

    big = max(args.batches)
    batch_path = os.path.join(args.work, f"input_b{big}.npy")
    calib_path = os.path.join(args.work, "calib.npy")
    if not os.path.exists(batch_path):
        save(batch_path, load_images(0, big, args.size, "test").numpy())
    if not os.path.exists(calib_path):
        save(calib_path, load_images(0, CALIB_IMAGES, args.size, "train").numpy())
    x_big = np.load(batch_path)
    calib = torch.from_numpy(np.load(calib_path))
    for b in args.batches:
        path = os.path.join(args.work, f"input_b{b}.npy")
        if not os.path.exists(path):
            save(path, x_big[:b])

    for arch in args.archs:
        pth = os.path.join(args.work, f"{arch}.pth")
        onnx_path = os.path.join(args.work, f"{arch}.onnx")
        if not os.path.exists(pth):
            print(f"prepare: {arch}: seeded weights, batch-norm statistics from {len(calib)} images", file=sys.stderr)
            model = make_model(arch, calib)
            torch.save(model.state_dict(), pth + ".tmp")
            os.replace(pth + ".tmp", pth)
        model = getattr(torchvision.models, arch)()
        model.load_state_dict(torch.load(pth))
        model.eval()
        if not os.path.exists(onnx_path):
            print(f"prepare: {arch}: exporting ONNX (opset 17, dynamic batch)", file=sys.stderr)
            torch.onnx.export(model, torch.from_numpy(x_big[:1]), onnx_path + ".tmp", opset_version=17,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
            os.replace(onnx_path + ".tmp", onnx_path)
        for b in args.batches:
            ref = os.path.join(args.work, f"ref_{arch}_b{b}.npy")
            if not os.path.exists(ref):
                with torch.no_grad():
                    save(ref, model(torch.from_numpy(x_big[:b])).numpy())


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Fixtures for tests/unit/test_data.cpp: images and what PIL + torchvision make of them.

Usage: /usr/bin/python3 make_data_fixtures.py OUT_DIR

Writes image files (PNG in several modes, JPEG baseline/progressive/gray/CMYK) and, for each, PIL's decoding after
convert("RGB") and convert("L"); and a source image with the outputs of torchvision.transforms.functional (resize,
center crop, resized crop, crop with zero fill, flip, the eval pipeline as float). Arrays are raw little-endian files;
manifest.json gives each one's file, shape and dtype.
"""
import json
import os
import sys

import numpy as np
from PIL import Image
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(7)
    manifest = {"decode": [], "transforms": []}

    def save_array(name, array):
        array = np.ascontiguousarray(array)
        array.tofile(os.path.join(out_dir, name))
        return {"file": name, "shape": list(array.shape), "dtype": str(array.dtype)}

    # A smooth image with some noise: resampling errors show on edges and gradients alike.
    h, w = 37, 53
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), (xx + yy) * 255 / (w + h - 2)], axis=-1)
    rgb = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    alpha = rng.integers(0, 256, (h, w, 1), dtype=np.uint8)

    images = {
        "rgb.png": (Image.fromarray(rgb, "RGB"), {}),
        "gray.png": (Image.fromarray(rgb[:, :, 0], "L"), {}),
        "rgba.png": (Image.fromarray(np.concatenate([rgb, alpha], axis=-1), "RGBA"), {}),
        "la.png": (Image.fromarray(np.concatenate([rgb[:, :, :1], alpha], axis=-1), "LA"), {}),
        "palette.png": (Image.fromarray(rgb, "RGB").quantize(16), {"transparency": 3}),
        "bilevel.png": (Image.fromarray(rgb[:, :, 1] > 128), {}),
        "rgb.jpg": (Image.fromarray(rgb, "RGB"), {"quality": 90}),
        "gray.jpg": (Image.fromarray(rgb[:, :, 2], "L"), {"quality": 85}),
        "progressive.jpg": (Image.fromarray(rgb, "RGB"), {"quality": 80, "progressive": True}),
        "cmyk.jpg": (Image.fromarray(rgb, "RGB").convert("CMYK"), {"quality": 95}),
    }
    for name, (image, options) in images.items():
        path = os.path.join(out_dir, name)
        image.save(path, **options)
        decoded = Image.open(path)
        entry = {"image": name, "mode": decoded.mode}
        entry["rgb"] = save_array(name + ".rgb.u8", np.asarray(decoded.convert("RGB")))
        entry["l"] = save_array(name + ".l.u8", np.asarray(Image.open(path).convert("L")))
        manifest["decode"].append(entry)

    source = Image.fromarray(rgb, "RGB")
    save_array("source.u8", rgb)
    manifest["source"] = {"file": "source.u8", "shape": list(rgb.shape)}

    def transform(name, params, image):
        entry = {"name": name, "params": params}
        entry.update(save_array(name + ".u8", np.asarray(image)))
        manifest["transforms"].append(entry)

    transform("resize_shorter", {"size": 24}, F.resize(source, 24))
    transform("resize_shorter_up", {"size": 45}, F.resize(source, 45))
    transform("resize_hw", {"height": 20, "width": 70}, F.resize(source, [20, 70]))
    transform("resize_hw_tall", {"height": 90, "width": 9}, F.resize(source, [90, 9]))
    transform("center_crop", {"size": 30}, F.center_crop(source, 30))
    transform("center_crop_odd", {"size": 34}, F.center_crop(source, 34))
    transform("center_crop_pad", {"size": 60}, F.center_crop(source, 60))
    transform("resized_crop", {"top": 3, "left": 5, "height": 20, "width": 31, "size": 16},
              F.resized_crop(source, 3, 5, 20, 31, [16, 16]))
    transform("resized_crop_up", {"top": 10, "left": 12, "height": 9, "width": 7, "size": 24},
              F.resized_crop(source, 10, 12, 9, 7, [24, 24]))
    transform("crop_outside", {"top": -3, "left": -4, "height": 28, "width": 28}, F.crop(source, -3, -4, 28, 28))
    transform("crop_outside_far", {"top": 20, "left": 40, "height": 28, "width": 28}, F.crop(source, 20, 40, 28, 28))
    transform("hflip", {}, F.hflip(source))

    # The evaluation recipe for folders at 32 px: Resize(32 * 256 // 224) + CenterCrop(32) + ToTensor + Normalize.
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    pipeline = T.Compose([T.Resize(32 * 256 // 224), T.CenterCrop(32), T.ToTensor(), T.Normalize(mean, std)])
    chw = pipeline(source)
    entry = {"name": "eval_pipeline", "params": {"size": 32, "mean": mean, "std": std}}
    entry.update(save_array("eval_pipeline.f32", chw.permute(1, 2, 0).numpy().astype(np.float32)))
    manifest["eval_pipeline"] = entry

    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1])

#!/usr/bin/python3
"""The torchvision + PIL oracle of `resnet predict`: real photographs in many encodings, their preprocessed
tensors and a model's top-5 on them.

Usage: /usr/bin/python3 tests/oracle/make_predict_fixtures.py OUT_DIR

Run with Debian's Python (torch 1.13, torchvision 0.14, Pillow 9.4, python3-skimage for the photographs).
Seeded and idempotent: when OUT_DIR/stamp.json matches this script and the library versions, nothing is done.

The photographs are scikit-image's (skimage.data: astronaut, chelsea, coffee, rocket). Each is written as
  <photo>.png                 RGB PNG
  <photo>.jpg                 baseline JPEG (quality 90)
  <photo>.progressive.jpg     progressive JPEG
  <photo>.gray.jpg            grayscale JPEG
  <photo>.cmyk.jpg            CMYK JPEG (Adobe, inverted, as PIL writes it)
  <photo>.gray.png            8-bit gray PNG
  <photo>.rgba.png            RGBA PNG (alpha varies across the image)
  <photo>.gray_alpha.png      gray + alpha PNG
  <photo>.palette.png         palette PNG (256 adaptive colours)
  <photo>.palette_trns.png    palette PNG with a transparent entry (tRNS)
  <photo>.rgb16.png           16-bit RGB PNG (written here: PIL cannot write it)
  <photo>.gray16.png          16-bit gray PNG
  <photo>.interlaced.png      Adam7-interlaced RGB PNG (written here)
and for every image file F:
  F.input.npy     float32 [3, 224, 224]: torchvision's Resize(256) + CenterCrop(224) + ToTensor() (before
                  Normalize) of PIL's Image.open(F).convert("RGB") -- except for the 16-bit gray PNG, where
                  PIL's "I" -> "RGB" conversion clips at 255 and resnet.cpp keeps the high byte (as PIL does for
                  16-bit RGB): its reference is the high byte's image through the same transform.
Plus:
  resnet18.pth            torchvision resnet18 with fixed random weights (BN statistics of these photos, a
                          sharpened classifier), torch.save(state_dict)
  predictions.json        {"model": "resnet18", "weights": "resnet18.pth", "model_seed", "images": [{"file",
                          "kind" (png|jpeg), "input", "top5": [class...], "probs": [p...], "min_gap"}]}: the
                          softmax top-5 of the logits computed in float64 from the saved float32 weights and the
                          Normalized inputs
  imagenet_classes.json   torchvision's 1000 ImageNet class names (_IMAGENET_CATEGORIES)
"""
import io
import os
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image
import skimage
import skimage.data
from torchvision.models._meta import _IMAGENET_CATEGORIES

from fixture_files import out_dir_to_fill, photo_script_stamp, save_bytes, save_json, save_npy  # noqa: E402

FIXTURES_VERSION = 1
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]
SEED = 20261129  # the noise in the 16-bit images' low bytes
MODEL_SEED = 20261130  # the first seed tried for the model's weights (see model_with_distinct_top5): it passes
LOGIT_SCALE = 4.0  # target std of the logits over classes: a softmax with distinct top-5 probabilities
MIN_GAP = 2e-3  # smallest allowed logit gap within the top-6: our float32 path must not swap neighbours


def pil_bytes(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_bytes(samples, interlaced=False):
    """A PNG of `samples` (uint8 or uint16 [H, W] gray or [H, W, 3] RGB), every row with filter 0."""
    gray = samples.ndim == 2
    depth = 16 if samples.dtype == np.uint16 else 8
    pixels = samples.astype(">u2" if depth == 16 else "u1")
    if gray:
        pixels = pixels[:, :, None]
    height, width = pixels.shape[:2]
    passes = ADAM7 if interlaced else [(0, 0, 1, 1)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        raw += b"".join(b"\0" + row.tobytes() for row in sub)
    header = struct.pack(">IIBBBBB", width, height, depth, 0 if gray else 2, 0, 0, 1 if interlaced else 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw, 6)) +
            png_chunk(b"IEND", b""))


def variants(rgb):
    """The encodings of one photograph: {suffix: (bytes, kind)}."""
    image = Image.fromarray(rgb)
    height, width = rgb.shape[:2]
    gray = image.convert("L")
    alpha = Image.fromarray(((np.arange(width)[None, :] * 255 // max(width - 1, 1)) *
                             np.ones((height, 1), dtype=np.int64)).astype(np.uint8))
    rgba = image.copy()
    rgba.putalpha(alpha)
    gray_alpha = gray.copy()
    gray_alpha.putalpha(alpha)
    palette = image.convert("P", palette=Image.ADAPTIVE, colors=256)
    # A 16-bit image whose high byte is the photograph and whose low byte is noise: only the high byte counts.
    noise = np.random.RandomState(SEED).randint(0, 256, size=rgb.shape).astype(np.uint16)
    rgb16 = rgb.astype(np.uint16) * 256 + noise
    gray16 = np.asarray(gray, dtype=np.uint16) * 256 + noise[:, :, 0]
    return {
        "png": (pil_bytes(image, "PNG"), "png"),
        "jpg": (pil_bytes(image, "JPEG", quality=90), "jpeg"),
        "progressive.jpg": (pil_bytes(image, "JPEG", quality=90, progressive=True), "jpeg"),
        "gray.jpg": (pil_bytes(gray, "JPEG", quality=90), "jpeg"),
        "cmyk.jpg": (pil_bytes(image.convert("CMYK"), "JPEG", quality=90), "jpeg"),
        "gray.png": (pil_bytes(gray, "PNG"), "png"),
        "rgba.png": (pil_bytes(rgba, "PNG"), "png"),
        "gray_alpha.png": (pil_bytes(gray_alpha, "PNG"), "png"),
        "palette.png": (pil_bytes(palette, "PNG"), "png"),
        "palette_trns.png": (pil_bytes(palette, "PNG", transparency=0), "png"),
        "rgb16.png": (png_bytes(rgb16), "png"),
        "gray16.png": (png_bytes(gray16), "png"),
        "interlaced.png": (png_bytes(rgb, interlaced=True), "png"),
    }


TO_INPUT = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])
NORMALIZE = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


def reference_image(path, suffix):
    """What a torchvision user's Image.open(path).convert("RGB") gives (see the module doc for gray16)."""
    image = Image.open(path)
    if suffix == "gray16.png":
        high = (np.asarray(image, dtype=np.int64) >> 8).astype(np.uint8)
        return Image.fromarray(high).convert("RGB")
    return image.convert("RGB")


def make_model(inputs, seed):
    """resnet18 with seeded weights, BN running statistics measured on `inputs`, logits scaled to LOGIT_SCALE."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet18()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: the statistics of exactly this batch
    model.train()
    with torch.no_grad():
        model(inputs)
    model.eval()
    with torch.no_grad():
        scale = LOGIT_SCALE / model(inputs).std(dim=1).mean()
        model.fc.weight.mul_(scale)
        model.fc.bias.mul_(scale)
    return model


def top5(logits):
    probs = torch.softmax(logits, dim=1)
    order = torch.argsort(logits, dim=1, descending=True)
    out = []
    for row in range(logits.shape[0]):
        six = order[row, :6].tolist()
        values = logits[row, six].tolist()
        out.append({"top5": six[:5], "probs": [probs[row, c].item() for c in six[:5]],
                    "min_gap": min(values[i] - values[i + 1] for i in range(5))})
    return out


def model_with_distinct_top5(inputs):
    """The first seed from MODEL_SEED on whose model every image's top-6 logits (float64) are MIN_GAP apart."""
    for seed in range(MODEL_SEED, MODEL_SEED + 20):
        model = make_model(inputs, seed)
        model64 = torchvision.models.resnet18().double().eval()
        model64.load_state_dict({k: v.double() if v.is_floating_point() else v
                                 for k, v in model.state_dict().items()})
        with torch.no_grad():
            logits = model64(inputs.double())
        gap = min(result["min_gap"] for result in top5(logits))
        if gap >= MIN_GAP:
            return model, logits, seed
        print(f"make_predict_fixtures: seed {seed}: top-6 logits only {gap:.2e} apart, next seed")
    raise SystemExit("no seed gave distinct top-5 logits")


def main():
    want = photo_script_stamp(__file__, FIXTURES_VERSION)
    out = out_dir_to_fill("make_predict_fixtures", want)
    if out is None:
        return 0

    started = time.time()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    images = []
    tensors = []
    for photo in PHOTOS:
        rgb = np.asarray(getattr(skimage.data, photo)())
        for suffix, (data, kind) in variants(rgb).items():
            name = f"{photo}.{suffix}"
            path = os.path.join(out, name)
            save_bytes(path, data)
            tensor = TO_INPUT(reference_image(path, suffix))
            save_npy(path + ".input.npy", tensor.numpy())
            images.append({"file": name, "kind": kind, "input": name + ".input.npy"})
            tensors.append(NORMALIZE(tensor))
    inputs = torch.stack(tensors)
    model, logits, seed = model_with_distinct_top5(inputs)
    save_bytes(os.path.join(out, "resnet18.pth"), _torch_save(model.state_dict()))
    for image, result in zip(images, top5(logits)):
        image.update(result)
    save_json(os.path.join(out, "predictions.json"), {"model": "resnet18", "weights": "resnet18.pth",
                                                      "model_seed": seed, "images": images})
    save_json(os.path.join(out, "imagenet_classes.json"), list(_IMAGENET_CATEGORIES))
    save_json(os.path.join(out, "stamp.json"), want)  # last: its presence means every file above is complete
    print(f"make_predict_fixtures: wrote {len(images)} images to {out} in {time.time() - started:.1f}s")
    return 0


def _torch_save(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.getvalue()


if __name__ == "__main__":
    sys.exit(main())

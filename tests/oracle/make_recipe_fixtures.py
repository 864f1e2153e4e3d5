#!/usr/bin/python3
"""Fixtures for tests/parity/test_recipe.cpp: torchvision's recipe pieces on fixed inputs.

Usage: /usr/bin/python3 make_recipe_fixtures.py OUT_DIR

- augment/: a 1-channel 28x28 and a 3-channel 32x32 u8 image, and torchvision 0.14's _apply_op (the operation
  TrivialAugmentWide / RandAugment apply, on a PIL image, fill None) of each with fixed magnitudes; the
  magnitude bins of both policies' _augmentation_space.
- ema.*: torch.optim.swa_utils.AveragedModel(use_buffers=True) with torchvision's ExponentialMovingAverage
  avg_fn (decay 0.9) over four fixed states of Sequential(Conv2d(1, 2, 3, bias=False), BatchNorm2d(2)).
- mix.*: a batch mixed by torchvision's RandomMixup / RandomCutmix formulas (roll by one, lambda, the cutmix
  box from (r_x, r_y, lambda)) and torch's cross_entropy(label_smoothing=0.1) on probability targets, with
  its gradient.
Every array is a float32 .npy; manifest.json lists the cases.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import RandAugment, TrivialAugmentWide, _apply_op


def save(out_dir, name, array):
    np.save(os.path.join(out_dir, name), np.ascontiguousarray(np.asarray(array, dtype=np.float32)))
    return name


def augment_fixtures(out_dir):
    os.makedirs(os.path.join(out_dir, "augment"), exist_ok=True)
    rng = np.random.default_rng(18)
    cases = []
    images = {}
    # Smooth ramps plus noise plus a bright square: geometry, histograms and blends all have work to do.
    for name, (h, w, c) in {"gray": (28, 28, 1), "rgb": (32, 32, 3)}.items():
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 7 + yy * 3) % 256, yy * 200 / h + 20, xx * 150 / w + 60], axis=-1)[:, :, :c]
        pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255)
        pixels[h // 4:h // 2, w // 3:w // 2] = 240
        pixels = pixels.astype(np.uint8)
        images[name] = pixels
        save(out_dir, f"augment/{name}.npy", pixels)
    ops = [("ShearX", [0.3, -0.3, 0.99, -0.6]), ("ShearY", [0.3, -0.99, 0.5]),
           ("TranslateX", [5.0, -9.9, 12.69]), ("TranslateY", [3.0, -7.0]),
           ("Rotate", [30.0, -45.0, 135.0, 90.0, 180.0, -12.5]),
           ("Brightness", [0.5, -0.5, 0.99, -0.99]), ("Color", [0.5, -0.6, 0.9]),
           ("Contrast", [0.5, -0.5, 0.99, -0.9]), ("Sharpness", [0.6, -0.6, 0.99, -0.99]),
           ("Posterize", [2.0, 4.0, 7.0, 8.0]), ("Solarize", [128.0, 200.5, 0.0, 255.0]),
           ("AutoContrast", [0.0]), ("Equalize", [0.0]), ("Identity", [0.0])]
    for image_name, pixels in images.items():
        pil = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels,
                              "L" if pixels.shape[2] == 1 else "RGB")
        for op, magnitudes in ops:
            for k, magnitude in enumerate(magnitudes):
                out = np.asarray(_apply_op(pil, op, magnitude, InterpolationMode.NEAREST, None))
                out = out.reshape(pixels.shape)
                file = save(out_dir, f"augment/{image_name}_{op}_{k}.npy", out)
                cases.append({"image": f"augment/{image_name}.npy", "op": op, "magnitude": magnitude,
                              "expected": file})
    # The bins: RandAugment's for a 28x28 and a 32x32 image, TrivialAugmentWide's.
    bins = []
    for policy, space in [("ra", lambda h, w: RandAugment()._augmentation_space(31, (h, w))),
                          ("ta_wide", lambda h, w: TrivialAugmentWide()._augmentation_space(31))]:
        for h, w in [(28, 28), (32, 32)]:
            for op, (values, signed) in space(h, w).items():
                if values.ndim == 0:
                    continue
                bins.append({"policy": policy, "height": h, "width": w, "op": op,
                             "values": [float(v) for v in values.tolist()], "signed": bool(signed)})
    return cases, bins


def ema_fixtures(out_dir):
    torch.manual_seed(18)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, bias=False), torch.nn.BatchNorm2d(2))
    decay = 0.9

    def ema_avg(avg_model_param, model_param, num_averaged):  # torchvision's ExponentialMovingAverage
        return decay * avg_model_param + (1 - decay) * model_param

    ema = torch.optim.swa_utils.AveragedModel(model, avg_fn=ema_avg, use_buffers=True)
    steps = []
    for k in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn_like(p))
            model[1].running_mean.copy_(torch.randn(2))
            model[1].running_var.copy_(torch.rand(2) + 0.5)
            model[1].num_batches_tracked.fill_(10 * (k + 1))
        ema.update_parameters(model)
        step = {"model": {}, "ema": {}}
        for name, t in model.state_dict().items():
            step["model"][name] = save(out_dir, f"ema_{k}_model_{name}.npy", t.numpy())
        for name, t in ema.module.state_dict().items():
            step["ema"][name] = save(out_dir, f"ema_{k}_ema_{name}.npy", t.numpy())
        steps.append(step)
    return {"decay": decay, "steps": steps}


def cutmix_box(lam, r_x, r_y, h, w):  # torchvision's RandomCutmix, for a given draw
    r = 0.5 * math.sqrt(1.0 - lam)
    r_w_half, r_h_half = int(r * w), int(r * h)
    x1 = int(torch.clamp(torch.tensor(r_x - r_w_half), min=0))
    y1 = int(torch.clamp(torch.tensor(r_y - r_h_half), min=0))
    x2 = int(torch.clamp(torch.tensor(r_x + r_w_half), max=w))
    y2 = int(torch.clamp(torch.tensor(r_y + r_h_half), max=h))
    return x1, y1, x2, y2, float(1.0 - (x2 - x1) * (y2 - y1) / (w * h))


def mix_fixtures(out_dir):
    torch.manual_seed(180)
    b, classes, h, w, c = 4, 5, 6, 7, 2
    images = torch.randn(b, c, h, w)  # NCHW, as torchvision mixes them
    labels = torch.tensor([3, 0, 3, 4])
    logits = torch.randn(b, classes) * 2
    save(out_dir, "mix_images.npy", images.permute(0, 2, 3, 1).numpy())
    save(out_dir, "mix_labels.npy", labels.numpy())
    save(out_dir, "mix_logits.npy", logits.numpy())
    cases = []
    for kind, lam, r_x, r_y in [("mixup", 0.37, 0, 0), ("cutmix", 0.6, 1, 4), ("cutmix", 0.2, 6, 0),
                                ("cutmix", 0.95, 3, 3)]:
        batch = images.clone()
        target = TF.one_hot(labels, classes).to(torch.float32)
        batch_rolled, target_rolled = batch.roll(1, 0), target.roll(1, 0)
        box = [0, 0, 0, 0]
        if kind == "mixup":
            batch_rolled.mul_(1.0 - lam)
            batch.mul_(lam).add_(batch_rolled)
        else:
            x1, y1, x2, y2, lam_box = cutmix_box(lam, r_x, r_y, h, w)
            box = [x1, y1, x2, y2]
            batch[:, :, y1:y2, x1:x2] = batch_rolled[:, :, y1:y2, x1:x2]
            lam_drawn, lam = lam, lam_box
        target_rolled.mul_(1.0 - lam)
        target.mul_(lam).add_(target_rolled)
        z = logits.clone().requires_grad_(True)
        loss = TF.cross_entropy(z, target, label_smoothing=0.1)
        loss.backward()
        n = len(cases)
        cases.append({"kind": kind, "lambda": lam if kind == "mixup" else lam_drawn, "r_x": r_x, "r_y": r_y,
                      "box": box, "lambda_after": lam, "label_smoothing": 0.1, "loss": float(loss),
                      "images": save(out_dir, f"mix_{n}_images.npy", batch.permute(0, 2, 3, 1).numpy()),
                      "targets": save(out_dir, f"mix_{n}_targets.npy", target.numpy()),
                      "grad": save(out_dir, f"mix_{n}_grad.npy", z.grad.numpy())})
    return {"classes": classes, "cases": cases}


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cases, bins = augment_fixtures(out_dir)
    manifest = {"augment": cases, "bins": bins, "ema": ema_fixtures(out_dir), "mix": mix_fixtures(out_dir)}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])

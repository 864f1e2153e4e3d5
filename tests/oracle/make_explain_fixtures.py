#!/usr/bin/python3
"""The PyTorch oracle of `resnet explain`: Grad-CAM maps computed the way a PyTorch user computes them (a
forward hook on the stage, backward of the class logit, model.eval()).

Usage: /usr/bin/python3 tests/oracle/make_explain_fixtures.py OUT_DIR

Run with Debian's Python (torch 1.13, torchvision 0.14, Pillow, python3-skimage for the photographs). Seeded and
idempotent: when OUT_DIR/stamp.json matches this script and the library versions, nothing is done.

Grad-CAM (Selvaraju et al. 2017) of class k at a stage with output A [C,h,w]: alpha_c = the spatial mean of
d logit_k / d A_c; cam = ReLU(sum_c alpha_c A_c) [h,w]; normalised to [0,1] ((cam - min) / (max - min); all
zeros when max = min); upsampled to the input's [H,W] by F.interpolate(bilinear, align_corners=False). The
model runs in float64 (weights and input are the float32 values saved here), so the reference carries no
float32 rounding of its own.

Writes:
  chelsea.png, astronaut.png   skimage.data's photographs as RGB PNG
  resnet18.pth                 torchvision resnet18, seeded weights, BN weight/bias drawn around 1/0 and
                               running statistics measured on the two photographs (so eval-mode BN is not the
                               identity), torch.save(state_dict)
  resnet18_1ch_10cls.pth       the same with conv1 for 1 input channel and 10 classes
  gray64.input.npy             float32 [1,64,64,1] NHWC: chelsea as PIL "L", Resize(64) + CenterCrop(64),
                               ToTensor, Normalize(0.2860, 0.3530) (Fashion-MNIST's statistics)
  <case>.cam.npy               float32 [H,W]: the Grad-CAM map of one case
  explain.json                 {"cases": [{"name", "weights", "image" (a PNG, through torchvision's ImageNet
                               eval transform) or "input" (an .npy above), "layer", "class" (asked for, or
                               null: the top-1), "class_used", "prob" (its softmax probability), "top1_gap"
                               (logit gap of the top two), "cam", "size": [H,W]}]}
"""
import io
import os
import sys
import time

import numpy as np
import skimage
import skimage.data
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
from PIL import Image

from fixture_files import out_dir_to_fill, photo_script_stamp, save_bytes, save_json, save_npy  # noqa: E402

FIXTURES_VERSION = 1
SEED = 20261130
PHOTOS = ["chelsea", "astronaut"]
EVAL = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                  T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
GRAY = T.Compose([T.Resize(64), T.CenterCrop(64), T.ToTensor(), T.Normalize([0.2860], [0.3530])])


def torch_save(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.getvalue()


def make_model(inputs, in_channels, num_classes):
    """resnet18 with seeded weights, BN affine parameters away from 1/0 and running statistics of `inputs`."""
    model = torchvision.models.resnet18(num_classes=num_classes)
    if in_channels != 3:
        model.conv1 = torch.nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            with torch.no_grad():
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
            module.reset_running_stats()
            module.momentum = None  # cumulative average: the statistics of exactly this batch
    model.train()
    with torch.no_grad():
        model(inputs)
    return model.eval()


def as_float64(model):
    """A float64 copy of `model` holding its float32 values."""
    model64 = torchvision.models.resnet18(num_classes=model.fc.out_features)
    if model.conv1.in_channels != 3:
        model64.conv1 = torch.nn.Conv2d(model.conv1.in_channels, 64, 7, 2, 3, bias=False)
    model64.load_state_dict(model.state_dict())
    return model64.double().eval()


def grad_cam(model64, x, layer, klass):
    """Grad-CAM of `klass` (None: the top-1) at model64.<layer> for one input x [1,C,H,W] (float64)."""
    kept = {}
    stage = model64.relu if layer == "stem" else getattr(model64, layer)  # stem: conv1, bn1, relu
    handle = stage.register_forward_hook(lambda module, inputs, output: kept.update(a=output))
    logits = model64(x)
    handle.remove()
    activation = kept["a"]
    activation.retain_grad()
    top2 = torch.topk(logits[0], 2)
    k = int(top2.indices[0]) if klass is None else klass
    model64.zero_grad()
    logits[0, k].backward()
    alpha = activation.grad[0].mean(dim=(1, 2))  # [C]
    cam = torch.relu((alpha[:, None, None] * activation[0]).sum(0)).detach()  # [h,w]
    low, high = cam.min(), cam.max()
    cam = (cam - low) / (high - low) if high > low else torch.zeros_like(cam)
    cam = F.interpolate(cam[None, None], size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)[0, 0]
    prob = torch.softmax(logits[0], 0)[k].item()
    gap = (top2.values[0] - top2.values[1]).item()
    return cam.numpy(), k, prob, gap


def main():
    want = photo_script_stamp(__file__, FIXTURES_VERSION)
    out = out_dir_to_fill("make_explain_fixtures", want)
    if out is None:
        return 0

    started = time.time()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    torch.manual_seed(SEED)
    rgb_inputs = {}
    for photo in PHOTOS:
        path = os.path.join(out, f"{photo}.png")
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(getattr(skimage.data, photo)())).convert("RGB").save(buffer, "PNG")
        save_bytes(path, buffer.getvalue())
        rgb_inputs[photo] = EVAL(Image.open(path).convert("RGB"))[None]  # [1,3,224,224]
    gray = GRAY(Image.open(os.path.join(out, "chelsea.png")).convert("L"))[None]  # [1,1,64,64]
    save_npy(os.path.join(out, "gray64.input.npy"), gray.permute(0, 2, 3, 1).numpy())

    rgb_model = make_model(torch.cat(list(rgb_inputs.values())), 3, 1000)
    gray_model = make_model(torch.cat([gray, gray.flip(3)]), 1, 10)
    save_bytes(os.path.join(out, "resnet18.pth"), torch_save(rgb_model.state_dict()))
    save_bytes(os.path.join(out, "resnet18_1ch_10cls.pth"), torch_save(gray_model.state_dict()))
    rgb64, gray64 = as_float64(rgb_model), as_float64(gray_model)

    cases = []

    def add(name, model64, x, layer, klass, source):
        cam, k, prob, gap = grad_cam(model64, x.double(), layer, klass)
        save_npy(os.path.join(out, f"{name}.cam.npy"), cam)
        cases.append({"name": name, **source, "layer": layer, "class": klass, "class_used": k, "prob": prob,
                      "top1_gap": gap, "cam": f"{name}.cam.npy", "size": list(cam.shape)})

    for photo, x in rgb_inputs.items():
        source = {"weights": "resnet18.pth", "image": f"{photo}.png"}
        for layer in ["layer4", "layer3"]:
            add(f"{photo}.{layer}", rgb64, x, layer, None, source)
        add(f"{photo}.layer4.class281", rgb64, x, "layer4", 281, source)  # 281: tabby cat
    source = {"weights": "resnet18_1ch_10cls.pth", "input": "gray64.input.npy"}
    for layer in ["layer4", "layer3", "layer2", "layer1", "stem"]:
        add(f"gray64.{layer}", gray64, gray, layer, None, source)
    add("gray64.layer3.class7", gray64, gray, "layer3", 7, source)
    save_json(os.path.join(out, "explain.json"), {"cases": cases})
    save_json(os.path.join(out, "stamp.json"), want)  # last: its presence means every file above is complete
    print(f"make_explain_fixtures: wrote {len(cases)} Grad-CAM cases to {out} in {time.time() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

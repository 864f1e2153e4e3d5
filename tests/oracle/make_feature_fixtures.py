#!/usr/bin/python3
"""The multi-scale features oracle: torchvision's IntermediateLayerGetter outputs of every stage, for
tests/parity/test_features.cpp.

Usage: /usr/bin/python3 tests/oracle/make_feature_fixtures.py OUT_DIR

Run with Debian's Python (torch 1.13 + torchvision 0.14). OUT_DIR is <fixtures>/features: the torchvision models'
weights are not saved again but read from <fixtures>/<m>.safetensors, written by make_fixtures.py (ctest runs it
first: DEPENDS), whose stamp is part of this script's. Seeded and idempotent (stamp.json).

For every model <m>: the ten torchvision models, "resnet50_dilated" (replace_stride_with_dilation=[False, True,
True]), "resnet20" (the CIFAR network of make_grad_fixtures.py) and "resnet18_cifar" (torchvision's resnet18 with
a 3x3 stride-1 conv1 and no max-pool, resnet.cpp's --stem cifar); the last two have their own weights here
(<m>.safetensors, small), with batch norms randomized as make_fixtures.py does:
  <m>.input.npy           float32 NCHW [1, 3, 64, 64] ([1, 3, 32, 32] for the CIFAR stems)
  <m>.<stage>.npy         eval-mode IntermediateLayerGetter(model, {"relu": "stem", "layer1": "layer1", ...})
                          output, NCHW, computed in float64 from the float32 weights and input, stored as float32
and for resnet18 and resnet50 in train mode (batch statistics), loss = sum_i <feature_i, r_i>, float64 reference,
an input drawn again while torch's own float32 gradients are off by more than MAX_TORCH_F32_RATIO (a kink):
  <m>.train.input.npy, <m>.train.r.<stage>.npy (r_i ~ N(0, 1), NCHW), <m>.train.dx.npy (dloss/dinput),
  <m>.train.grad.<parameter>.npy for conv1.weight, layer1.0.conv1.weight, layer4.0.conv1.weight
manifest.json: {"models": {<m>: {"arch", "stem", "dilation", "weights" (path relative to OUT_DIR), "stages":
{stage: shape}}}, "train": {<m>: {"torch_f32_ratio_worst"}}, "train_parameters": [...]}.
"""
import copy
import hashlib
import json
import os
import sys
import zlib

import numpy as np
import torch
import torchvision
from torchvision.models._utils import IntermediateLayerGetter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_files import out_dir_to_fill, save_json, save_npy  # noqa: E402
from make_fixtures import ZOO, randomize_batchnorms  # noqa: E402
from make_grad_fixtures import CifarResNet  # noqa: E402
from safetensors_file import read_safetensors, write_safetensors  # noqa: E402

FIXTURES_VERSION = 1
STAMPED_SOURCES = ["make_feature_fixtures.py", "fixture_files.py", "safetensors_file.py", "make_fixtures.py",
                   "make_grad_fixtures.py"]
TRAIN_MODELS = ["resnet18", "resnet50"]
TRAIN_PARAMETERS = ["conv1.weight", "layer1.0.conv1.weight", "layer4.0.conv1.weight"]
DRAWS = 10
TRAIN_INPUT = (2, 3, 48, 48)  # small: each ReLU input is one more chance of a kink within float32 rounding
MAX_TORCH_F32_RATIO = 1e-4  # a train case whose float32 rounding alone exceeds this cannot test a 1e-3 tolerance


def seed_of(name):
    return zlib.crc32(("features." + name).encode())


def stages_of(model):
    names = ["layer1", "layer2", "layer3", "layer4"]
    return ["stem"] + [n for n in names if hasattr(model, n)]


def getter(model):
    return IntermediateLayerGetter(model, {("relu" if s == "stem" else s): s for s in stages_of(model)})


def load_weights(model, path):
    state = {k: torch.from_numpy(np.array(v)) for k, v in read_safetensors(path).items()}
    model.load_state_dict(state)


def cifar_resnet18():
    model = torchvision.models.resnet18()
    model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


def own_model(out, name, input_shape):
    """resnet20 / resnet18_cifar: seeded weights, BN randomized on a calibration batch, saved here."""
    torch.manual_seed(seed_of(name))
    model = CifarResNet(3) if name == "resnet20" else cifar_resnet18()
    generator = torch.Generator().manual_seed(seed_of(name) + 1)
    randomize_batchnorms(model, torch.randn(8, *input_shape[1:], generator=generator), generator)
    write_safetensors(os.path.join(out, f"{name}.safetensors"), model.state_dict())
    return model, f"{name}.safetensors"


def features64(model, x):
    model64 = getter(model).double().eval()
    with torch.no_grad():
        return {k: v.float() for k, v in model64(x.double()).items()}


def make_eval(out, name, spec):
    arch, stem, dilation, input_shape = spec
    if name in ("resnet20", "resnet18_cifar"):
        model, weights = own_model(out, name, input_shape)
    else:
        kwargs = {"replace_stride_with_dilation": dilation} if any(dilation) else {}
        model = torchvision.models.__dict__[arch](**kwargs)
        weights = os.path.join("..", f"{name}.safetensors")
        load_weights(model, os.path.join(out, weights))
    x = torch.randn(*input_shape, generator=torch.Generator().manual_seed(seed_of(name) + 2))
    save_npy(os.path.join(out, f"{name}.input.npy"), x.numpy())
    features = features64(model, x)
    for stage, value in features.items():
        save_npy(os.path.join(out, f"{name}.{stage}.npy"), value.numpy())
    print(f"make_feature_fixtures: {name}: " + ", ".join(f"{s} {list(v.shape)}" for s, v in features.items()),
          flush=True)
    return {"arch": arch, "stem": stem, "dilation": dilation, "weights": weights,
            "stages": {s: list(v.shape) for s, v in features.items()}}


def train_gradients(model, x, rs):
    """(dloss/dx, {parameter: grad}) of loss = sum_i <feature_i, r_i> in train mode, in model's dtype."""
    model.zero_grad()
    x = x.detach().clone().to(next(model.parameters()).dtype).requires_grad_(True)
    features = getter(model)(x)
    loss = sum((value * rs[stage].to(value.dtype)).sum() for stage, value in features.items())
    loss.backward()
    parameters = dict(model.named_parameters())
    return x.grad.double(), {p: parameters[p].grad.double() for p in TRAIN_PARAMETERS}


def ratio(approx, exact):
    return ((approx - exact).abs().max() / exact.abs().max()).item()


def make_train(out, name):
    """A train-mode case whose gradients torch's own float32 gets within MAX_TORCH_F32_RATIO: an input that puts a
    ReLU input within float32 rounding of its kink (one in resnet50's first draw moved torch's own float32 input
    gradient by 1.3e-3) is drawn again. This cannot see a kink that torch's float32 takes right and another float32
    implementation wrong (it happened: resnet18 at 2x3x64x64, 1.5e-2 in our input gradient); a smaller input makes
    it rarer."""
    model32 = torchvision.models.__dict__[name]()
    load_weights(model32, os.path.join(out, "..", f"{name}.safetensors"))
    model32.train()
    model64 = copy.deepcopy(model32).double()
    for attempt in range(DRAWS):
        generator = torch.Generator().manual_seed(seed_of(name) + 3 + 1000 * attempt)
        x = torch.randn(*TRAIN_INPUT, generator=generator)
        with torch.no_grad():
            shapes = {stage: value.shape for stage, value in getter(model32)(x).items()}
        rs = {stage: torch.randn(shape, generator=generator) for stage, shape in shapes.items()}
        dx64, grads64 = train_gradients(model64, x, rs)
        dx32, grads32 = train_gradients(model32, x, rs)
        worst = max([ratio(dx32, dx64)] + [ratio(grads32[p], grads64[p]) for p in TRAIN_PARAMETERS])
        if worst <= MAX_TORCH_F32_RATIO:
            break
        print(f"make_feature_fixtures: {name} train: torch float32 off by {worst:.2e}, drawing again", flush=True)
    else:
        raise RuntimeError(f"{name}: no well-conditioned train-mode input in {DRAWS} draws")
    save_npy(os.path.join(out, f"{name}.train.input.npy"), x.numpy())
    for stage, r in rs.items():
        save_npy(os.path.join(out, f"{name}.train.r.{stage}.npy"), r.numpy())
    save_npy(os.path.join(out, f"{name}.train.dx.npy"), dx64.float().numpy())
    for p in TRAIN_PARAMETERS:
        save_npy(os.path.join(out, f"{name}.train.grad.{p}.npy"), grads64[p].float().numpy())
    print(f"make_feature_fixtures: {name} train: torch float32 within {worst:.2e}", flush=True)
    return worst


def stamp(out):
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in STAMPED_SOURCES:
        with open(os.path.join(here, name), "rb") as f:
            digest.update(f.read())
    try:
        with open(os.path.join(out, "..", "stamp.json")) as f:
            weights = json.load(f)
    except (OSError, ValueError):
        weights = None
    return {"fixtures_version": FIXTURES_VERSION, "scripts_sha256": digest.hexdigest(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "make_fixtures_stamp": weights}


def main():
    out = sys.argv[1] if len(sys.argv) == 2 else None
    want = stamp(out) if out else None
    out = out_dir_to_fill("make_feature_fixtures", want)
    if out is None:
        return 0
    for name in ZOO + ["resnet50_dilated"]:
        if not os.path.exists(os.path.join(out, "..", f"{name}.safetensors")):
            sys.exit(f"make_feature_fixtures: {out}/../{name}.safetensors is missing: run make_fixtures.py first")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    specs = {name: (name, "imagenet", [False, False, False], (1, 3, 64, 64)) for name in ZOO}
    specs["resnet50_dilated"] = ("resnet50", "imagenet", [False, True, True], (1, 3, 64, 64))
    specs["resnet20"] = ("resnet20", "cifar", [False, False, False], (1, 3, 32, 32))
    specs["resnet18_cifar"] = ("resnet18", "cifar", [False, False, False], (1, 3, 32, 32))
    models = {name: make_eval(out, name, spec) for name, spec in specs.items()}
    train = {name: {"torch_f32_ratio_worst": make_train(out, name)} for name in TRAIN_MODELS}
    save_json(os.path.join(out, "manifest.json"),
              {"models": models, "train": train, "train_parameters": TRAIN_PARAMETERS})
    save_json(os.path.join(out, "stamp.json"), want)  # last: its presence means every file above is complete
    return 0


if __name__ == "__main__":
    sys.exit(main())

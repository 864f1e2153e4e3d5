#!/usr/bin/python3
"""The torchvision oracle: writes the fixtures that tests/parity/ compares resnet.cpp against.

Usage: /usr/bin/python3 tests/oracle/make_fixtures.py OUT_DIR

Run with Debian's Python (torch 1.13 + torchvision 0.14). Seeded and idempotent: when OUT_DIR/stamp.json matches
this script, its helpers and the torch/torchvision versions, nothing is done.

For every model fixture <m> (the ten zoo models, "resnet18_1ch_7cls", "resnet50_dilated"):
  <m>.pth                 torch.save(model.state_dict())
  <m>.safetensors         the same tensors, written by hand (safetensors_file.py)
  <m>.keys.json           {"parameter_count": n, "state_dict": [[key, shape, dtype], ...]} in state_dict order
  <m>.print.txt           str(model)
  <m>.<case>.input.npy    float32 NCHW input
  <m>.<case>.logits.npy   eval-mode logits [N, classes], float32
and for the train-mode BN cases (resnet18, resnet50), starting from <m>.pth:
  <m>.train.input.npy     float32 [4, 3, 64, 64]
  <m>.train.output.npy    the output of one forward in train mode
  <m>.train.after.safetensors   the whole state_dict after that forward (running stats, num_batches_tracked=1)
plus zero_init_residual.json (which BN weights torchvision zeroes) and manifest.json (every case, with torch's
own float32 error for context).

Every BatchNorm gets random weight ~ U(0.5, 1.5), bias ~ N(0, 0.1) and running statistics near the real ones of
its input on a calibration batch (mean + N(0, 0.1)·std, var · U(0.5, 1.5)): BN handling is exercised and the
activations stay in a sane range even through resnet152's 50 blocks. The last BN of each residual branch gets
weight ~ U(0.1, 0.3), as in trained networks: with weights near 1 there, a deep stack of residual blocks amplifies
rounding so much that torch's own float32 logits are off by ~5e-4 (relative, resnet152; in train mode too), which
would make a 1e-4 parity tolerance measure float32 conditioning instead of correctness. Every case checks that
torch's own float32 error stays below MAX_TORCH_F32_RATIO, so the fixtures stay well-conditioned.

The reference outputs are computed in float64 from exactly the saved float32 weights and inputs, then stored as
float32, so the oracle carries no float32 rounding of its own (torch's float32 error on the same case is recorded
in manifest.json).
"""
import copy
import hashlib
import json
import os
import sys
import time
import zlib

import numpy as np
import torch
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_files import out_dir_to_fill, save_json, save_npy, save_text  # noqa: E402
from safetensors_file import read_safetensors, write_safetensors  # noqa: E402

FIXTURES_VERSION = 1
ZOO = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]
ZOO_INPUT = (2, 3, 64, 64)
EXTRA_CASES = {  # more eval inputs for some zoo models, same weights
    "resnet18": {"b1_224": (1, 3, 224, 224), "b2_97x131": (2, 3, 97, 131)},
    "resnet50": {"b1_224": (1, 3, 224, 224), "b2_97x131": (2, 3, 97, 131)},
}
TRAIN_MODELS = ["resnet18", "resnet50"]
TRAIN_INPUT = (4, 3, 64, 64)
ZERO_INIT_MODELS = ["resnet18", "resnet50"]
STAMPED_SOURCES = ["make_fixtures.py", "fixture_files.py", "safetensors_file.py"]
MAX_TORCH_F32_RATIO = 2e-5  # a fixture whose float32 rounding alone exceeds this cannot test a 1e-4 tolerance


def seed_of(name):
    return zlib.crc32(name.encode())


def dtype_name(dtype):
    return {torch.float32: "f32", torch.int64: "i64"}[dtype]


def one_channel_resnet18():
    """resnet18 for 1-channel images and 7 classes, the way users adapt torchvision's model."""
    model = torchvision.models.resnet18(num_classes=7)
    model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


def dilated_resnet50():
    return torchvision.models.resnet50(replace_stride_with_dilation=[False, True, True])


def build(name):
    torch.manual_seed(seed_of(name))
    if name == "resnet18_1ch_7cls":
        return one_channel_resnet18(), ZOO_INPUT[:1] + (1,) + ZOO_INPUT[2:]
    if name == "resnet50_dilated":
        return dilated_resnet50(), ZOO_INPUT
    return torchvision.models.__dict__[name](), ZOO_INPUT


@torch.no_grad()
def randomize_batchnorms(model, calibration, generator):
    """Random BN affine parameters, running statistics near the real ones (see the module docstring)."""

    def uniform(n, low, high):
        return low + (high - low) * torch.rand(n, generator=generator)

    def normal(n, std):
        return std * torch.randn(n, generator=generator)

    last_of_branch = {id(b.bn2 if isinstance(b, BasicBlock) else b.bn3) for b in model.modules()
                      if isinstance(b, (BasicBlock, Bottleneck))}

    def randomize(bn, inputs):
        x = inputs[0]
        c = x.shape[1]
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False).clamp_min(1e-2)
        bn.weight.copy_(uniform(c, 0.1, 0.3) if id(bn) in last_of_branch else uniform(c, 0.5, 1.5))
        bn.bias.copy_(normal(c, 0.1))
        bn.running_mean.copy_(mean + normal(c, 0.1) * var.sqrt())
        bn.running_var.copy_(var * uniform(c, 0.5, 1.5))

    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    hooks = [bn.register_forward_pre_hook(randomize) for bn in bns]
    model.eval()
    model(calibration)  # hooks run in execution order, so each BN sees the already-randomized ones before it
    for h in hooks:
        h.remove()


@torch.no_grad()
def run_f64_and_f32(model32, model64, x):
    """(output of model64 on x, as float32; torch's own float32 error max|f32 - f64| / max|f64|). The two models
    hold the same weights; model64 is the float64 copy."""
    out64 = model64(x.double())
    out32 = model32(x)
    ratio = ((out32.double() - out64).abs().max() / out64.abs().max()).item()
    if ratio > MAX_TORCH_F32_RATIO:
        raise RuntimeError(f"ill-conditioned fixture: torch float32 differs from float64 by {ratio:.2e} (relative)")
    return out64.float(), ratio


def write_model_files(out, name, model):
    sd = model.state_dict()
    torch.save(sd, os.path.join(out, f"{name}.pth.tmp"))
    os.replace(os.path.join(out, f"{name}.pth.tmp"), os.path.join(out, f"{name}.pth"))
    write_safetensors(os.path.join(out, f"{name}.safetensors"), sd)
    keys = [[k, list(v.shape), dtype_name(v.dtype)] for k, v in sd.items()]
    count = sum(p.numel() for p in model.parameters())
    lines = ",\n  ".join(json.dumps(k) for k in keys)  # one [key, shape, dtype] a line, for diffs by eye
    save_text(os.path.join(out, f"{name}.keys.json"),
              f'{{"parameter_count": {count},\n "state_dict": [\n  {lines}\n ]}}\n')
    save_text(os.path.join(out, f"{name}.print.txt"), str(model))
    return count


def check_safetensors_roundtrip(path, state_dict):
    back = read_safetensors(path)
    assert list(back) != [], path
    for k, v in state_dict.items():
        assert np.array_equal(back[k], v.numpy()), f"{path}: {k} differs after writing"


def make_model(out, name, manifest):
    started = time.time()
    model, input_shape = build(name)
    generator = torch.Generator().manual_seed(seed_of(name) + 1)
    calibration = torch.randn((4,) + input_shape[1:], generator=generator)
    randomize_batchnorms(model, calibration, generator)
    model.eval()
    count = write_model_files(out, name, model)
    if name == "resnet18":
        check_safetensors_roundtrip(os.path.join(out, f"{name}.safetensors"), model.state_dict())

    entry = {"parameter_count": count, "cases": {}}
    model64 = copy.deepcopy(model).double()
    cases = {"b2_64": input_shape, **EXTRA_CASES.get(name, {})}
    for case, shape in cases.items():
        x = torch.randn(shape, generator=generator)
        logits, ratio = run_f64_and_f32(model, model64, x)
        save_npy(os.path.join(out, f"{name}.{case}.input.npy"), x.numpy())
        save_npy(os.path.join(out, f"{name}.{case}.logits.npy"), logits.numpy())
        entry["cases"][case] = {"input": list(shape), "torch_f32_ratio": ratio}

    if name in TRAIN_MODELS:  # one forward in train mode from the saved state (the models are not used after)
        x = torch.randn(TRAIN_INPUT, generator=generator)
        output, ratio = run_f64_and_f32(model.train(), model64.train(), x)
        after = {k: (v.float() if v.is_floating_point() else v) for k, v in model64.state_dict().items()}
        save_npy(os.path.join(out, f"{name}.train.input.npy"), x.numpy())
        save_npy(os.path.join(out, f"{name}.train.output.npy"), output.numpy())
        write_safetensors(os.path.join(out, f"{name}.train.after.safetensors"), after)
        entry["cases"]["train"] = {"input": list(TRAIN_INPUT), "torch_f32_ratio": ratio}

    manifest[name] = entry
    print(f"make_fixtures: {name}: {count:,} parameters, {time.time() - started:.1f}s", flush=True)


def zero_init_residual_weights():
    """For each model: the BN weights torchvision's zero_init_residual=True sets to zero (in state_dict order)."""
    out = {}
    for name in ZERO_INIT_MODELS:
        model = torchvision.models.__dict__[name](zero_init_residual=True)
        out[name] = [
            k for k, v in model.state_dict().items() if k.endswith(".weight") and v.ndim == 1 and not v.any()
        ]
    return out


def stamp():
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for f in STAMPED_SOURCES:  # this script and its helpers, not the other oracle scripts in this folder
        with open(os.path.join(here, f), "rb") as fh:
            digest.update(f.encode() + b"\0" + fh.read())
    return {
        "fixtures_version": FIXTURES_VERSION,
        "scripts_sha256": digest.hexdigest(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }


def main():
    want = stamp()
    out = out_dir_to_fill("make_fixtures", want)
    if out is None:
        return 0

    started = time.time()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    manifest = {}
    for name in ZOO + ["resnet18_1ch_7cls", "resnet50_dilated"]:
        make_model(out, name, manifest)
    save_json(os.path.join(out, "zero_init_residual.json"), zero_init_residual_weights())
    save_json(os.path.join(out, "manifest.json"), manifest)
    save_json(os.path.join(out, "stamp.json"), want)  # last: its presence means every file above is complete
    print(f"make_fixtures: wrote {out} in {time.time() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The torch autograd oracle for backward: writes the fixtures tests/parity/test_gradients.cpp compares against.

Usage: /usr/bin/python3 tests/oracle/make_grad_fixtures.py OUT_DIR

Run with Debian's Python (torch 1.13 + torchvision 0.14). Seeded and idempotent: when OUT_DIR/grad.stamp.json
matches this script and the torch/torchvision versions, nothing is done.

Protocol, per model <m> (resnet18, resnet50, resnext50_32x4d from torchvision; resnet20 defined below with
resnet.cpp's module names): model.train(); out = model(x); out.backward(dlogits), with a fixed random dlogits so
that no loss function is involved. Files:
  grad.<m>.weights.pth    torch.save(model.state_dict()) before the forward (the weights the step starts from)
  grad.<m>.input.npy      x, float32 NCHW
  grad.<m>.dlogits.npy    dL/dlogits, float32 [N, classes]
  grad.<m>.grads.pth      {parameter name: .grad}, float32, in state_dict order
  grad.<m>.dx.npy         dL/dx, float32 NCHW
plus grad.manifest.json: per model the input shape and, for context, torch's own float32 error on every gradient
(max |f32 - f64| / max |f64| per tensor, the worst tensor named).

The reference gradients are computed in float64 from exactly the saved float32 weights and inputs, then stored as
float32, so the oracle carries no float32 rounding of its own. Every BatchNorm gets random weight ~ U(0.5, 1.5) and
bias ~ N(0, 0.1) (the last BN of each residual branch weight ~ U(0.1, 0.3), as in trained networks, which keeps a
deep stack's backward well-conditioned); running statistics do not matter, train mode normalizes with the batch's.
Inputs are 64x64 for the ImageNet models (layer4 is then 2x2, so train-mode BN there sees 8 values per channel; at
32x32 it would see 2, and BN's input gradient is then exactly 0, leaving only rounding noise below it) and 32x32
for resnet20.

The gradient of a ReLU network jumps at the kinks (a ReLU input at 0, a max-pool tie). A fixture with an element
within float32 rounding of a kink tests luck, not correctness: one such element (a ReLU input of -2e-7) moved a
whole block of resnet50's gradients by 3e-2. KinkGuard moves the fixture away from every kink; the script refuses
to write a fixture that is near one, or whose torch float32 gradients differ from float64 by more than
MAX_TORCH_F32_RATIO.
"""
import collections
import copy
import fcntl
import hashlib
import json
import math
import os
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

GRAD_FIXTURES_VERSION = 1
MODELS = {  # name -> input shape (N, C, H, W)
    "resnet18": (2, 3, 64, 64),
    "resnet50": (2, 3, 64, 64),
    "resnext50_32x4d": (2, 3, 64, 64),
    "resnet20": (4, 3, 32, 32),
}
# A fixture whose float32 rounding alone comes near the 1e-3 parity tolerance would measure conditioning.
MAX_TORCH_F32_RATIO = 2e-4
# Kink margins, relative to the largest magnitude at the site (see KinkGuard). float32 forwards (ours, torch's) are
# off by up to ~1.5e-5 of that in resnet50's layer4 (the worst element; typical ones far less), ~5e-7 at the stem's
# max-pool.
RELU_MARGIN = 5e-5
MAXPOOL_MARGIN = 2e-6
MAX_INPUT_TRIES = 50


# --- resnet20 (He et al. 2015 §4.2) with resnet.cpp's names: conv1, bn1, relu, layer1..3, avgpool, fc -------------
class ZeroPadShortcut(torch.nn.Module):
    """Option A: every stride-th pixel, the new channels zero-padded half before and half after."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.stride = stride
        self.before = (out_channels - in_channels) // 2
        self.after = out_channels - in_channels - self.before

    def forward(self, x):
        return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.before, self.after))


class CifarBasicBlock(torch.nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.shortcut = ZeroPadShortcut(inplanes, planes, stride) if stride != 1 or inplanes != planes else None

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.shortcut(x) if self.shortcut is not None else x))


class CifarResNet(torch.nn.Module):
    def __init__(self, blocks_per_stage, num_classes=10):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(16)
        self.relu = torch.nn.ReLU(inplace=True)
        inplanes = 16
        for stage, planes in enumerate((16, 32, 64)):
            blocks = []
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(CifarBasicBlock(inplanes, planes, stride))
                inplanes = planes
            setattr(self, f"layer{stage + 1}", torch.nn.Sequential(*blocks))
        self.avgpool = torch.nn.AdaptiveAvgPool2d((1, 1))
        self.fc = torch.nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --- fixtures ----------------------------------------------------------------------------------------------------
def seed_of(name):
    return zlib.crc32(("grad." + name).encode())


def build(name):
    torch.manual_seed(seed_of(name))
    if name == "resnet20":
        return CifarResNet(3)
    return torchvision.models.__dict__[name]()


@torch.no_grad()
def randomize_batchnorms(model, generator):
    last_of_branch = set()
    for m in model.modules():
        if isinstance(m, (BasicBlock, CifarBasicBlock)):
            last_of_branch.add(id(m.bn2))
        elif isinstance(m, Bottleneck):
            last_of_branch.add(id(m.bn3))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            low, high = (0.1, 0.3) if id(m) in last_of_branch else (0.5, 1.5)
            m.weight.copy_(low + (high - low) * torch.rand(c, generator=generator))
            m.bias.copy_(0.1 * torch.randn(c, generator=generator))


class KinkGuard:
    """Keeps the fixture away from the kinks of ReLU and max-pool, where the gradient jumps.

    A ReLU input within float32 rounding of 0, or a max-pool window whose two largest values are within rounding of
    each other, sends the gradient down one branch in float64 and maybe the other in a correct float32
    implementation: one such element of resnet50 moved a whole block's gradients by 3e-2 (relative). So:
      fix mode    every ReLU input element within RELU_MARGIN (x the site's largest |value|) of 0 is moved out by
                  shifting, for its channel, the bias of the BatchNorm that ran last (the one the ReLU input
                  depends on additively: bn1/bn2/bn3, or the downsample BN or bn2 at a block's output); a max-pool
                  window with its top two closer than MAXPOOL_MARGIN (or a channel no small shift clears) raises
                  Retry: the caller draws another input.
      check mode  counts what fix mode would change (0 for a valid fixture).
    Fix mode works to 1.25x the margins, so that rounding the shifted biases to float32 (and the sites' largest
    values moving with the shifts) cannot bring an element back within them. The hooks run in execution order, so
    each site sees the already-fixed sites before it."""

    class Retry(Exception):
        pass

    def __init__(self, model, fix):
        self.fix = fix
        self.scale = 1.25 if fix else 1.0
        self.last_bn = None
        self.near_kinks = 0
        self.near_ties = 0
        self.hooks = []
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                self.hooks.append(m.register_forward_hook(self.after_batchnorm))
            elif isinstance(m, torch.nn.ReLU):
                self.hooks.append(m.register_forward_pre_hook(self.before_relu))
            elif isinstance(m, torch.nn.MaxPool2d):
                self.hooks.append(m.register_forward_pre_hook(self.before_maxpool))

    def remove(self):
        for h in self.hooks:
            h.remove()

    def after_batchnorm(self, module, inputs, output):
        self.last_bn = module

    @torch.no_grad()
    def before_relu(self, module, inputs):
        v = inputs[0]
        margin = self.scale * RELU_MARGIN * v.abs().max().item()
        near = (v.abs() < margin).any(dim=3).any(dim=2).any(dim=0)
        for c in near.nonzero().flatten().tolist():
            self.near_kinks += 1
            if self.fix:
                shift = self.shift_out_of_margin(v[:, c].flatten(), margin)
                v[:, c] += shift
                self.last_bn.bias[c] += shift

    @staticmethod
    def shift_out_of_margin(values, margin):
        """The smallest shift (on a grid of margin/2 steps) after which no value is within margin of 0."""
        steps = torch.arange(1, 401, dtype=values.dtype)
        candidates = torch.stack([steps, -steps], dim=1).flatten() * (margin / 2)
        close = values[values.abs() < 201 * margin]
        for shift in candidates.tolist():
            if close.numel() == 0 or (close + shift).abs().min().item() >= margin:
                return shift
        raise KinkGuard.Retry()

    @torch.no_grad()
    def before_maxpool(self, module, inputs):
        v = inputs[0]
        k, s, p = module.kernel_size, module.stride, module.padding
        windows = F.pad(v, (p, p, p, p), value=-math.inf).unfold(2, k, s).unfold(3, k, s).flatten(-2)
        top2 = windows.topk(2, dim=-1).values
        # Windows whose maximum is 0 send their gradient to an element the ReLU before cuts off anyway.
        margin = self.scale * MAXPOOL_MARGIN * v.abs().max().item()
        near = ((top2[..., 0] - top2[..., 1]) < margin) & (top2[..., 0] > 0)
        self.near_ties += int(near.sum().item())
        if self.fix and self.near_ties:
            raise KinkGuard.Retry()


def input_away_from_kinks(model, input_shape, generator):
    """An input x, and the model's BN biases adjusted in place, such that no ReLU input or max-pool window is near a
    kink (KinkGuard) when the model's float32 weights run in float64."""
    for _ in range(MAX_INPUT_TRIES):
        x = torch.randn(input_shape, generator=generator)
        model64 = copy.deepcopy(model).double().train()
        guard = KinkGuard(model64, fix=True)
        try:
            with torch.no_grad():
                model64(x.double())
        except KinkGuard.Retry:
            continue
        finally:
            guard.remove()
        with torch.no_grad():
            for bn32, bn64 in zip(bn_modules(model), bn_modules(model64)):
                bn32.bias.copy_(bn64.bias.float())
        return x
    raise RuntimeError(f"no input away from the kinks in {MAX_INPUT_TRIES} tries")


def bn_modules(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def gradients(model, x, dlogits):
    """One train-mode forward + backward from dlogits: ({parameter name: grad}, dL/dx)."""
    model.train()
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    model(x).backward(dlogits)
    grads = collections.OrderedDict((name, p.grad.detach().clone()) for name, p in model.named_parameters())
    return grads, x.grad.detach().clone()


def relative_error(approx, exact):
    scale = exact.abs().max().item()
    diff = (approx.double() - exact).abs().max().item()
    return diff / scale if scale > 0 else diff


def atomic_write(path, write):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def save_npy(path, tensor):
    atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(tensor.detach().numpy(), dtype=np.float32)))


def save_pth(path, tensors):
    atomic_write(path, lambda f: torch.save(tensors, f))


def make_model(out, name, input_shape):
    started = time.time()
    model = build(name)
    generator = torch.Generator().manual_seed(seed_of(name) + 1)
    randomize_batchnorms(model, generator)
    x = input_away_from_kinks(model, input_shape, generator)
    state = copy.deepcopy(model.state_dict())  # before the train-mode forward updates the running statistics
    model64 = copy.deepcopy(model).double()
    with torch.no_grad():
        classes = model(x).shape[1]
    dlogits = torch.randn((input_shape[0], classes), generator=generator)

    guard = KinkGuard(model64, fix=False)  # the float32-rounded fixture, in float64: still away from every kink
    grads64, dx64 = gradients(model64, x.double(), dlogits.double())
    guard.remove()
    if guard.near_kinks or guard.near_ties:
        raise RuntimeError(f"{name}: {guard.near_kinks} ReLU channels, {guard.near_ties} max-pool windows near a kink")
    model.load_state_dict(state)
    grads32, dx32 = gradients(model, x, dlogits)

    errors = {n: relative_error(grads32[n], g) for n, g in grads64.items()}
    errors["input"] = relative_error(dx32, dx64)
    worst = max(errors, key=errors.get)
    if errors[worst] > MAX_TORCH_F32_RATIO:
        raise RuntimeError(f"{name}: ill-conditioned fixture: torch float32 {worst} gradient differs from float64 "
                           f"by {errors[worst]:.2e} (relative)")

    prefix = os.path.join(out, f"grad.{name}")
    save_pth(f"{prefix}.weights.pth", state)
    save_npy(f"{prefix}.input.npy", x)
    save_npy(f"{prefix}.dlogits.npy", dlogits)
    save_pth(f"{prefix}.grads.pth", collections.OrderedDict((n, g.float()) for n, g in grads64.items()))
    save_npy(f"{prefix}.dx.npy", dx64.float())
    print(f"make_grad_fixtures: {name} {input_shape}: {len(grads64)} gradients, torch float32 worst "
          f"{errors[worst]:.2e} ({worst}), {time.time() - started:.1f} s", flush=True)
    return {"input_shape": list(input_shape), "classes": classes, "parameters": len(grads64),
            "torch_f32_ratio_worst": errors[worst], "torch_f32_ratio_worst_tensor": worst}


def stamp():
    with open(os.path.abspath(__file__), "rb") as f:
        script = hashlib.sha256(f.read()).hexdigest()
    return {"version": GRAD_FIXTURES_VERSION, "script": script, "torch": torch.__version__,
            "torchvision": torchvision.__version__}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_grad_fixtures.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    stamp_path = os.path.join(out, "grad.stamp.json")
    expected = stamp()
    # Tests running in parallel may all ask for the fixtures: one writes them, the others wait and find the stamp.
    with open(os.path.join(out, "grad.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(stamp_path) as f:
                if json.load(f) == expected:
                    return
        except (OSError, ValueError):
            pass
        torch.use_deterministic_algorithms(True)
        manifest = {name: make_model(out, name, shape) for name, shape in MODELS.items()}
        atomic_write(os.path.join(out, "grad.manifest.json"), lambda f: f.write(json.dumps(manifest).encode()))
        atomic_write(stamp_path, lambda f: f.write(json.dumps(expected).encode()))  # last: the set is complete


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The segmentation_models_pytorch oracle of the U-Net: smp 0.6's Unet with ResNet encoders, seeded weights,
train- and eval-mode logits and the gradients of a Dice + cross-entropy loss.

Usage: python3 tests/oracle/make_unet_fixtures.py OUT_DIR
It runs scripts/smp_venv.sh (which creates, if needed, the pinned venv of Debian's torch 1.13 + smp 0.6 and
prints its python) and re-runs itself with that python. Seeded and
idempotent: when OUT_DIR/stamp.json matches this script and the library versions, nothing is done.

The cases cover every value of encoder (resnet18, resnet34, resnet50) x in_channels (1, 3, 4) x classes
(1, 11) x encoder_depth (5, 4) without the full product (CASES). The reference runs in float64 on the float32 values
saved here (so it carries no float32 rounding of its own); the files hold float32.

Writes, per case <c>:
  <c>.safetensors       the state_dict (smp's keys and order; BN affine parameters and running statistics
                        drawn away from 1/0, 0/1 so eval-mode BN is not the identity)
  <c>.keys.json         [[key, shape, dtype], ...] of smp's state_dict, in order (what ours must equal, so that
                        our state_dict loads in smp with strict=True)
  <c>.input.npy         float32 [2,C,64,64]
  <c>.eval.npy          float32 [2,K,64,64]: model.eval() logits
  <c>.train.npy         float32 [2,K,64,64]: model.train() logits (BN with the batch statistics)
  <c>.dlogits.npy       float32 [2,K,64,64]: dL/dlogits of the loss on the train-mode logits
  <c>.grads.safetensors every parameter's dL/dparameter after that backward (parameters that took no part,
                        e.g. layer4 at depth 4, are absent: smp leaves their .grad None)
  <c>.pth               (the first case only) torch.save(state_dict), for `resnet convert`
  unet.json             {"cases": [{"name", "encoder", "in_channels", "classes", "depth", "decoder_channels",
                        "loss"}]}
Loss: classes 11: DiceLoss("multiclass") + CrossEntropyLoss on a random mask [2,64,64] of class indices;
classes 1: DiceLoss("binary") + BCEWithLogitsLoss on a random binary mask [2,1,64,64].
"""
import hashlib
import io
import os
import sys

import subprocess


def smp_python():
    """The python of the venv scripts/smp_venv.sh creates (pinned smp 0.6 over Debian's torch); the script makes
    it on first use and prints its path."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "smp_venv.sh")
    return subprocess.run([script], check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]


# Run by any python (ctest uses Debian's): continue in the smp venv's.
if "RESNET_SMP_VENV_PYTHON" not in os.environ:
    python = smp_python()
    os.environ["RESNET_SMP_VENV_PYTHON"] = python
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])

import numpy as np  # noqa: E402
import segmentation_models_pytorch as smp  # noqa: E402
import torch  # noqa: E402
from torchvision.models.resnet import BasicBlock, Bottleneck  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_files import out_dir_to_fill, save_bytes, save_json, save_npy  # noqa: E402
from safetensors_file import safetensors_bytes  # noqa: E402

FIXTURES_VERSION = 1
SEED = 20261201
SIZE = 64
BATCH = 2
# (encoder, in_channels, classes, depth): each value of each axis at least once, and a binary and a multiclass
# case at each depth (not the full product: the weights of one resnet50 U-Net are 130 MB).
CASES = [
    ("resnet18", 1, 1, 5),
    ("resnet34", 3, 11, 4),
    ("resnet50", 4, 11, 5),
    ("resnet18", 3, 1, 4),
]


def stamp():
    with open(os.path.abspath(__file__), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"fixtures_version": FIXTURES_VERSION, "script_sha256": digest, "torch": torch.__version__,
            "smp": smp.__version__}


def case_name(encoder, in_channels, classes, depth):
    return f"unet-{encoder}_c{in_channels}_k{classes}_d{depth}"


def make_model(encoder, in_channels, classes, depth):
    """smp's Unet with seeded weights and BN parameters/statistics away from their initial values."""
    decoder_channels = (256, 128, 64, 32, 16)[:depth]
    model = smp.Unet(encoder_name=encoder, encoder_depth=depth, encoder_weights=None,
                     decoder_channels=decoder_channels, decoder_use_norm="batchnorm",
                     in_channels=in_channels, classes=classes)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        # As make_fixtures.py: the last BN of each residual branch small, as in trained networks, so that the
        # stack of blocks does not amplify float32 rounding beyond what a 1e-4 tolerance can tell from a bug.
        for module in model.encoder.modules():
            if isinstance(module, Bottleneck):
                module.bn3.weight.uniform_(0.1, 0.3)
            elif isinstance(module, BasicBlock):
                module.bn2.weight.uniform_(0.1, 0.3)
        # The head's bias starts at zero: make it count.
        model.segmentation_head[0].bias.normal_(0.0, 0.1)
    return model, decoder_channels


def loss_of(logits, mask, classes):
    if classes == 1:
        dice = smp.losses.DiceLoss("binary", from_logits=True)
        return dice(logits, mask) + torch.nn.functional.binary_cross_entropy_with_logits(logits, mask)
    dice = smp.losses.DiceLoss("multiclass", from_logits=True)
    return dice(logits, mask) + torch.nn.functional.cross_entropy(logits, mask)


def random_mask(generator, classes):
    if classes == 1:
        return torch.randint(0, 2, (BATCH, 1, SIZE, SIZE), generator=generator).double()
    return torch.randint(0, classes, (BATCH, SIZE, SIZE), generator=generator)


def as_numpy(t):
    return t.detach().to(torch.float32).numpy()


def make_case(out, encoder, in_channels, classes, depth, first):
    name = case_name(encoder, in_channels, classes, depth)
    model, decoder_channels = make_model(encoder, in_channels, classes, depth)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}  # float32 (and i64 counters)
    save_bytes(os.path.join(out, f"{name}.safetensors"), safetensors_bytes(state, {"format": "pt"}))
    save_json(os.path.join(out, f"{name}.keys.json"),
              [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in state.items()])
    if first:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        save_bytes(os.path.join(out, f"{name}.pth"), buffer.getvalue())

    generator = torch.Generator().manual_seed(SEED + len(name))
    x32 = torch.randn(BATCH, in_channels, SIZE, SIZE, generator=generator, dtype=torch.float32)
    save_npy(os.path.join(out, f"{name}.input.npy"), x32.numpy())
    model = model.double()
    x = x32.double()

    model.eval()
    with torch.no_grad():
        save_npy(os.path.join(out, f"{name}.eval.npy"), as_numpy(model(x)))

    model.train()
    logits = model(x)
    logits.retain_grad()
    loss_of(logits, random_mask(generator, classes), classes).backward()
    save_npy(os.path.join(out, f"{name}.train.npy"), as_numpy(logits))
    save_npy(os.path.join(out, f"{name}.dlogits.npy"), as_numpy(logits.grad))
    grads = {k: p.grad.detach().to(torch.float32) for k, p in model.named_parameters() if p.grad is not None}
    save_bytes(os.path.join(out, f"{name}.grads.safetensors"), safetensors_bytes(grads, {"format": "pt"}))
    return {"name": name, "encoder": encoder, "in_channels": in_channels, "classes": classes, "depth": depth,
            "decoder_channels": list(decoder_channels),
            "loss": "DiceLoss(binary) + BCEWithLogits" if classes == 1 else "DiceLoss(multiclass) + CrossEntropy"}


def main():
    want = stamp()
    out = out_dir_to_fill("make_unet_fixtures", want)
    if out is None:
        return 0
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    cases = [make_case(out, *case, first=(i == 0)) for i, case in enumerate(CASES)]
    save_json(os.path.join(out, "unet.json"), {"cases": cases})
    save_json(os.path.join(out, "stamp.json"), want)
    print(f"make_unet_fixtures: {len(cases)} cases in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

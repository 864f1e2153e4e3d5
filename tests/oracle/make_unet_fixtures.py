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
                        drawn away from 1/0, 0/1 so eval-mode BN is not the identity, see make_model)
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
                        "loss", "attempt", "torch_f32_logits_ratio", "torch_f32_grads_ratio",
                        "few_pixel_relu_margin"}]}
Each case is drawn again (a new seed, up to MAX_ATTEMPTS) until torch's own float32 runs (on the input and on
PERTURBED_RUNS copies perturbed by a few ulps) are within MAX_TORCH_F32_LOGITS / MAX_TORCH_F32_GRADS of the
float64 reference and no ReLU input of the few-pixel deepest stages lies within MIN_FEW_PIXEL_RELU_MARGIN of 0;
unet.json records the attempt, that error and that margin.
Loss: classes 11: DiceLoss("multiclass") + CrossEntropyLoss on a random mask [2,64,64] of class indices;
classes 1: DiceLoss("binary") + BCEWithLogitsLoss on a random binary mask [2,1,64,64].
"""
import copy
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
# A draw is kept when torch's own float32 run is this close to the float64 reference (max|f32 - f64| / max|f64|,
# the logits and the worst parameter gradient): well inside the tests' 1e-4 and 1e-3.
MAX_TORCH_F32_LOGITS = 1e-5
MAX_TORCH_F32_GRADS = 1e-4
MAX_ATTEMPTS = 20
# ... and when every ReLU input at the stages with at most FEW_PIXELS pixels per channel is at least this far
# from 0 (relative to its tensor's max; our float32 error there is ~1e-6).
FEW_PIXELS = 8
MIN_FEW_PIXEL_RELU_MARGIN = 1e-5
PERTURBED_RUNS = 2
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
                # Biases of either sign, 1.5..2.5 (in units of the normalised input): each channel is mostly
                # open or mostly shut, with few ReLU inputs near 0, where float32 rounding could flip the mask
                # and move a gradient by ~1/sqrt(pixels), i.e. by percents (see torch_f32_error).
                sign = torch.randint(0, 2, module.bias.shape) * 2 - 1
                module.bias.copy_(sign * torch.empty(module.bias.shape).uniform_(1.5, 2.5))
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



def run(model, x, mask, classes, dtype):
    """Eval logits, then train-mode logits, dL/dlogits and the parameter gradients, in `dtype` on a copy."""
    model = copy.deepcopy(model).to(dtype)
    model.eval()
    with torch.no_grad():
        eval_logits = model(x.to(dtype))
    model.train()
    logits = model(x.to(dtype))
    logits.retain_grad()
    loss_of(logits, mask.to(dtype) if classes == 1 else mask, classes).backward()
    grads = {k: p.grad.detach() for k, p in model.named_parameters() if p.grad is not None}
    return eval_logits, logits.detach(), logits.grad, grads


def ratio(ours, reference):
    return ((ours.double() - reference).abs().max() / reference.abs().max()).item()


def torch_f32_error(model, x, mask, classes, reference):
    """Torch's own float32 error on the case: the worst ratio, over the logits and over the gradients, of float32
    runs on x and on PERTURBED_RUNS copies of x perturbed by a few float32 ulps. With train-mode BN over the few
    pixels of the deepest stages, a ReLU input or a max-pool window can sit so near a tie that rounding flips it
    and moves gradients by percents; one float32 run may miss such a tie, a few perturbed ones do not."""
    generator = torch.Generator().manual_seed(SEED)
    logits = grads = 0.0
    for run_index in range(1 + PERTURBED_RUNS):
        noise = torch.randn(x.shape, generator=generator) * 1e-7 if run_index > 0 else torch.zeros(x.shape)
        f32 = run(model, x * (1 + noise), mask, classes, torch.float32)
        logits = max([logits] + [ratio(f32[i], reference[i]) for i in range(2)])
        grads = max([grads] + [ratio(f32[3][k], g) for k, g in reference[3].items()])
    return logits, grads


def few_pixel_relu_margin(model, x):
    """min |v| / max |v| over the inputs v of the ReLUs that see at most FEW_PIXELS pixels per channel (the
    encoder's deepest stages at 64x64: 8 per channel at layer4), in a float64 train-mode forward. There a
    float32 flip of one ReLU moves a batch statistic by 1/8 and the gradients by percents."""
    model = copy.deepcopy(model).double().train()
    margins = [1.0]

    def record(module, inputs, output):
        v = inputs[0].detach().abs()
        if v.shape[0] * v.shape[2] * v.shape[3] <= FEW_PIXELS:
            margins.append((v.min() / v.max()).item())

    for module in model.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False  # the hook must see the input before the ReLU
            module.register_forward_hook(record)
    model(x.double())
    return min(margins)


def make_case(out, encoder, in_channels, classes, depth, first):
    """Draws weights, input and mask until torch's own float32 runs are within MAX_TORCH_F32_* of the float64
    reference (torch_f32_error): a draw where float32 rounding alone moves a gradient by percents measures
    float32 conditioning, not correctness."""
    name = case_name(encoder, in_channels, classes, depth)
    for attempt in range(MAX_ATTEMPTS):
        torch.manual_seed(SEED + 1000 * attempt + len(name))
        model, decoder_channels = make_model(encoder, in_channels, classes, depth)
        generator = torch.Generator().manual_seed(SEED + 1000 * attempt + len(name))
        x = torch.randn(BATCH, in_channels, SIZE, SIZE, generator=generator, dtype=torch.float32)
        mask = random_mask(generator, classes)
        margin = few_pixel_relu_margin(model, x)
        if margin < MIN_FEW_PIXEL_RELU_MARGIN:
            print(f"{name}: draw {attempt} has a ReLU input {margin:.2g} of its tensor's max at the deepest "
                  f"stages; drawing again", file=sys.stderr)
            continue
        reference = run(model, x, mask, classes, torch.float64)
        error = torch_f32_error(model, x, mask, classes, reference)
        if error[0] <= MAX_TORCH_F32_LOGITS and error[1] <= MAX_TORCH_F32_GRADS:
            break
        print(f"{name}: draw {attempt} is ill-conditioned (torch float32: logits {error[0]:.2g}, "
              f"gradients {error[1]:.2g}); drawing again", file=sys.stderr)
    else:
        raise SystemExit(f"{name}: no well-conditioned draw in {MAX_ATTEMPTS} attempts")

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}  # float32 (and i64 counters)
    save_bytes(os.path.join(out, f"{name}.safetensors"), safetensors_bytes(state, {"format": "pt"}))
    save_json(os.path.join(out, f"{name}.keys.json"),
              [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in state.items()])
    if first:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        save_bytes(os.path.join(out, f"{name}.pth"), buffer.getvalue())
    eval_logits, train_logits, dlogits, grads = reference
    save_npy(os.path.join(out, f"{name}.input.npy"), x.numpy())
    save_npy(os.path.join(out, f"{name}.eval.npy"), as_numpy(eval_logits))
    save_npy(os.path.join(out, f"{name}.train.npy"), as_numpy(train_logits))
    save_npy(os.path.join(out, f"{name}.dlogits.npy"), as_numpy(dlogits))
    grads32 = {k: g.to(torch.float32) for k, g in grads.items()}
    save_bytes(os.path.join(out, f"{name}.grads.safetensors"), safetensors_bytes(grads32, {"format": "pt"}))
    return {"name": name, "encoder": encoder, "in_channels": in_channels, "classes": classes, "depth": depth,
            "decoder_channels": list(decoder_channels),
            "loss": "DiceLoss(binary) + BCEWithLogits" if classes == 1 else "DiceLoss(multiclass) + CrossEntropy",
            "attempt": attempt, "torch_f32_logits_ratio": error[0], "torch_f32_grads_ratio": error[1],
            "few_pixel_relu_margin": margin}


def main():
    want = stamp()
    out = out_dir_to_fill("make_unet_fixtures", want)
    if out is None:
        return 0
    cases = [make_case(out, *case, first=(i == 0)) for i, case in enumerate(CASES)]
    save_json(os.path.join(out, "unet.json"), {"cases": cases})
    save_json(os.path.join(out, "stamp.json"), want)
    print(f"make_unet_fixtures: {len(cases)} cases in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

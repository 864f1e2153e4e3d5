#!/usr/bin/env python3
"""The segmentation losses' oracle: torch's cross-entropy and segmentation_models_pytorch's DiceLoss, with the
gradients torch autograd gives, for tests/parity/test_segmentation_loss.cpp.

Usage: <smp venv python> tests/oracle/make_segmentation_loss_fixtures.py OUT_DIR
Run with the python scripts/smp_venv.sh prints (Debian's torch 1.13 + smp 0.6). Seeded and idempotent (stamp.json).

For every case <c> (multiclass with ignored pixels and an absent class, multiclass without ignored pixels,
ignore_index 0, binary K = 1 with ignored pixels):
  <c>.logits.npy           float32 NHWC [N, H, W, K] (as resnet.cpp's logits)
  <c>.mask.npy             float32 [N, H, W], the class of each pixel or the ignore index
  <c>.<loss>.grad.npy      dL/dlogits NHWC, for loss in ce, dice, ce_dice
  cases.json               {c: {"ignore_index": i, "loss": {"ce": v, "dice": v, "ce_dice": v}}}
Reference values are computed in float64 from the saved float32 logits:
  ce    K > 1: F.cross_entropy(ignore_index) (mean over pixels not ignored); K = 1:
        F.binary_cross_entropy_with_logits over the pixels not ignored (mean over them)
  dice  smp.losses.DiceLoss("multiclass" / "binary", from_logits=True, smooth=0, eps=1e-7, ignore_index)
"""
import hashlib
import json
import os
import sys

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_files import out_dir_to_fill, save_json, save_npy  # noqa: E402

FIXTURES_VERSION = 1

# name: (N, H, W, K, ignore_index, fraction of ignored pixels, classes left out of the mask)
CASES = {
    "multiclass": (2, 6, 7, 11, 255, 0.1, [7]),
    "multiclass_all_valid": (3, 5, 5, 4, 255, 0.0, []),
    "ignore_zero": (2, 4, 6, 3, 0, 0.2, []),
    "binary": (2, 8, 8, 1, 255, 0.15, []),
}


def stamp():
    with open(os.path.abspath(__file__), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"fixtures_version": FIXTURES_VERSION, "script_sha256": digest, "torch": torch.__version__,
            "smp": smp.__version__}


def make_case(rng, n, h, w, k, ignore_index, ignored, absent):
    logits = (rng.standard_normal((n, h, w, k)) * 2.0).astype(np.float32)
    labels = 2 if k == 1 else k
    allowed = [c for c in range(labels) if c not in absent and c != ignore_index]
    mask = rng.choice(allowed, size=(n, h, w))
    mask[rng.random((n, h, w)) < ignored] = ignore_index
    return logits, mask.astype(np.int64)


def losses(logits_nhwc, mask, ignore_index):
    """{name: (loss, grad NHWC)} in float64."""
    k = logits_nhwc.shape[-1]
    out = {}
    for name in ["ce", "dice", "ce_dice"]:
        z = torch.tensor(logits_nhwc, dtype=torch.float64).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
        target = torch.tensor(mask)
        valid = target != ignore_index
        if k == 1:
            ce = F.binary_cross_entropy_with_logits(z[:, 0][valid], target[valid].double())
            dice = smp.losses.DiceLoss("binary", from_logits=True, smooth=0.0, eps=1e-7,
                                       ignore_index=ignore_index)(z, target.double().unsqueeze(1))
        else:
            ce = F.cross_entropy(z, target, ignore_index=ignore_index)
            dice = smp.losses.DiceLoss("multiclass", from_logits=True, smooth=0.0, eps=1e-7,
                                       ignore_index=ignore_index)(z, target)
        loss = {"ce": ce, "dice": dice, "ce_dice": ce + dice}[name]
        loss.backward()
        out[name] = (loss.item(), z.grad.permute(0, 2, 3, 1).numpy())
    return out


def main():
    want = stamp()
    out = out_dir_to_fill("make_segmentation_loss_fixtures", want)
    if out is None:
        return 0
    rng = np.random.default_rng(13)
    cases = {}
    for case, (n, h, w, k, ignore_index, ignored, absent) in CASES.items():
        logits, mask = make_case(rng, n, h, w, k, ignore_index, ignored, absent)
        save_npy(os.path.join(out, f"{case}.logits.npy"), logits)
        save_npy(os.path.join(out, f"{case}.mask.npy"), mask.astype(np.float32))
        values = {}
        for name, (loss, grad) in losses(logits, mask, ignore_index).items():
            save_npy(os.path.join(out, f"{case}.{name}.grad.npy"), grad)
            values[name] = loss
        cases[case] = {"ignore_index": ignore_index, "loss": values}
    save_json(os.path.join(out, "cases.json"), cases)
    save_json(os.path.join(out, "stamp.json"), want)
    print(f"make_segmentation_loss_fixtures: wrote {len(cases)} cases to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

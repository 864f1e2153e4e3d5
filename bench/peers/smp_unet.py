#!/usr/bin/env python3
"""segmentation_models_pytorch's Unet, the peer of resnet.cpp's U-Nets (issue 13 §3). Run with the smp venv's
python (scripts/smp_venv.sh prints it: Debian's torch 1.13 + smp 0.6, pinned).

  smp_unet.py train --data DIR --arch resnet18 --out RUN [--epochs 5 --batch-size 32 --lr 1e-3 --wd 1e-4 ...]
      trains smp.Unet on a folder-seg tree (`resnet dataset export fashion-mnist-scenes DIR`: DIR/{train,test}/
      {images,masks}/*.png, DIR/classes.txt) with the recipe of `resnet train --task segmentation` (AdamW, cosine
      schedule per step, cross-entropy [+ Dice], joint random crop with padding + horizontal flip), evaluates the
      test split after every epoch and writes RUN/metrics.csv (epoch,train_loss,test_loss,test_miou,
      test_pixel_acc,lr,seconds) with the same columns as ours.
  smp_unet.py bench-train --arch resnet34 --size 64 --batch 32 --in-channels 1 --classes 11 --threads 2
      training images/s (one synthetic batch; forward, CE loss, backward, AdamW step), one JSON line.
  smp_unet.py bench-infer --arch resnet34 --size 256 --batch 8 --in-channels 3 --classes 11 --threads 2
      [--onnx FILE]  eager eval-mode images/s, one JSON line; --onnx also exports the model there and its input
      batch beside it (FILE without .onnx + .input.npy), for OpenVINO (bench/peers/onnx_peers.py).

Seeds: torch.manual_seed(seed) before the model is built (smp's own initialisation), the data order and the
augmentation from numpy's default_rng(seed + epoch) — the same policy as ours (a function of seed and epoch),
not the same random numbers.
"""
import argparse
import csv
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import segmentation_models_pytorch as smp


def build(arch, in_channels, classes, depth=5, decoder_channels=(256, 128, 64, 32, 16)):
    return smp.Unet(encoder_name=arch, encoder_weights=None, encoder_depth=depth,
                    decoder_channels=decoder_channels[:depth], in_channels=in_channels, classes=classes)


def read_split(data, split):
    names = sorted(os.listdir(os.path.join(data, split, "images")))
    images, masks = [], []
    for n in names:
        stem = os.path.splitext(n)[0]
        images.append(np.asarray(Image.open(os.path.join(data, split, "images", n)).convert("L"), np.uint8))
        masks.append(np.asarray(Image.open(os.path.join(data, split, "masks", stem + ".png")), np.uint8))
    return np.stack(images), np.stack(masks)


def augment(images, masks, rng, pad, ignore_index):
    """Random crop with `pad` pixels of padding (image 0, mask ignore_index) and a horizontal flip, jointly."""
    n, h, w = images.shape
    pi = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    pm = np.pad(masks, ((0, 0), (pad, pad), (pad, pad)), constant_values=ignore_index)
    out_i, out_m = np.empty_like(images), np.empty_like(masks)
    for k in range(n):
        top, left = rng.integers(0, 2 * pad + 1, size=2)
        ci, cm = pi[k, top:top + h, left:left + w], pm[k, top:top + h, left:left + w]
        if rng.random() < 0.5:
            ci, cm = ci[:, ::-1], cm[:, ::-1]
        out_i[k], out_m[k] = ci, cm
    return out_i, out_m


def to_tensor(images, mean, std):
    x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    return (x - mean) / std


def dice_loss(logits, target, ignore_index):
    return smp.losses.DiceLoss("multiclass", ignore_index=ignore_index)(logits, target)


def evaluate(model, images, masks, mean, std, classes, batch, ignore_index):
    model.eval()
    confusion = torch.zeros(classes, classes, dtype=torch.int64)
    total_loss, pixels = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = to_tensor(images[s:s + batch], mean, std)
            y = torch.from_numpy(masks[s:s + batch].astype(np.int64))
            logits = model(x)
            valid = y != ignore_index
            total_loss += F.cross_entropy(logits, y, ignore_index=ignore_index, reduction="sum").item()
            pixels += int(valid.sum())
            pred = logits.argmax(1)
            idx = y[valid] * classes + pred[valid]
            confusion += torch.bincount(idx, minlength=classes * classes).reshape(classes, classes)
    tp = confusion.diag().double()
    union = confusion.sum(0).double() + confusion.sum(1).double() - tp
    present = union > 0
    miou = (tp[present] / union[present]).mean().item()
    return total_loss / max(pixels, 1), miou, (tp.sum() / confusion.sum()).item()


def train(args):
    torch.set_num_threads(args.threads)
    classes_file = os.path.join(args.data, "classes.txt")
    classes = len(open(classes_file).read().split("\n")) - 1 if os.path.exists(classes_file) else args.classes
    tr_i, tr_m = read_split(args.data, "train")
    te_i, te_m = read_split(args.data, "test")
    if args.subset:
        tr_i, tr_m = tr_i[:args.subset], tr_m[:args.subset]
    if args.test_subset:
        te_i, te_m = te_i[:args.test_subset], te_m[:args.test_subset]
    mean, std = args.mean, args.std
    torch.manual_seed(args.seed)
    model = build(args.arch, 1, classes, args.encoder_depth)
    if args.init_weights:
        state = torch.load(args.init_weights, map_location="cpu")
        missing, unexpected = model.encoder.load_state_dict(
            {k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False)
        print(f"init: encoder from {args.init_weights}; missing {missing}, unexpected {unexpected}", file=sys.stderr)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    steps_per_epoch = math.ceil(len(tr_i) / args.batch_size)
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for epoch in range(args.epochs):
        start = time.time()
        rng = np.random.default_rng(args.seed + epoch)
        order = rng.permutation(len(tr_i))
        model.train()
        losses = []
        for s in range(0, len(order), args.batch_size):
            idx = order[s:s + args.batch_size]
            xi, xm = augment(tr_i[idx], tr_m[idx], rng, args.pad, args.ignore_index)
            x = to_tensor(xi, mean, std)
            y = torch.from_numpy(xm.astype(np.int64))
            logits = model(x)
            loss = F.cross_entropy(logits, y, ignore_index=args.ignore_index)
            if args.loss == "ce+dice":
                loss = loss + dice_loss(logits, y, args.ignore_index)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        test_loss, miou, acc = evaluate(model, te_i, te_m, mean, std, classes, 64, args.ignore_index)
        rows.append([epoch + 1, statistics.mean(losses), test_loss, miou, acc, sched.get_last_lr()[0],
                     time.time() - start])
        print(f"epoch {epoch + 1}/{args.epochs} train loss {rows[-1][1]:.4f} test mIoU {100 * miou:.2f}% "
              f"pixel acc {100 * acc:.2f}% {rows[-1][-1]:.1f} s", file=sys.stderr)
        with open(os.path.join(args.out, "metrics.csv.tmp"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", "train_loss", "test_loss", "test_miou", "test_pixel_acc", "lr", "seconds"])
            w.writerows(rows)
        os.replace(os.path.join(args.out, "metrics.csv.tmp"), os.path.join(args.out, "metrics.csv"))


def timed(step, warmup, iters):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.arch, args.in_channels, args.classes, args.encoder_depth).train()
    x = torch.randn(args.batch, args.in_channels, args.size, args.size)
    y = torch.randint(0, args.classes, (args.batch, args.size, args.size))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    sec = timed(step, args.warmup, args.iters)
    print(json.dumps({"engine": "smp", "torch": torch.__version__, "images_per_sec": args.batch / sec,
                      "ms_per_step": 1000 * sec}))


def bench_infer(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.arch, args.in_channels, args.classes, args.encoder_depth).eval()
    x = torch.randn(args.batch, args.in_channels, args.size, args.size)
    if args.onnx:  # the model and its input for OpenVINO (bench/peers/onnx_peers.py)
        torch.onnx.export(model, x, args.onnx, input_names=["input"], output_names=["logits"], opset_version=13)
        np.save(args.onnx[:-len(".onnx")] + ".input.npy", x.numpy())
    with torch.no_grad():
        sec = timed(lambda: model(x), args.warmup, args.iters)
    print(json.dumps({"engine": "smp-eager", "torch": torch.__version__, "images_per_sec": args.batch / sec,
                      "ms_per_batch": 1000 * sec}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["train", "bench-train", "bench-infer"])
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--encoder-depth", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data")
    p.add_argument("--out")
    p.add_argument("--init-weights", help="a torchvision-named resnet state_dict (.pth) for the encoder")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--wd", type=float, default=1e-4)
    p.add_argument("--loss", choices=["ce", "ce+dice"], default="ce")
    p.add_argument("--pad", type=int, default=4)
    p.add_argument("--ignore-index", type=int, default=255)
    p.add_argument("--mean", type=float, required=False, default=0.0)
    p.add_argument("--std", type=float, required=False, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset", type=int, default=0)
    p.add_argument("--test-subset", type=int, default=0)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--in-channels", type=int, default=1)
    p.add_argument("--classes", type=int, default=11)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--onnx")
    args = p.parse_args()
    {"train": train, "bench-train": bench_train, "bench-infer": bench_infer}[args.mode](args)


if __name__ == "__main__":
    main()

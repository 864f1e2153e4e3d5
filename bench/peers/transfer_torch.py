#!/usr/bin/python3
"""The transfer experiment of scripts/transfer_experiment.sh (issue 12 §2) reproduced in PyTorch, from the same
pretrained file, to tell whether fine-tuning's result is the data's or resnet.cpp's.

Run with Debian's python (/usr/bin/python3: torch 1.13 + torchvision 0.14). The same recipe as `resnet train`:
  model    torchvision resnet18, conv1 a 3x3 stride-1 convolution over 1 channel, max-pool an Identity, fc 5 classes
  data     Fashion-MNIST from /usr/share/datasets/fashion-mnist; training = the first 100 images of each of classes
           5..9 in file order (--per-class), relabelled 0..4 in that order; test = all 5,000 test images of 5..9
  augment  RandomCrop(28, padding=4) + RandomHorizontalFlip; Normalize(0.286, 0.353)
  optim    SGD lr 0.05, momentum 0.9, weight decay 5e-4 on every parameter, batch 50, cosine per step to 0, f32
  init     --init FILE: every tensor of the .safetensors file whose name and shape match (fc is fresh when the file
           has none); --freeze-backbone: only fc trains and the backbone stays in eval mode (a linear probe)
Prints the test accuracy after each epoch and a final JSON line {"run", "seed", "test_acc"}.

  bench/peers/transfer_torch.py --seed 0                                   # (c) from scratch
  bench/peers/transfer_torch.py --seed 0 --init runs/transfer/pretrained-no-fc.safetensors   # (a) fine-tune
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "oracle"))
from safetensors_file import read_safetensors  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.286, 0.353


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def select(images, labels, classes, per_class):
    """Indices of the kept classes in file order, at most per_class each (0 = all); labels relabelled."""
    remap = {c: i for i, c in enumerate(classes)}
    taken = {c: 0 for c in classes}
    keep = []
    for index, label in enumerate(labels):
        label = int(label)
        if label in remap and (per_class == 0 or taken[label] < per_class):
            taken[label] += 1
            keep.append(index)
    x = torch.from_numpy(images[keep].astype(np.float32) / 255.0).unsqueeze(1)  # [N,1,28,28]
    y = torch.tensor([remap[int(labels[i])] for i in keep])
    return (x - MEAN) / STD, y


def augment(x, generator):
    """RandomCrop(28, padding=4) (zero padding of the normalised image's 0 pixel) + horizontal flip, per image."""
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4), value=-MEAN / STD)
    out = torch.empty_like(x)
    offsets = torch.randint(0, 9, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    for i in range(n):
        top, left = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[i, :, top:top + 28, left:left + 28]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def build_model(classes):
    model = torchvision.models.resnet18(num_classes=classes)
    model.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model


def load_init(model, path):
    tensors = read_safetensors(path)
    state = model.state_dict()
    loaded = 0
    for name, value in tensors.items():
        if name in state and tuple(state[name].shape) == tuple(value.shape):
            state[name] = torch.from_numpy(np.array(value)).to(state[name].dtype)
            loaded += 1
    model.load_state_dict(state)
    print(f"init: {loaded} tensors loaded from {path}", flush=True)


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for begin in range(0, x.shape[0], 500):
            correct += (model(x[begin:begin + 500]).argmax(1) == y[begin:begin + 500]).sum().item()
    return correct / x.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", default="")
    parser.add_argument("--freeze-backbone", action="store_true")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    classes = [5, 6, 7, 8, 9]
    train_x, train_y = select(read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz"),
                              classes, args.per_class)
    test_x, test_y = select(read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz"),
                            classes, 0)
    model = build_model(len(classes))
    if args.init:
        load_init(model, args.init)
    params = model.fc.parameters() if args.freeze_backbone else model.parameters()
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = (train_x.shape[0] + args.batch - 1) // args.batch
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(args.seed)
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        if args.freeze_backbone:
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        order = torch.randperm(train_x.shape[0], generator=generator)
        for begin in range(0, train_x.shape[0], args.batch):
            batch = order[begin:begin + args.batch]
            loss = F.cross_entropy(model(augment(train_x[batch], generator)), train_y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        accuracy = evaluate(model, test_x, test_y)
        print(f"epoch {epoch}: test accuracy {100 * accuracy:.2f}%", flush=True)
    print(json.dumps({"run": args.name, "seed": args.seed, "test_acc": accuracy}), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch training-step throughput, the peer of `resnet bench --train`: same model, batch, image size, channels,
classes and thread count, one fixed synthetic batch (seeded standard-normal images, uniform random labels).

Run with Debian's python (/usr/bin/python3: torch 1.13 + torchvision 0.14), or with the peers' venv
(bench/peers/.venv/bin/python: the newest PyTorch 2.x, setup_venv.sh). --compile (PyTorch 2 only): the model's
forward through torch.compile (inductor; AOTAutograd compiles the backward too), compiled by the warm-up steps
(at least 1), which are not timed. One step, timed as a whole:
  zero_grad(set_to_none=True) -> forward (train mode, channels_last) -> F.cross_entropy -> backward -> SGD step
(SGD lr 0.01, momentum 0.9, weight decay 5e-4, as `resnet bench --train`). --precision bf16 runs the forward and
the loss under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's CPU mixed precision (for reference).
Prints one JSON object with the keys of `resnet bench --train --json`: images_per_sec and ms_per_step from the
median step time, cpu_ms_per_step (process CPU time, all threads, over the timed steps) and peak_rss_mib (the
process's getrusage ru_maxrss, so it includes the Python interpreter and torch's libraries).

  bench/peers/pytorch_train.py --arch resnet20 --batch 128 --size 28 --in-channels 1 --threads 2 --iters 10
  bench/peers/pytorch_train.py --arch resnet18 --stem cifar --batch 128 --size 28 --threads 2
  bench/peers/pytorch_train.py --arch resnet50 --batch 32 --size 224 --threads 2 --iters 5
  bench/peers/.venv/bin/python bench/peers/pytorch_train.py --arch resnet20 --batch 128 --size 28 --compile

Models: torchvision's resnet18 ... wide_resnet101_2 (--stem cifar: conv1 becomes a 3x3 stride-1 convolution and
the max-pool an Identity; --in-channels replaces conv1's input channels), and the CIFAR networks of He et al. 2015
§4.2 (resnet20/32/44/56/110/1202) written out below: 16/32/64 channels, 3 stages of n BasicBlocks, option-A
shortcut (x[:, :, ::2, ::2] then zero channels), no parameters in the shortcut.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

CIFAR_DEPTHS = {"resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56, "resnet110": 110,
                "resnet1202": 1202}
# He et al.'s parameter counts for 3 input channels and 10 classes (issue 3).
CIFAR_PARAMS = {"resnet20": 269722, "resnet32": 464154, "resnet44": 658586, "resnet56": 853018,
                "resnet110": 1727962, "resnet1202": 19421274}


class CifarBlock(nn.Module):
    """BasicBlock with the option-A shortcut: subsample by the stride, zero-pad the new channels (half each side)."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.pad = planes - inplanes

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.pad:
            shortcut = x[:, :, ::self.stride, ::self.stride]
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    def __init__(self, depth, in_channels, num_classes):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, inplanes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(CifarBlock(inplanes, planes, stride if i == 0 else 1))
                inplanes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(arch, stem, in_channels, num_classes):
    if arch in CIFAR_DEPTHS:
        if stem == "imagenet":
            sys.exit(f"pytorch_train.py: error: --stem imagenet: {arch} is a CIFAR network (3x3 stem only)")
        return CifarResNet(CIFAR_DEPTHS[arch], in_channels, num_classes or 10)
    model = getattr(torchvision.models, arch)(num_classes=num_classes or 1000)
    if stem == "cifar":
        model.conv1 = nn.Conv2d(in_channels, model.conv1.out_channels, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, model.conv1.out_channels, 7, 2, 3, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--num-classes", type=int, default=0, help="0: 1000, or 10 for the CIFAR networks")
    p.add_argument("--stem", choices=["imagenet", "cifar"], help="default: the architecture's own")
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--compile", action="store_true", help="torch.compile (inductor); PyTorch 2 only")
    args = p.parse_args()
    if args.batch < 2 or args.iters < 1 or args.warmup < 0 or args.size < 1 or args.in_channels < 1:
        p.error("--batch >= 2, --iters >= 1, --warmup >= 0, --size >= 1, --in-channels >= 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.arch, args.stem, args.in_channels, args.num_classes)
    params = sum(t.numel() for t in model.parameters())
    num_classes = model.fc.out_features
    if args.arch in CIFAR_PARAMS and args.in_channels == 3 and num_classes == 10:
        assert params == CIFAR_PARAMS[args.arch], f"{args.arch}: {params} parameters, He et al. have " \
                                                 f"{CIFAR_PARAMS[args.arch]}"
    model = model.train().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    if args.compile:
        if not hasattr(torch, "compile"):
            sys.exit(f"pytorch_train.py: error: --compile needs PyTorch 2 (this is {torch.__version__})")
        model = torch.compile(model, backend="inductor")
        args.warmup = max(args.warmup, 1)
    x = torch.randn(args.batch, args.in_channels, args.size, args.size).contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (args.batch,))
    loss = None

    def step():
        nonlocal loss
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    times = []
    cpu_start = time.process_time()
    for _ in range(args.iters):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000.0)
    cpu_ms = (time.process_time() - cpu_start) * 1000.0 / args.iters
    ms = statistics.median(times)
    print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "compile": args.compile, "mode": "train",
                      "arch": args.arch,
                      "stem": args.stem or ("cifar" if args.arch in CIFAR_DEPTHS else "imagenet"),
                      "batch": args.batch, "size": args.size, "in_channels": args.in_channels,
                      "num_classes": num_classes, "precision": args.precision, "threads": args.threads,
                      "warmup": args.warmup, "iters": args.iters, "params": params,
                      "images_per_sec": args.batch * 1000.0 / ms, "ms_per_step": ms, "min_ms_per_step": min(times),
                      "cpu_ms_per_step": cpu_ms,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "final_loss": float(loss)}))


if __name__ == "__main__":
    main()

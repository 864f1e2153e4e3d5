#!/usr/bin/python3
"""PyTorch DistributedDataParallel (gloo, Debian's torch 1.13) on the setup of scripts/bench_distributed.sh: the
anchor for `mpirun -np 2 resnet train`. 2 processes x 1 thread on this machine, the global batch split evenly,
one fixed synthetic batch per rank (seeded normal images, random labels), SGD lr 0.01 momentum 0.9 wd 5e-4,
channels_last; DDP's default 25 MB buckets. Prints one line: images/s of the global batch (median step time).

  bench/peers/pytorch_ddp.py --arch resnet18 --stem cifar --batch-size 64 --steps 12
  bench/peers/pytorch_ddp.py --arch resnet50 --batch-size 32 --image-size 64 --steps 12
"""
import argparse
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torchvision


def model_for(args):
    m = getattr(torchvision.models, args.arch)(num_classes=10)
    if args.stem == "cifar":
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
    return m.to(memory_format=torch.channels_last)


def rank_main(rank, args, ranks, times):
    torch.set_num_threads(1)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(model_for(args))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(rank)
    per_rank = args.batch_size // ranks
    x = torch.randn(per_rank, 3, args.image_size, args.image_size, generator=g).to(
        memory_format=torch.channels_last)
    y = torch.randint(0, 10, (per_rank,), generator=g)
    steps = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if i > 0:
            steps.append(time.perf_counter() - t0)
    if rank == 0:
        times.extend(steps)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--stem", default="")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--ranks", type=int, default=2)
    args = p.parse_args()
    with mp.Manager() as manager:
        times = manager.list()
        mp.spawn(rank_main, args=(args, args.ranks, times), nprocs=args.ranks)
        median = statistics.median(list(times))
    print(f"pytorch ddp: ranks {args.ranks} threads 1 steps {args.steps - 1} images/s "
          f"{args.batch_size / median:.1f} step_ms {1e3 * median:.2f}")


if __name__ == "__main__":
    main()

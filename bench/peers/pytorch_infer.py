#!/usr/bin/python3
"""PyTorch eager inference throughput, the peer of `resnet bench`: same model, batch, size and thread count.

Run with Debian's python (/usr/bin/python3: torch + torchvision). Prints one JSON object like `resnet bench --json`.
  bench/peers/pytorch_infer.py --arch resnet50 --batch 32 --size 224 --threads 2 --iters 10
"""
import argparse
import json
import statistics
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.arch)().eval().to(memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, args.size, args.size).to(memory_format=torch.channels_last)

    def run():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            model(x)

    for _ in range(args.warmup):
        run()
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    p50 = statistics.median(times)
    print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "arch": args.arch, "batch": args.batch,
                      "size": args.size, "dtype": args.dtype, "threads": args.threads,
                      "images_per_sec": args.batch * 1000.0 / p50, "ms_per_batch": p50}))


if __name__ == "__main__":
    main()

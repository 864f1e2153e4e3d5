#!/usr/bin/python3
"""PyTorch eager inference throughput, the peer of `resnet bench`: same model, batch, size and thread count.

Run with Debian's python (/usr/bin/python3: torch 1.13 + torchvision), or with the peers' venv
(bench/peers/.venv/bin/python: the newest PyTorch 2.x, setup_venv.sh) for PyTorch 2. --compile (PyTorch 2 only):
torch.compile with the inductor backend and freezing (torch._inductor.config.freezing: weights folded in as
constants, conv+BN folded, oneDNN weight prepacking), compiled by the warm-up runs, which are not timed.
Prints one JSON object like `resnet bench --json`:
images_per_sec and ms_per_batch from the median batch time (p50_ms; p99_ms beside it), and cpu_ms_per_batch, the
process CPU time (user + system, all threads) per batch over the timed loop, which the machine's load does not
inflate the way it inflates wall time.
  bench/peers/pytorch_infer.py --arch resnet50 --batch 32 --size 224 --threads 2 --iters 10
  bench/peers/pytorch_infer.py --arch resnet50 --weights W.pth --input-npy X.npy --output-npy Y.npy --dtype bf16
  bench/peers/.venv/bin/python bench/peers/pytorch_infer.py --arch resnet50 --batch 32 --compile
Without --weights: torchvision's initialisation seeded with 0; without --input-npy: a seeded random batch.
--output-npy writes the float32 logits of the first (untimed) run.
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch

from torch_eval_model import eval_model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    p.add_argument("--weights", help="torchvision state_dict (.pth)")
    p.add_argument("--input-npy", help="float32 NCHW batch (sets --batch and --size)")
    p.add_argument("--output-npy", help="write the logits of the input batch here")
    p.add_argument("--compile", action="store_true", help="torch.compile (inductor, freezing); PyTorch 2 only")
    args = p.parse_args()

    model = eval_model(args.arch, args.weights, args.threads)
    if args.compile:
        if not hasattr(torch, "compile"):
            sys.exit(f"pytorch_infer.py: error: --compile needs PyTorch 2 (this is {torch.__version__})")
        import torch._inductor.config as inductor_config
        inductor_config.freezing = True
        model = torch.compile(model, backend="inductor")
    if args.input_npy:
        x = torch.from_numpy(np.load(args.input_npy).astype(np.float32))
        args.batch, args.size = x.shape[0], x.shape[2]
    else:
        x = torch.randn(args.batch, 3, args.size, args.size)
    x = x.contiguous(memory_format=torch.channels_last)

    def run():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            return model(x)

    for i in range(max(args.warmup, 1)):
        y = run()
        if i == 0 and args.output_npy:
            np.save(args.output_npy, y.float().numpy())
    times = []
    cpu_start = time.process_time()
    for _ in range(args.iters):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    cpu_ms = (time.process_time() - cpu_start) * 1000.0 / args.iters
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "compile": args.compile,
                      "arch": args.arch, "batch": args.batch,
                      "size": args.size, "dtype": args.dtype, "threads": args.threads, "iters": args.iters,
                      "images_per_sec": args.batch * 1000.0 / p50, "ms_per_batch": p50, "p50_ms": p50,
                      "p99_ms": p99, "cpu_ms_per_batch": cpu_ms}))


if __name__ == "__main__":
    main()

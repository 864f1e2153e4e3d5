#!/usr/bin/python3
"""Per-call overhead of the Python layer: a compiled plan called from Python (NCHW NumPy in, NumPy logits out)
against `resnet bench` timing the same plan in C++ (same arch, batch, size, dtype and threads), in interleaved
rounds so that both see the same machine load. Each round: one `resnet bench --json` process (its median of
--iters calls), then --iters calls from Python (their median). Reports the median over rounds of each and the
overhead (python / C++ - 1; the bar in docs/BENCHMARKS.md is 3%), in wall time and in the process's CPU time per
call (the steadier one on a shared machine).

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/python/overhead.py --resnet build/resnet
         [--arch resnet18] [--batch 1] [--size 224] [--dtype f32] [--threads 2] [--rounds 7] [--iters 50]
"""
import argparse
import json
import statistics
import subprocess
import time

import numpy as np

import resnet_cpp as rc


def cpp_round(args):
    cmd = [args.resnet, "bench", "--arch", args.arch, "--batch", str(args.batch), "--size", str(args.size),
           "--dtype", args.dtype, "--threads", str(args.threads), "--iters", str(args.iters), "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["p50_ms"], result["cpu_ms_per_batch"]


def python_round(fast, x, iters):
    """Median wall ms per call, and the process's CPU ms per call (all threads, as `resnet bench` counts it)."""
    times = []
    cpu_start = time.process_time()
    for _ in range(iters):
        start = time.perf_counter()
        fast(x)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), (time.process_time() - cpu_start) * 1e3 / iters


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resnet", required=True, help="the resnet tool of the same build")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--dtype", default="f32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--iters", type=int, default=50)
    args = p.parse_args()

    rc.set_num_threads(args.threads)
    model = getattr(rc.models, args.arch)().eval()  # `resnet bench` also runs torchvision's initialisation
    x = np.random.default_rng(1).standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    calibration = {"calibration": x} if args.dtype == "int8" else {}
    fast = model.compile(args.dtype, batch=args.batch, size=args.size, **calibration)
    for _ in range(5):
        fast(x)
    cpp, py = [], []
    for r in range(args.rounds):
        cpp.append(cpp_round(args))
        py.append(python_round(fast, x, args.iters))
        print(f"round {r + 1}: C++ {cpp[-1][0]:.3f} ms (CPU {cpp[-1][1]:.3f} ms), "
              f"Python {py[-1][0]:.3f} ms (CPU {py[-1][1]:.3f} ms)", flush=True)
    c, q = statistics.median(t for t, _ in cpp), statistics.median(t for t, _ in py)
    c_cpu, q_cpu = statistics.median(u for _, u in cpp), statistics.median(u for _, u in py)
    # The CPU time per call is the steadier figure on a shared machine (wall time includes waiting for a core).
    print(json.dumps({"arch": args.arch, "batch": args.batch, "size": args.size, "dtype": args.dtype,
                      "threads": args.threads, "rounds": args.rounds, "iters": args.iters,
                      "cpp_ms": round(c, 3), "python_ms": round(q, 3),
                      "overhead_percent": round(100 * (q / c - 1), 2),
                      "cpp_cpu_ms": round(c_cpu, 3), "python_cpu_ms": round(q_cpu, 3),
                      "cpu_overhead_percent": round(100 * (q_cpu / c_cpu - 1), 2),
                      # Each round's own ratio, then their median: slow drifts of the machine cancel out.
                      "paired_overhead_percent": round(100 * (statistics.median(p[0] / c[0] for c, p in zip(cpp, py)) - 1), 2),
                      "paired_cpu_overhead_percent": round(
                          100 * (statistics.median(p[1] / c[1] for c, p in zip(cpp, py)) - 1), 2)}))


if __name__ == "__main__":
    main()

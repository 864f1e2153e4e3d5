#!/usr/bin/python3
"""The on-paper scaling of data-parallel resnet50 beyond one machine (docs/BENCHMARKS.md "Distributed
training"), from a measured per-image compute time: ring all-reduce time 2(N-1)/N * gradient bytes / bandwidth
at 10, 25 and 100 Gb/s for N = 2..128 ranks, the predicted scaling efficiency at a per-rank batch, and the
per-rank batch below which the all-reduce takes longer than the step's compute.

  scripts/ring_allreduce_table.py --ms-per-image 40 --batch-per-rank 32 [--params 25.6e6] [--hidden 0.0]

--hidden: the share of the all-reduce overlapped by backward (0 = none, the conservative column; the measured
share on loopback is in the benchmarks). Efficiency = compute / (compute + all-reduce not hidden).
Loopback check: --check-bytes B --check-seconds S --ranks N prints the bandwidth the measurement implies.
"""
import argparse


def ring_seconds(n, gradient_bytes, bits_per_second):
    return 2 * (n - 1) / n * gradient_bytes * 8 / bits_per_second


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ms-per-image", type=float, required=True, help="measured compute per image, one rank")
    p.add_argument("--batch-per-rank", type=int, default=32)
    p.add_argument("--params", type=float, default=25.6e6)
    p.add_argument("--hidden", type=float, default=0.0)
    args = p.parse_args()
    gradient_bytes = 4 * args.params
    compute = args.batch_per_rank * args.ms_per_image / 1e3
    speeds = [10e9, 25e9, 100e9]
    print(f"resnet50, {args.params / 1e6:.1f}M f32 gradients ({gradient_bytes / 1e6:.1f} MB), "
          f"{args.batch_per_rank} images per rank, compute {1e3 * compute:.0f} ms per step "
          f"({args.ms_per_image:.1f} ms per image), {100 * args.hidden:.0f}% of the all-reduce hidden\n")
    print("| N | " + " | ".join(f"all-reduce @ {s / 1e9:.0f} Gb/s" for s in speeds) + " | " +
          " | ".join(f"efficiency @ {s / 1e9:.0f} Gb/s" for s in speeds) + " |")
    print("|---" * (1 + 2 * len(speeds)) + "|")
    for n in [2, 4, 8, 16, 32, 64, 128]:
        t = [ring_seconds(n, gradient_bytes, s) for s in speeds]
        eff = [compute / (compute + (1 - args.hidden) * x) for x in t]
        print(f"| {n} | " + " | ".join(f"{1e3 * x:.0f} ms" for x in t) + " | " +
              " | ".join(f"{100 * e:.0f}%" for e in eff) + " |")
    print("\nper-rank batch below which the all-reduce (N = 128) takes longer than the compute:")
    for s in speeds:
        t = ring_seconds(128, gradient_bytes, s)
        print(f"  {s / 1e9:.0f} Gb/s: {t * 1e3 / args.ms_per_image:.1f} images")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""resnet.cpp side by side with PyTorch eager, ONNX Runtime and OpenVINO: one markdown table.

  make bench-peers                      # = bench/peers/run_peers.sh build
  ROUNDS=3 ARCHS="resnet18 resnet50" BATCHES="1 32" THREADS=2 bench/peers/run_peers.sh build

Run with /usr/bin/python3 (Debian's torch 1.13, numpy); the newest PyTorch 2.x (eager, and torch.compile with
inductor and freezing), ONNX Runtime and OpenVINO run in bench/peers/.venv (made by setup_venv.sh, every version
pinned in requirements.txt), each measurement in its own process. The table names the CPU (cpu_info.py: lscpu's
model name and the avx512_bf16 / avx512_vnni / amx flags) and the version of every engine. Every engine gets the same weights (WORK/{arch}.pth and its
ONNX export), the same input batch (WORK/input_b{B}.npy), the same thread count, the same warm-up and iterations.
Each round runs every (arch, batch, engine, precision) once, in a rotated order, and the table shows the median of the
rounds. In the first round every engine also writes its logits of the batch, which are compared with PyTorch f32's:
max |difference| and top-1 agreement. Last column: resnet.cpp images/s over the best peer's, per precision.
Environment: ROUNDS (3), THREADS (2), ARCHS, BATCHES, ITERS_B1 (20), ITERS (3, batches > 1), ENGINES (all),
OMP_WAIT_POLICY (unset: every engine's own wait, as users run them -- OpenMP and ONNX Runtime spin a little before
sleeping, as OpenVINO's TBB threads do; passive on a machine shared with other work, and ONNX Runtime's spinning is
switched off with it). Raw results: WORK/results.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from cpu_info import cpu_line

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_PY = os.path.join(HERE, ".venv", "bin", "python")
# (engine, precision) in table order; the peers of each precision are every engine but resnet.cpp's.
# resnet.cpp-direct: the f32 plan with oneDNN's direct 3x3 convolutions instead of Winograd (--no-winograd).
# pytorch: Debian's 1.13 (eager); pytorch2: the venv's newest PyTorch 2.x, eager; pytorch2-compile: the same with
# torch.compile (inductor, freezing).
CONFIGS = [("pytorch", "f32"), ("pytorch2", "f32"), ("pytorch2-compile", "f32"), ("onnxruntime", "f32"),
           ("openvino", "f32"), ("resnet.cpp", "f32"), ("resnet.cpp-direct", "f32"),
           ("pytorch", "bf16"), ("pytorch2", "bf16"), ("pytorch2-compile", "bf16"), ("openvino", "bf16"),
           ("resnet.cpp", "bf16"),
           ("onnxruntime", "int8"), ("openvino", "int8"), ("resnet.cpp", "int8")]
PRECISION_NOTE = {
    ("pytorch", "f32"): "Debian 1.13, eager, channels_last",
    ("pytorch", "bf16"): "Debian 1.13, autocast bf16, channels_last",
    ("pytorch2", "f32"): "eager, channels_last",
    ("pytorch2", "bf16"): "eager, autocast bf16, channels_last",
    ("pytorch2-compile", "f32"): "torch.compile inductor, freezing",
    ("pytorch2-compile", "bf16"): "torch.compile inductor, freezing, autocast bf16",
    ("onnxruntime", "f32"): "CPU EP",
    ("onnxruntime", "int8"): "quantize_static QDQ, per-channel",
    ("openvino", "f32"): "CPU, f32 hint",
    ("openvino", "bf16"): "CPU, bf16 hint",
    ("openvino", "int8"): "NNCF quantize",
    ("resnet.cpp", "f32"): "plan, Winograd 3x3",
    ("resnet.cpp-direct", "f32"): "plan, --no-winograd",
    ("resnet.cpp", "bf16"): "plan",
    ("resnet.cpp", "int8"): "plan",
}


class Unavailable(Exception):
    """An engine/precision that cannot run here; the message is the reason shown in the table."""


def last_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else ""


def run_json(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise Unavailable(last_line(proc.stderr) or f"exit {proc.returncode}")
    return json.loads(last_line(proc.stdout))


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        self.resnet = os.path.join(args.build, "resnet")
        self.int8_weights = {}  # arch -> .int8.safetensors path, or Unavailable

    def path(self, name):
        return os.path.join(self.work, name)

    def resnet_int8_weights(self, arch):
        """resnet.cpp int8 needs calibrated activation scales: `resnet quantize` on our calibration images."""
        if arch in self.int8_weights:
            return self.int8_weights[arch]
        help_text = subprocess.run([self.resnet, "quantize", "--help"], capture_output=True, text=True)
        out = self.path(f"{arch}.int8.safetensors")
        result = Unavailable("`resnet quantize` takes no .npy calibration batch (--calib-npy)")
        if help_text.returncode != 0:
            result = Unavailable("no `resnet quantize`")
        elif "--calib-npy" in help_text.stdout:
            # Made again when the binary is newer: a newer quantizer may calibrate more (e.g. the pool's scale).
            if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(self.resnet):
                cmd = [self.resnet, "quantize", "--arch", arch, "--weights", self.path(f"{arch}.pth"),
                       "--calib-npy", self.path("calib.npy"), "--out", out, "--threads", str(self.args.threads)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    result = Unavailable(f"resnet quantize: {last_line(proc.stderr)}")
            if os.path.exists(out):
                result = out
        self.int8_weights[arch] = result
        return result

    def command(self, engine, precision, arch, batch, iters, warmup, output):
        a = self.args
        x = self.path(f"input_b{batch}.npy")
        if engine in ("pytorch", "pytorch2", "pytorch2-compile"):
            if precision == "int8":
                raise Unavailable("not measured")
            python = sys.executable if engine == "pytorch" else VENV_PY
            cmd = [python, os.path.join(HERE, "pytorch_infer.py"), "--arch", arch, "--weights",
                   self.path(f"{arch}.pth"), "--input-npy", x, "--dtype", precision]
            if engine == "pytorch2-compile":
                cmd.append("--compile")
        elif engine in ("onnxruntime", "openvino"):
            cmd = [VENV_PY, os.path.join(HERE, "onnx_peers.py"), "--engine", "ort" if engine == "onnxruntime" else "ov",
                   "--precision", precision, "--onnx", self.path(f"{arch}.onnx"), "--input-npy", x,
                   "--calib-npy", self.path("calib.npy")]
        else:
            weights = self.path(f"{arch}.pth")
            if precision == "int8":
                q = self.resnet_int8_weights(arch)
                weights = q if isinstance(q, str) else weights  # bench calibrates itself without scales
            direct = ["--no-winograd"] if engine == "resnet.cpp-direct" else []
            cmd = [self.resnet, "bench", "--arch", arch, "--weights", weights, "--batch", str(batch), "--size",
                   str(a.size), "--dtype", precision, "--json"] + direct
            if output:
                if precision == "int8" and not isinstance(self.resnet_int8_weights(arch), str):
                    raise Unavailable(f"no output check: {self.resnet_int8_weights(arch)}")
                proc = subprocess.run([self.resnet, "infer", "--arch", arch, "--weights", weights, "--input-npy", x,
                                       "--output-npy", output, "--dtype", precision, "--threads", str(a.threads)]
                                      + direct,
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    raise Unavailable(f"resnet infer: {last_line(proc.stderr)}")
            output = None
        cmd += ["--threads", str(a.threads), "--iters", str(iters), "--warmup", str(warmup)]
        if output:
            cmd += ["--output-npy", output]
        return cmd

    def measure(self, engine, precision, arch, batch, check):
        iters = self.args.iters_b1 if batch == 1 else self.args.iters
        warmup = 3 if batch == 1 else 1
        output = self.path(f"out_{engine}_{precision}_{arch}_b{batch}.npy") if check else None
        if output and os.path.exists(output):
            os.remove(output)
        check_error = None
        try:
            cmd = self.command(engine, precision, arch, batch, iters, warmup, output)
        except Unavailable as e:
            if not engine.startswith("resnet.cpp") or "no output check" not in str(e):
                raise
            check_error = str(e)  # resnet.cpp int8 without a quantized file: time it, but say why unchecked
            cmd = self.command(engine, precision, arch, batch, iters, warmup, None)
        result = run_json(cmd)
        if check:
            result["check"] = self.compare(arch, batch, output) if check_error is None else check_error
        return result

    def compare(self, arch, batch, output):
        if not output or not os.path.exists(output):
            return "no output"
        ref = np.load(self.path(f"ref_{arch}_b{batch}.npy"))
        got = np.load(output).reshape(ref.shape)
        return {"max_abs_diff": float(np.abs(got - ref).max()),
                "top1_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
                "ref_max_abs": float(np.abs(ref).max())}


def fmt_num(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", required=True, help="the build folder with the resnet binary")
    p.add_argument("--work", required=True, help="prepare.py's folder")
    p.add_argument("--archs", nargs="+", default=["resnet18", "resnet50"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=3, help="timed batches for batch > 1")
    p.add_argument("--iters-b1", type=int, default=20, help="timed batches for batch 1")
    p.add_argument("--engines", nargs="+",
                   default=["pytorch", "pytorch2", "pytorch2-compile", "onnxruntime", "openvino", "resnet.cpp",
                            "resnet.cpp-direct"])
    args = p.parse_args()
    bench = Bench(args)

    configs = [c for c in CONFIGS if c[0] in args.engines]
    cases = [(arch, batch, e, pr) for arch in args.archs for batch in args.batches for e, pr in configs]
    runs = {case: [] for case in cases}
    failed = {}
    loads = [open("/proc/loadavg").read().split()[:3]]
    started = time.time()
    print(f"bench-peers: {args.rounds} rounds, {args.threads} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset (each engine default)')}, load {' '.join(loads[0])}", file=sys.stderr)
    for r in range(args.rounds):
        # Rotate the order of the engines every round so that none always runs first (or after the same one).
        order = cases[r % len(cases):] + cases[:r % len(cases)] if r else cases
        for case in order:
            if case in failed:
                continue
            arch, batch, engine, precision = case
            try:
                res = bench.measure(engine, precision, arch, batch, check=(r == 0))
            except (Unavailable, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                failed[case] = str(e) or type(e).__name__
                print(f"  {arch} b{batch} {engine} {precision}: n/a ({failed[case]})", file=sys.stderr)
                continue
            res["load1"] = float(open("/proc/loadavg").read().split()[0])
            runs[case].append(res)
            print(f"  round {r + 1} {arch} b{batch} {engine} {precision}: {res['images_per_sec']:.2f} img/s, "
                  f"p50 {res['p50_ms']:.1f} ms, load {res['load1']:.2f}", file=sys.stderr)
        loads.append(open("/proc/loadavg").read().split()[:3])
        with open(bench.path("results.json"), "w") as f:  # after every round: a long run keeps what it measured
            json.dump({"args": vars(args), "rounds_done": r + 1, "loads": loads,
                       "failed": {" ".join(map(str, k)): v for k, v in failed.items()},
                       "runs": {" ".join(map(str, k)): v for k, v in runs.items()}}, f, indent=1)

    def median(case, key):
        vals = [r[key] for r in runs[case] if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    minutes = (time.time() - started) / 60.0
    print(cpu_line())
    versions = {}
    for case, rs in runs.items():
        for r in rs[:1]:
            for key in ("torch", "onnxruntime", "openvino"):
                if key in r:
                    versions.setdefault(case[2], f"{key} {r[key]}")
    if versions:
        print("Versions: " + "; ".join(f"{e}: {v}" for e, v in sorted(versions.items())))
    print(f"{args.threads} threads, {args.size}x{args.size}, medians of {args.rounds} interleaved rounds "
          f"(batch 1: {args.iters_b1} timed passes each, larger batches: {args.iters}),\nOMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset (each engine default)')}; load average {' '.join(loads[0])} before, "
          f"{' '.join(loads[-1])} after ({minutes:.0f} min)\n")
    print("| arch | batch | precision | engine | images/s | p50 ms | p99 ms | CPU ms/batch | max\\|Δ\\| vs torch f32 "
          "| top-1 agreement | resnet.cpp / best peer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for arch in args.archs:
        for batch in args.batches:
            for engine, precision in configs:
                case = (arch, batch, engine, precision)
                name = f"{engine} ({PRECISION_NOTE[(engine, precision)]})"
                if case in failed:
                    print(f"| {arch} | {batch} | {precision} | {name} | n/a ({failed[case]}) | | | | | | |")
                    continue
                ips, p50, p99, cpu = (median(case, k) for k in ("images_per_sec", "p50_ms", "p99_ms",
                                                                 "cpu_ms_per_batch"))
                check = runs[case][0].get("check") if runs[case] else None
                if isinstance(check, dict):
                    diff, agree = f"{check['max_abs_diff']:.2e}", f"{100 * check['top1_agreement']:.1f}%"
                else:
                    diff, agree = f"n/a ({check})", ""
                ratio = ""
                if engine.startswith("resnet.cpp"):
                    peers = [(median(c, "images_per_sec"), c[2]) for c in cases
                             if c[0] == arch and c[1] == batch and c[3] == precision
                             and not c[2].startswith("resnet.cpp")
                             and c not in failed and runs[c]]
                    if peers and ips:
                        best, who = max(peers)
                        ratio = f"**{ips / best:.2f}×** ({who})"
                print(f"| {arch} | {batch} | {precision} | {name} | {fmt_num(ips)} | {fmt_num(p50, 1)} | "
                      f"{fmt_num(p99, 1)} | {fmt_num(cpu, 0)} | {diff} | {agree} | {ratio} |")
    refs = {arch: float(np.abs(np.load(bench.path(f"ref_{arch}_b{max(args.batches)}.npy"))).max())
            for arch in args.archs}
    print("\nLogit scale (max |PyTorch f32 logit|): " + ", ".join(f"{a} {v:.2f}" for a, v in refs.items()))
    info = []
    for case, rs in runs.items():
        if rs and case[2] == "openvino":
            info.append(f"{case[0]} b{case[1]} openvino {case[3]}: inference_precision {rs[0]['inference_precision']}, "
                        f"convolutions {rs[0]['conv_runtime']}")
    if info:
        print("\nWhat OpenVINO reports it ran:\n" + "\n".join("- " + line for line in info))


if __name__ == "__main__":
    main()

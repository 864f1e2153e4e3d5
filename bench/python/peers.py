#!/usr/bin/python3
"""resnet50 (or --arch) batch 32 f32 from Python: resnet_cpp's compiled plan against ONNX Runtime's and OpenVINO's
Python APIs on the same weights, given as an ONNX file (`resnet export`, issue 15 part 2). Without --onnx, or when
a runtime is not installed, that peer is skipped and the script says so. Each engine runs with --threads
threads; in each of --rounds interleaved rounds every engine makes --iters timed calls (after warm-up), and its
figure is the median over rounds of its round medians.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/python/peers.py [--onnx resnet50.onnx]
         [--weights resnet50.safetensors] [--arch resnet50] [--batch 32] [--size 224] [--threads 2] [--rounds 5] [--iters 5]
The ONNX file must hold the same weights as --weights (or, without --weights, timing only: any weights).
"""
import argparse
import json
import os
import statistics
import time

# The engines share the process and take turns: no engine's idle threads may spin while another runs
# (docs/BENCHMARKS.md, "Fairness choices"). libgomp reads this when resnet_cpp loads it.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402

import resnet_cpp as rc  # noqa: E402


def median_ms(run, x, warmup, iters):
    for _ in range(warmup):
        run(x)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def onnxruntime_runner(path, threads):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def openvino_runner(path, threads):
    import openvino as ov

    core = ov.Core()
    # As bench/peers/onnx_peers.py: one stream, latency hint, threads not pinned (no other engine pins them).
    config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
              "ENABLE_CPU_PINNING": False, "INFERENCE_PRECISION_HINT": "f32"}
    compiled = core.compile_model(path, "CPU", config)
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})[compiled.output(0)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--onnx", help="an ONNX export of the same model; without it the peers are skipped")
    p.add_argument("--weights", help="the model's .pth/.safetensors (default: torchvision's initialisation)")
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=5, help="timed calls per engine per round")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median of the round medians)")
    args = p.parse_args()

    rc.set_num_threads(args.threads)
    model = getattr(rc.models, args.arch)(weights=args.weights).eval()
    x = np.random.default_rng(1).standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    fast = model.compile("f32", batch=args.batch, size=args.size)
    reference = fast(x)
    runners = {"resnet_cpp": fast}
    peers = {"onnxruntime": onnxruntime_runner, "openvino": openvino_runner}
    for name, make in peers.items():
        if not args.onnx:
            print(f"{name}: skipped (no --onnx file given)")
            continue
        try:
            run = make(args.onnx, args.threads)
        except ImportError as e:
            print(f"{name}: skipped (not installed: {e})")
            continue
        if args.weights:
            err = float(np.abs(run(x) - reference).max())
            print(f"{name}: max |logits - resnet_cpp| = {err:.3g}")
        runners[name] = run
    # Interleaved rounds: each round times every engine in turn (after its warm-up in the first round), so
    # that all see the same machine; the figure of an engine is the median over rounds of its round medians.
    rounds = {name: [] for name in runners}
    for r in range(args.rounds):
        for name, run in runners.items():
            rounds[name].append(median_ms(run, x, 2 if r == 0 else 0, args.iters))
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.1f} ms" for n, v in rounds.items()), flush=True)
    results = {name: statistics.median(v) for name, v in rounds.items()}
    for name, ms in results.items():
        ratio = "" if name == "resnet_cpp" else f" (its time / resnet_cpp's: {ms / results['resnet_cpp']:.2f}x)"
        print(f"{name}: {ms:.1f} ms/batch, {1000 * args.batch / ms:.1f} images/s{ratio}")
    print(json.dumps({"arch": args.arch, "batch": args.batch, "size": args.size, "threads": args.threads,
                      "rounds": args.rounds, "iters": args.iters,
                      "ms_per_batch": {k: round(v, 2) for k, v in results.items()}}))

if __name__ == "__main__":
    main()

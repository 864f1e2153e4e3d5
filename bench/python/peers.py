#!/usr/bin/python3
"""resnet50 (or --arch) batch 32 f32 from Python: resnet_cpp's compiled plan against ONNX Runtime's and OpenVINO's
Python APIs on the same weights, given as an ONNX file (`resnet export`, issue 15 part 2). Without --onnx, or when
a runtime is not installed, that peer is skipped and the script says so. Times are the median of --iters calls
after warm-up, each runtime with --threads threads.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/python/peers.py [--onnx resnet50.onnx]
         [--weights resnet50.safetensors] [--arch resnet50] [--batch 32] [--size 224] [--threads 2] [--iters 10]
The ONNX file must hold the same weights as --weights (or, without --weights, timing only: any weights).
"""
import argparse
import json
import statistics
import time

import numpy as np

import resnet_cpp as rc


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
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def openvino_runner(path, threads):
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(path, "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"})
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
    p.add_argument("--iters", type=int, default=10)
    args = p.parse_args()

    rc.set_num_threads(args.threads)
    model = getattr(rc.models, args.arch)(weights=args.weights).eval()
    x = np.random.default_rng(1).standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    fast = model.compile("f32", batch=args.batch, size=args.size)
    reference = fast(x)
    results = {"resnet_cpp": median_ms(fast, x, 2, args.iters)}
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
        results[name] = median_ms(run, x, 2, args.iters)
    for name, ms in results.items():
        print(f"{name}: {ms:.1f} ms/batch, {1000 * args.batch / ms:.1f} images/s")
    print(json.dumps({"arch": args.arch, "batch": args.batch, "size": args.size, "threads": args.threads,
                      "ms_per_batch": {k: round(v, 2) for k, v in results.items()}}))


if __name__ == "__main__":
    main()

"""ONNX Runtime and OpenVINO on the torchvision-exported ONNX: the peers of `resnet bench` that need the venv.

Run with bench/peers/.venv/bin/python (made by setup_venv.sh). Prints one JSON object like `resnet bench --json`,
plus what the engine reports about itself. With --output-npy, writes the logits of the input batch there (from the
first untimed run), for run_peers.py's comparison with PyTorch f32.

  .venv/bin/python onnx_peers.py --engine ort --precision f32 --onnx W/resnet50.onnx --input-npy W/input_b32.npy
  .venv/bin/python onnx_peers.py --engine ov --precision int8 --onnx W/resnet50.onnx --calib-npy W/calib.npy ...

Precisions: ort f32 | int8 (quantize_static: QDQ, per-channel s8 weights, u8 activations, min-max calibration);
ov f32 | bf16 (INFERENCE_PRECISION_HINT) | int8 (nncf.quantize, default mixed preset, then f32 hint for the rest).
Quantized models are written beside the ONNX file once and reused (delete them to requantize).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def calibration_batches(path, batch=8):
    calib = np.load(path)
    return [calib[i:i + batch] for i in range(0, len(calib), batch)]


def ort_int8_model(onnx_path, calib_npy):
    """ONNX Runtime static quantization of onnx_path (cached beside it)."""
    out = onnx_path[:-len(".onnx")] + ".ort-int8.onnx"
    if os.path.exists(out):
        return out
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration_batches(calib_npy))

        def get_next(self):
            x = next(self.batches, None)
            return None if x is None else {"input": x}

    pre = out + ".pre.onnx"
    quant_pre_process(onnx_path, pre, skip_symbolic_shape=False)
    quantize_static(pre, out + ".tmp", Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    os.replace(out + ".tmp", out)
    os.remove(pre)
    return out


def ort_session(args):
    import onnxruntime as ort
    path = args.onnx if args.precision == "f32" else ort_int8_model(args.onnx, args.calib_npy)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if os.environ.get("OMP_WAIT_POLICY", "").lower() == "passive":
        # The same courtesy OpenMP's passive wait gives the others on a shared machine.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run(x):
        return sess.run(None, {name: x})[0]

    spinning = os.environ.get("OMP_WAIT_POLICY", "").lower() != "passive"
    info = {"onnxruntime": ort.__version__, "model": os.path.basename(path), "spinning": spinning}
    return run, info


def ov_int8_model(core, onnx_path, calib_npy):
    """NNCF post-training quantization of the OpenVINO model (cached beside the ONNX as IR)."""
    import openvino as ov
    out = onnx_path[:-len(".onnx")] + ".ov-int8.xml"
    if os.path.exists(out):
        return core.read_model(out)
    import nncf
    model = core.read_model(onnx_path)
    dataset = nncf.Dataset(calibration_batches(calib_npy))
    quantized = nncf.quantize(model, dataset, subset_size=len(np.load(calib_npy, mmap_mode="r")))
    ov.save_model(quantized, out)
    return quantized


def ov_compiled(args, shape):
    import openvino as ov
    core = ov.Core()
    if args.precision == "int8":
        model = ov_int8_model(core, args.onnx, args.calib_npy)
    else:
        model = core.read_model(args.onnx)
    model.reshape({model.inputs[0].get_any_name(): list(shape)})
    config = {
        "INFERENCE_NUM_THREADS": args.threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        # No other engine pins its threads to cores; pinned threads cannot move away from a busy core.
        "ENABLE_CPU_PINNING": False,
        "INFERENCE_PRECISION_HINT": "bf16" if args.precision == "bf16" else "f32",
    }
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()

    def run(x):
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()

    # What OpenVINO reports it runs: the compiled model's hint and, per executed convolution, its runtime precision
    # and kernel (the executable graph's rt_info).
    kernels = {}
    for op in compiled.get_runtime_model().get_ops():
        rt = {k: v.astype(str) for k, v in op.get_rt_info().items()}
        if rt.get("layerType") == "Convolution":
            key = f'{rt.get("runtimePrecision")}:{rt.get("primitiveType")}'
            kernels[key] = kernels.get(key, 0) + 1
    info = {"openvino": ov.get_version(),
            "inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            "num_threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "cpu_pinning": bool(compiled.get_property("ENABLE_CPU_PINNING")),
            "conv_runtime": kernels}
    return run, info


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--engine", choices=["ort", "ov"], required=True)
    p.add_argument("--precision", choices=["f32", "bf16", "int8"], default="f32")
    p.add_argument("--onnx", required=True)
    p.add_argument("--input-npy", required=True)
    p.add_argument("--calib-npy", help="calibration images for int8")
    p.add_argument("--output-npy")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()
    if args.engine == "ort" and args.precision == "bf16":
        sys.exit("onnx_peers: ONNX Runtime's CPU provider has no bf16 inference mode")
    if args.precision == "int8" and not args.calib_npy:
        sys.exit("onnx_peers: int8 needs --calib-npy")

    x = np.ascontiguousarray(np.load(args.input_npy), dtype=np.float32)
    start = time.perf_counter()
    run, info = ort_session(args) if args.engine == "ort" else ov_compiled(args, x.shape)
    setup_ms = (time.perf_counter() - start) * 1000.0
    for i in range(max(args.warmup, 1)):
        y = run(x)
        if i == 0 and args.output_npy:
            np.save(args.output_npy, np.asarray(y, dtype=np.float32))
    times = []
    cpu_start = time.process_time()
    for _ in range(args.iters):
        start = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - start) * 1000.0)
    cpu_ms = (time.process_time() - cpu_start) * 1000.0 / args.iters
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    print(json.dumps({"engine": args.engine, "dtype": args.precision, "batch": int(x.shape[0]),
                      "size": int(x.shape[2]), "threads": args.threads, "iters": args.iters,
                      "images_per_sec": x.shape[0] * 1000.0 / p50, "ms_per_batch": p50, "p50_ms": p50,
                      "p99_ms": p99, "cpu_ms_per_batch": cpu_ms, "setup_ms": setup_ms, **info}))


if __name__ == "__main__":
    main()

"""`resnet export` against three references: onnx's checker, ONNX Runtime and OpenVINO.

Run by the python of scripts/onnx_venv.sh: check_onnx_export.py RESNET_BIN WORK_DIR
For each model: a seeded export gives the state_dict's names and shapes; random (seeded) weights for them,
BN statistics included, are written as .safetensors (by hand: the venv has no torch); then the model is
exported with those weights at a fixed batch of 1, with a dynamic batch and with --fold-bn, and
  - onnx.checker.check_model(full_check=True) passes on each file;
  - the unfolded file's initializers are exactly the state_dict's keys (num_batches_tracked aside), and the
    weights load strictly into our model under those names;
  - ONNX Runtime's and OpenVINO's outputs equal `resnet infer`'s (the f32 plan) on the same .npy within 1e-4
    relative to the largest output (batch 1 on the fixed file, batch 3 on the dynamic and folded ones; the
    dilated net: the dynamic file only, against torchvision, as `resnet infer` has no --dilation).
Prints one line per check and 'N passed, N failed' at the end; exits 1 on any failure.
"""
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov

TOLERANCE = 1e-4
TORCH_PYTHON = "/usr/bin/python3"  # Debian's torch + torchvision, for the one model `resnet infer` cannot build
HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 3

# name, export/infer flags, input channels, image size, all three files (else the dynamic-batch one only)
CASES = [
    ("resnet18", [], 3, 224, True),
    ("resnet50", [], 3, 160, True),
    ("resnext50_32x4d", [], 3, 128, True),
    ("resnet20", [], 3, 32, True),  # the CIFAR net: zero-pad shortcut (Slice + Pad)
    ("resnet18", ["--in-channels", "1", "--num-classes", "7"], 1, 64, True),
    ("resnet50", ["--dilation", "0,1,1", "--num-classes", "5"], 3, 64, False),  # against torchvision
    ("unet-resnet18", ["--num-classes", "3"], 3, 64, True),
]

results = {"passed": 0, "failed": 0}


def check(ok, what):
    results["passed" if ok else "failed"] += 1
    print(f"{'PASS' if ok else 'FAIL'}: {what}", flush=True)


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def write_safetensors(path, tensors):
    """tensors: name -> ndarray (float32 or int64), laid out as the reference library does (i64 first)."""
    entries = sorted(tensors.items(), key=lambda kv: (0 if kv[1].dtype == np.int64 else 1, kv[0]))
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, array in entries:
        raw = np.ascontiguousarray(array).astype("<i8" if array.dtype == np.int64 else "<f4").tobytes()
        header[name] = {"dtype": "I64" if array.dtype == np.int64 else "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(blobs))


def random_state_dict(shapes, rng):
    """Weights that keep activations of order 1 through deep nets: He-scaled convs, BN near identity."""
    sd = {}
    for name, shape in shapes.items():
        if name.endswith("running_var"):
            sd[name] = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("running_mean") or name.endswith(".bias"):
            sd[name] = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # a BN weight
            sd[name] = rng.uniform(0.5, 1.0, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            sd[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        sd[name] = sd[name].astype(np.float32)
    for name in list(sd):
        if name.endswith(".running_mean"):
            sd[name[: -len("running_mean")] + "num_batches_tracked"] = np.array(7, dtype=np.int64)
    return sd


def initializers(model):
    return {t.name: tuple(t.dims) for t in model.graph.initializer}


def relative_error(ours, theirs):
    return float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(ours)), 1e-12))


def compare(label, ours, theirs):
    ok = theirs.shape == ours.shape and relative_error(ours, theirs) <= TOLERANCE
    detail = f"rel {relative_error(ours, theirs):.2e}" if theirs.shape == ours.shape else f"shape {theirs.shape}"
    check(ok, f"{label}: {detail} (shape {ours.shape})")


def ort_run(path, x):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def openvino_run(path, x):
    compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(x)[compiled.output(0)]


def check_case(resnet, work, arch, flags, channels, size, full, rng, opset):
    tag = "_".join([arch] + [f.strip("-").replace(",", "") for f in flags])
    base = [resnet, "export", "--arch", arch, *flags, "--size", str(size), "--opset", str(opset)]
    seeded = os.path.join(work, f"{tag}_seeded.onnx")
    run(base + ["--onnx", seeded])
    shapes = initializers(onnx.load(seeded))
    sd = random_state_dict(shapes, rng)
    weights = os.path.join(work, f"{tag}.safetensors")
    write_safetensors(weights, sd)

    files = {"dynamic batch": (os.path.join(work, f"{tag}_dyn.onnx"), ["--dynamic-batch"])}
    if full:
        files["batch 1"] = (os.path.join(work, f"{tag}_b1.onnx"), [])
        files["dynamic batch, --fold-bn"] = (os.path.join(work, f"{tag}_fold.onnx"), ["--dynamic-batch", "--fold-bn"])
    for path, extra in files.values():
        run(base + ["--weights", weights, "--onnx", path] + extra)

    x = rng.normal(0.0, 1.0, (BATCH, channels, size, size)).astype(np.float32)
    x_npy, ref_npy = os.path.join(work, f"{tag}_x.npy"), os.path.join(work, f"{tag}_ref.npy")
    np.save(x_npy, x)
    if "--dilation" in flags:  # `resnet infer` builds no dilated net: torchvision is the reference
        dilation, classes = flags[flags.index("--dilation") + 1], flags[flags.index("--num-classes") + 1]
        run([TORCH_PYTHON, os.path.join(HERE, "torchvision_logits.py"), arch, dilation, classes, weights, x_npy, ref_npy])
    else:
        run([resnet, "infer", "--arch", arch, *flags, "--weights", weights, "--input-npy", x_npy,
             "--output-npy", ref_npy])
    ours = np.load(ref_npy)

    label = f"{arch} {' '.join(flags)} {size}x{size} opset {opset}".replace("  ", " ")
    for name, (path, _) in files.items():
        model = onnx.load(path)
        try:
            onnx.checker.check_model(model, full_check=True)
            check(True, f"{label} [{name}]: onnx.checker full_check")
        except Exception as e:  # noqa: BLE001 - the checker's own exception types vary by version
            check(False, f"{label} [{name}]: onnx.checker: {e}")
    keys = {k for k in sd if not k.endswith("num_batches_tracked")}
    plain = initializers(onnx.load(files["dynamic batch"][0]))
    check(set(plain) == keys and all(plain[k] == sd[k].shape for k in keys),
          f"{label}: initializers == state_dict keys and shapes ({len(keys)})")
    out = "masks" if arch.startswith("unet-") else "logits"
    check([o.name for o in onnx.load(files["dynamic batch"][0]).graph.output] == [out], f"{label}: output named {out}")

    compare(f"{label} [dynamic batch {BATCH}] ONNX Runtime", ours, ort_run(files["dynamic batch"][0], x))
    compare(f"{label} [dynamic batch {BATCH}] OpenVINO", ours, openvino_run(files["dynamic batch"][0], x))
    if full:
        compare(f"{label} [batch 1] ONNX Runtime", ours[:1], ort_run(files["batch 1"][0], x[:1]))
        compare(f"{label} [batch 1] OpenVINO", ours[:1], openvino_run(files["batch 1"][0], x[:1]))
        fold = files["dynamic batch, --fold-bn"][0]
        compare(f"{label} [--fold-bn, batch {BATCH}] ONNX Runtime", ours, ort_run(fold, x))
    for path, _ in files.values():
        os.remove(path)
    os.remove(seeded)
    os.remove(weights)


def main():
    resnet, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(15)
    for arch, flags, channels, size, full in CASES:
        opset = 13 if arch == "resnet20" else 17  # both ends of the range
        start = time.monotonic()
        try:
            check_case(resnet, work, arch, flags, channels, size, full, rng, opset)
        except Exception as e:  # noqa: BLE001 - one broken case is reported, the others still run
            check(False, f"{arch} {' '.join(flags)}: {e}")
        print(f"({arch} {' '.join(flags)}: {time.monotonic() - start:.1f} s)", flush=True)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

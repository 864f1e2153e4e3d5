#!/usr/bin/env bash
# make bench-unet: the U-Net's speed against segmentation_models_pytorch (issue 13 §3), same machine, same run,
# same threads, medians of interleaved rounds:
#   training  unet-resnet34, 64x64x1, 11 classes, batch 32, f32: `resnet bench --train` vs smp on PyTorch
#             (bench/peers/smp_unet.py bench-train: forward, cross-entropy, backward, AdamW step), images/s;
#   inference unet-resnet34, 256x256x3, 11 classes, batch 8: `resnet bench` (the fused plan, f32 and bf16) vs smp
#             eager (torch.no_grad) and OpenVINO on smp's own ONNX export (bench/peers/onnx_peers.py), images/s.
# Usage: scripts/bench_unet.sh [build-dir]   THREADS (2), ROUNDS (3); raw JSON lines: <build-dir>/bench_unet.jsonl
set -uo pipefail
build=${1:-build}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
resnet="$build/resnet"
smp_python=$("$here/scripts/smp_venv.sh")
peer="$here/bench/peers/smp_unet.py"
jsonl="$build/bench_unet.jsonl"
work="$build/bench_unet"
mkdir -p "$work"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

ov_python=""
if "$here/bench/peers/setup_venv.sh"; then
  ov_python="$here/bench/peers/.venv/bin/python"
  # smp's model as ONNX (opset 13) with its input batch, once.
  [[ -f $work/unet_resnet34.onnx ]] || "$smp_python" "$peer" bench-infer --arch resnet34 --size 256 --batch 8 \
    --in-channels 3 --classes 11 --threads "$THREADS" --iters 1 --warmup 0 --onnx "$work/unet_resnet34.onnx" >/dev/null
fi

train=(--size 64 --batch 32 --in-channels 1 --threads "$THREADS" --warmup 2 --iters 5)
infer=(--size 256 --batch 8 --in-channels 3 --threads "$THREADS" --warmup 2 --iters 10)
run() {  # name, command...: appends {"round", "name", "result"} to the JSONL file
  local name=$1 line
  shift
  if line=$("$@" 2>/dev/null | tail -n 1) && [[ $line == \{* ]]; then :; else line='{"error": "failed"}'; fi
  printf '{"round": %d, "name": "%s", "load": "%s", "result": %s}\n' "$round" "$name" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$line" >>"$jsonl"
  echo "round $round $name: $(cut -c1-120 <<<"$line")" >&2
}

: >"$jsonl"
for ((round = 1; round <= ROUNDS; round++)); do
  run "train resnet f32" "$resnet" bench --train --arch unet-resnet34 --num-classes 11 "${train[@]}" --precision f32 --json
  run "train smp f32" "$smp_python" "$peer" bench-train --arch resnet34 --classes 11 "${train[@]}"
  run "infer resnet f32" "$resnet" bench --arch unet-resnet34 --num-classes 11 "${infer[@]}" --dtype f32 --json
  run "infer resnet bf16" "$resnet" bench --arch unet-resnet34 --num-classes 11 "${infer[@]}" --dtype bf16 --json
  run "infer smp eager f32" "$smp_python" "$peer" bench-infer --arch resnet34 --classes 11 "${infer[@]}"
  if [[ -n $ov_python ]]; then
    run "infer openvino f32" "$ov_python" "$here/bench/peers/onnx_peers.py" --engine ov --precision f32 \
      --onnx "$work/unet_resnet34.onnx" --input-npy "$work/unet_resnet34.input.npy" --threads "$THREADS" --iters 10
    run "infer openvino bf16" "$ov_python" "$here/bench/peers/onnx_peers.py" --engine ov --precision bf16 \
      --onnx "$work/unet_resnet34.onnx" --input-npy "$work/unet_resnet34.input.npy" --threads "$THREADS" --iters 10
  fi
done

/usr/bin/python3 - "$jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = list(dict.fromkeys(r["name"] for r in rows))
speed = {}
for n in names:
    v = [r["result"]["images_per_sec"] for r in rows if r["name"] == n and "images_per_sec" in r["result"]]
    speed[n] = (statistics.median(v), v) if v else None
cpu = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip()
print(f"CPU: {cpu}; medians of {max(r['round'] for r in rows)} interleaved rounds")
print("| run | images/s (median) | rounds | ratio |")
print("|---|---|---|---|")
def ratio(n, base):
    return f"{speed[n][0] / speed[base][0]:.2f}x vs {base}" if speed.get(n) and speed.get(base) else ""
for n in names:
    if speed[n] is None:
        print(f"| {n} | failed | | |")
        continue
    base = "train smp f32" if n.startswith("train") else "infer smp eager f32"
    print(f"| {n} | {speed[n][0]:.2f} | {' '.join(f'{x:.2f}' for x in speed[n][1])} | {ratio(n, base)} |")
PY

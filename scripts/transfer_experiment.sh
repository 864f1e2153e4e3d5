#!/usr/bin/env bash
# The transfer-learning experiment of docs/BENCHMARKS.md (issue 12 §2), on real data and with nothing downloaded:
#   1. "pretrained": resnet18 --stem cifar on Fashion-MNIST classes 0-4 (all 30,000 of their training images);
#   2. the target task, classes 5-9 with only 100 labelled training images per class (500 images), three runs
#      with the same epochs and schedule, each evaluated on all 5,000 test images of classes 5-9:
#      (a) fine-tune every layer from the pretrained checkpoint, (b) --freeze backbone (a linear probe),
#      (c) from scratch;
#   3. the three test-accuracy curves in one PNG (resnet plot), and the step time of (b) against (c)
#      (resnet bench --train on the target task's batch, same threads);
#   4. (a) and (b) again with a fresh classifier: both tasks have 5 classes, so the rule "every tensor whose name
#      and shape match is loaded" also loads the source task's fc; here it is removed from the file first
#      (pretrained-no-fc.safetensors) and --non-strict keeps the model's own initialisation for it;
#   5. with TORCH=1: (a) with a fresh classifier and (c) again in PyTorch (bench/peers/transfer_torch.py, Debian's
#      torch 1.13), from the same pretrained-no-fc.safetensors, to tell the data's part from the engine's.
# Usage: scripts/transfer_experiment.sh [build-dir] [out-dir]. PRE_EPOCHS, EPOCHS, PRECISION, THREADS override.
# Each run resumes if its folder holds an unfinished run, so the script can be re-run after an interruption.
set -euo pipefail
build=${1:-build}
out=${2:-runs/transfer}
PRE_EPOCHS=${PRE_EPOCHS:-3}
EPOCHS=${EPOCHS:-15}
PRECISION=${PRECISION:-bf16}
THREADS=${THREADS:-2}
resnet="$build/resnet"

common=(--arch resnet18 --stem cifar --dataset fashion-mnist --precision "$PRECISION" --threads "$THREADS" --quiet)
target=(--classes 5,6,7,8,9 --per-class 100 --epochs "$EPOCHS" --batch-size 50 --lr 0.05)

# Runs `resnet train ARGS --out DIR`, or resumes it when DIR already holds a checkpoint.
train() {
  local dir=$1
  shift
  if [[ -f $dir/state.safetensors ]]; then
    "$resnet" train --out "$dir" --resume --quiet
  else
    /usr/bin/time -f "$dir: %e s wall" "$resnet" train "$@" --out "$dir"
  fi
}

train "$out/pretrained" "${common[@]}" --classes 0,1,2,3,4 --epochs "$PRE_EPOCHS"
pretrained="$out/pretrained/state.safetensors"
train "$out/finetune" "${common[@]}" "${target[@]}" --init-weights "$pretrained"
train "$out/linear-probe" "${common[@]}" "${target[@]}" --init-weights "$pretrained" --freeze backbone
train "$out/scratch" "${common[@]}" "${target[@]}"
"$resnet" plot --out "$out/transfer.png" --title "Fashion-MNIST classes 5-9, 100 images per class" \
  "fine-tune (a)=$out/finetune" "linear probe (b)=$out/linear-probe" "from scratch (c)=$out/scratch"

no_fc="$out/pretrained-no-fc.safetensors"
/usr/bin/python3 - "$out/pretrained/last.safetensors" "$no_fc" "$(dirname "$0")/../tests/oracle" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
import torch
from safetensors_file import read_safetensors, write_safetensors
tensors = read_safetensors(sys.argv[1])
write_safetensors(sys.argv[2], {k: torch.from_numpy(v.copy()) for k, v in tensors.items() if not k.startswith("fc.")})
PY
train "$out/finetune-fresh-fc" "${common[@]}" "${target[@]}" --init-weights "$no_fc" --non-strict
train "$out/linear-probe-fresh-fc" "${common[@]}" "${target[@]}" --init-weights "$no_fc" --non-strict \
  --freeze backbone

if [[ ${TORCH:-0} == 1 ]]; then
  torch_run() { /usr/bin/python3 "$(dirname "$0")/../bench/peers/transfer_torch.py" --epochs "$EPOCHS" \
    --threads "$THREADS" "$@" | tee "$out/pytorch-$2.log" | tail -n 1; }
  torch_run --name scratch
  torch_run --name finetune-fresh-fc --init "$no_fc"
fi

echo "final test accuracy (last epoch) on the 5,000 test images of classes 5-9:"
for run in finetune linear-probe scratch finetune-fresh-fc linear-probe-fresh-fc; do
  tail -n 1 "$out/$run/metrics.csv" | awk -F, -v r="$run" '{printf "  %-21s %.2f%%\n", r, 100 * $5}'
done

echo "training step, batch 50 of 28x28 (median of 20 steps, $THREADS threads, $PRECISION):"
bench=(bench --train --arch resnet18 --stem cifar --in-channels 1 --num-classes 5 --batch 50 --size 28
  --precision "$PRECISION" --threads "$THREADS" --iters 20 --warmup 3 --json)
ms() { "$resnet" "${bench[@]}" "$@" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ms_per_step"])'; }
full=() frozen=()
for round in 1 2 3; do
  full+=("$(ms)")
  frozen+=("$(ms --freeze backbone)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
f=$(median "${full[@]}")
b=$(median "${frozen[@]}")
awk -v f="$f" -v b="$b" 'BEGIN {printf "  full step %.1f ms, frozen backbone %.1f ms: %.2fx\n", f, b, b / f}'

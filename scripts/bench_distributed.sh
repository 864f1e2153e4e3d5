#!/usr/bin/env bash
# Data-parallel training on this machine (docs/BENCHMARKS.md "Distributed training"): 1 rank x 2 threads vs
# 2 ranks x 1 thread (and 4 ranks x 1 thread for the loopback check of the all-reduce model), resnet18 --stem
# cifar and resnet50, on random CIFAR-format images; each run prints RESNET_DDP_TIMING's lines (images/s, the
# unhidden all-reduce per step, the part the optimizer waited for, the loopback ring bandwidth; then each
# rank's wait, the ranks' skew at the end of backward and each bucket's start and completion:
# src/train/ddp_timing.h). Then PyTorch DDP (gloo, Debian's torch) on the same 2-rank setup as the anchor
# (bench/peers/pytorch_ddp.py). And the ceiling of 2 x 1 on this machine: two independent single-process
# runs, 1 thread each, at the per-rank batch, at the same time ("2 alone": no communication, no skew; their
# images/s summed): what 2 ranks could reach if the all-reduce and the synchronous step cost nothing.
#
# Usage: scripts/bench_distributed.sh [build-dir]
#   env: STEPS (default 12), ENGINES ("resnet pytorch"), WORKERS (data loader threads per rank, default 1),
#        ROUNDS (default 1: every run once; more interleave the runs in rounds, to quote their medians)
set -euo pipefail
build=${1:-build}
resnet=$build/resnet
STEPS=${STEPS:-12}
WORKERS=${WORKERS:-1}
ENGINES=${ENGINES:-resnet pytorch}
ROUNDS=${ROUNDS:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 - "$work/cifar" <<'PY'
import os, sys
import numpy as np
folder = sys.argv[1]
os.makedirs(folder)
rng = np.random.default_rng(0)
for name, n in [(f"data_batch_{i}.bin", 256) for i in range(1, 6)] + [("test_batch.bin", 16)]:
    rec = np.concatenate([rng.integers(0, 10, (n, 1), dtype=np.uint8),
                          rng.integers(0, 256, (n, 3072), dtype=np.uint8)], axis=1)
    rec.tofile(os.path.join(folder, name))
PY

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); --workers $WORKERS"
# One short training run on the random images; the callers add threads, model and output flags.
train=("$resnet" train --dataset cifar10 --data "$work/cifar" --test-subset 16 --epochs 1
       --max-steps-per-epoch "$STEPS" --workers "$WORKERS" --quiet)
run() {  # ranks threads model-flags...
  local ranks=$1 threads=$2
  shift 2
  local cmd=("${train[@]}" --threads "$threads" --out "$work/run" "$@")
  rm -rf "$work/run"
  if ((ranks == 1)); then
    RESNET_DDP_TIMING=1 OMP_NUM_THREADS=$threads "${cmd[@]}" 2>&1 >/dev/null | grep '^ddp'
  else
    mpirun --oversubscribe --allow-run-as-root -np "$ranks" -x RESNET_DDP_TIMING=1 -x OMP_NUM_THREADS="$threads" \
      --bind-to none "${cmd[@]}" 2>&1 >/dev/null | grep '^ddp'
  fi
}
two_alone() {  # per-rank-batch model-flags...: two 1-thread processes at once, images/s of each and the sum
  local batch=$1
  shift
  local cmd=("${train[@]}" --threads 1 "$@" --batch-size "$batch")
  rm -rf "$work/alone0" "$work/alone1"
  for i in 0 1; do
    RESNET_DDP_TIMING=1 OMP_NUM_THREADS=1 "${cmd[@]}" --out "$work/alone$i" 2>&1 >/dev/null |
      grep -o 'images/s [0-9.]*' >"$work/alone$i.txt" &
  done
  wait
  local a b
  a=$(cut -d' ' -f2 "$work/alone0.txt") b=$(cut -d' ' -f2 "$work/alone1.txt")
  echo "ddp ceiling: 2 alone x 1 thread, batch $batch each: images/s $a + $b = $(awk -v a="$a" -v b="$b" 'BEGIN { print a + b }')"
}
# resnet50 at 224x224 is the size of the data it is trained on (ImageNet); at 64x64 the step is 12x less compute
# for the same weights, so the per-step work on the weights (the optimizer, weight transforms and reorders) and
# the all-reduce weigh 12x more.
for ((round = 1; round <= ROUNDS; round++)); do
  echo "== round $round of $ROUNDS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for model in "resnet18 --stem cifar --batch-size 64" "resnet50 --batch-size 32 --image-size 64" \
    "resnet50 --batch-size 32 --image-size 224"; do
    read -ra flags <<<"--arch $model"
    echo "== $model"
    if [[ " $ENGINES " == *" resnet "* ]]; then
      global_batch=$(grep -o 'batch-size [0-9]*' <<<"$model" | cut -d' ' -f2)
      read -ra unbatched <<<"--arch $(sed 's/--batch-size [0-9]*//' <<<"$model")"
      run 1 2 "${flags[@]}"
      run 2 1 "${flags[@]}"
      two_alone $((global_batch / 2)) "${unbatched[@]}"
      # (4 ranks: the loopback check of the all-reduce model, whose bytes do not depend on the image size)
      if [[ $model != *"image-size 224"* ]]; then run 4 1 "${flags[@]}"; fi
    fi
    if [[ " $ENGINES " == *" pytorch "* ]]; then
      /usr/bin/python3 "$(dirname "$0")/../bench/peers/pytorch_ddp.py" --steps "$STEPS" "${flags[@]}"
    fi
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# The U-Net accuracy run of docs/BENCHMARKS.md (issue 13 §3): unet-resnet18 on fashion-mnist-scenes, from scratch
# and from a resnet18 --stem cifar Fashion-MNIST checkpoint (--init-weights; its 3x3 conv1 does not fit the U-Net's
# 7x7 stem, so --non-strict skips it), and the same two runs in segmentation_models_pytorch on PyTorch
# (bench/peers/smp_unet.py) on the same scenes exported by `resnet dataset export`, with the same recipe: AdamW
# lr 1e-3 wd 1e-4, cosine per step, batch 32, cross-entropy, random crop (padding 4, mask padded with the ignore
# index) + horizontal flip, f32, seed 0. Prints the test mIoU of the four runs (last epoch).
# Usage: scripts/segmentation_experiment.sh [build-dir] [out-dir] CHECKPOINT
#   EPOCHS (5), SUBSET (0 = all 20,000 training scenes), THREADS (2).
set -euo pipefail
build=${1:-build}
out=${2:-runs/segmentation}
checkpoint=${3:?give the resnet18 --stem cifar checkpoint to start the encoder from}
EPOCHS=${EPOCHS:-5}
SUBSET=${SUBSET:-0}
THREADS=${THREADS:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
resnet="$build/resnet"
smp_python=$("$here/scripts/smp_venv.sh")
mkdir -p "$out"

[[ -f $out/scenes/classes.txt ]] || "$resnet" dataset export fashion-mnist-scenes "$out/scenes"
# The built-in dataset's normalisation (config.json of our runs records it), for the peer.
mean=0.09702 std=0.24616

recipe=(--epochs "$EPOCHS" --batch-size 32 --lr 1e-3 --wd 1e-4 --subset "$SUBSET" --threads "$THREADS")
ours() {
  local dir=$1
  shift
  [[ -f $dir/metrics.csv && $(($(wc -l <"$dir/metrics.csv") - 1)) -ge $EPOCHS ]] && return
  /usr/bin/time -f "$dir: %e s wall" "$resnet" train --task segmentation --arch unet-resnet18 \
    --dataset fashion-mnist-scenes --optimizer adamw --schedule cosine "${recipe[@]}" --quiet --out "$dir" "$@"
}
smp() {
  local dir=$1
  shift
  [[ -f $dir/metrics.csv && $(($(wc -l <"$dir/metrics.csv") - 1)) -ge $EPOCHS ]] && return
  /usr/bin/time -f "$dir: %e s wall" "$smp_python" "$here/bench/peers/smp_unet.py" train --arch resnet18 \
    --data "$out/scenes" --mean "$mean" --std "$std" "${recipe[@]}" --out "$dir" "$@"
}
ours "$out/ours-scratch"
ours "$out/ours-init" --init-weights "$checkpoint" --non-strict
smp "$out/smp-scratch"
smp "$out/smp-init" --init-weights "$checkpoint"

echo "test mIoU, last epoch (all 2,000 test scenes):"
for run in ours-scratch ours-init smp-scratch smp-init; do
  /usr/bin/python3 - "$out/$run/metrics.csv" "$run" <<'PY'
import csv, sys
last = list(csv.DictReader(open(sys.argv[1])))[-1]
print(f"  {sys.argv[2]:<13} {100 * float(last['test_miou']):.2f}%  (epoch {last['epoch']})")
PY
done

#!/usr/bin/env bash
# make demo: train resnet20 on Fashion-MNIST for a few epochs, evaluate it, and show what it predicts.
# Budget: under 5 minutes on 2 (shared) cores. To stay in it the demo trains on the first 12,000 of the 60,000
# training images and evaluates on 2,000 test images after each epoch; the final evaluation uses all 10,000.
# Random crops and flips pay off over long runs, not in three short epochs: the demo trains without them
# (--no-augment). The full recipe (all images, augmentation, 30 epochs) is printed at the end.
set -euo pipefail
build=${1:-build}
resnet="$build/resnet"
data=/usr/share/datasets/fashion-mnist
out="$build/demo-fashion-mnist"
epochs=${DEMO_EPOCHS:-3}
subset=${DEMO_SUBSET:-12000}
# One compute thread plus one data-loader thread: on two cores that other programs also use this is faster than
# two compute threads, whose OpenMP barriers wait for each other (DEMO_THREADS=2 on an idle machine).
threads=${DEMO_THREADS:-1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -e "$data/train-images-idx3-ubyte.gz" ] && [ ! -e "$data/train-images-idx3-ubyte" ]; then
  echo "demo: Fashion-MNIST is not in $data (scripts/bootstrap.sh installs Debian's dataset-fashion-mnist)" >&2
  exit 2
fi
start=$(date +%s)

step "the model: resnet20 (He et al. 2015, CIFAR-style), 1 input channel, 10 classes"
"$resnet" summary --arch resnet20 --in-channels 1 --input 1x28x28 | sed -n '1,8p;/^Total params/p'

step "resnet train: $epochs epochs on the first $subset Fashion-MNIST training images (of 60,000, to fit the time budget)"
rm -rf "$out"
"$resnet" train --arch resnet20 --dataset fashion-mnist --epochs "$epochs" --subset "$subset" --test-subset 2000 \
  --batch-size 64 --lr 0.05 --schedule cosine --no-augment --threads "$threads" --workers 1 --out "$out"

step "resnet eval: the best checkpoint on all 10,000 test images"
"$resnet" eval --arch resnet20 --dataset fashion-mnist --weights "$out/best.safetensors" --threads "$threads" \
  --show 8 --confusion-png "$out/confusion.png"

step "where things are"
cat <<EOF
checkpoint (torchvision state_dict names): $out/best.safetensors  (last epoch: $out/last.safetensors)
curves (loss and accuracy per epoch):      $out/curves.png
confusion matrix:                          $out/confusion.png
metrics per epoch:                         $out/metrics.csv
continue an interrupted run:               $resnet train --out $out --resume
the full recipe (all 60,000 images):       $resnet train --arch resnet20 --dataset fashion-mnist --epochs 30 --out runs/fmnist
demo wall time: $(($(date +%s) - start)) s
EOF

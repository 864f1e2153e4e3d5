#!/usr/bin/env bash
# make demo: what resnet.cpp does, in one minute: inspect, print, classify and time models.
set -euo pipefail
build=${1:-build}
resnet="$build/resnet"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "resnet list"
"$resnet" list

step "resnet summary --arch resnet50 (first and last rows)"
"$resnet" summary --arch resnet50 | sed -n '1,12p;/^fc/,$p'

step "resnet print --arch resnet50 (head)"
"$resnet" print --arch resnet50 | head -25

step "resnet infer --arch resnet50 (seeded random weights) on two random 3x224x224 images"
/usr/bin/python3 -c "import numpy as np; np.save('$work/images.npy', np.random.default_rng(0).standard_normal((2,3,224,224), dtype=np.float32))"
"$resnet" infer --arch resnet50 --input-npy "$work/images.npy"

step "resnet bench --arch resnet18 --batch 8 --size 224"
"$resnet" bench --arch resnet18 --batch 8 --size 224 --iters 5

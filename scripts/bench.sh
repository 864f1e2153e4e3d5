#!/usr/bin/env bash
# make bench: resnet.cpp inference (compiled plan, and the layer-by-layer path --no-fuse) vs PyTorch eager
# (channels_last), same machine, same run, same thread count. Each engine runs ROUNDS times, interleaved, and the
# medians of the rounds are compared. Usage: scripts/bench.sh [build-dir]; THREADS, ROUNDS, ARCHS, BATCHES override.
set -euo pipefail
build=${1:-build}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
ARCHS=${ARCHS:-"resnet18 resnet50"}
BATCHES=${BATCHES:-"1 32"}
SIZE=224
resnet="$build/resnet"
peer=bench/peers/pytorch_infer.py

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ips() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["images_per_sec"])'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }

echo "threads $THREADS, $ROUNDS interleaved rounds, median images/s; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %5s %6s %12s %12s %12s %9s %9s\n' arch batch dtype plan layerwise pytorch plan/pt layer/pt
for arch in $ARCHS; do
  for batch in $BATCHES; do
    iters=$((batch == 1 ? 20 : 3))
    plan=() layer=() torch=()
    for ((r = 0; r < ROUNDS; r++)); do
      common=(--arch "$arch" --batch "$batch" --size $SIZE --threads "$THREADS" --iters $iters --json)
      plan+=("$("$resnet" bench "${common[@]}" | ips)")
      layer+=("$("$resnet" bench "${common[@]}" --no-fuse | ips)")
      torch+=("$(/usr/bin/python3 $peer --arch "$arch" --batch "$batch" --size $SIZE --threads "$THREADS" --iters $iters | ips)")
    done
    p=$(printf '%s\n' "${plan[@]}" | median)
    l=$(printf '%s\n' "${layer[@]}" | median)
    t=$(printf '%s\n' "${torch[@]}" | median)
    printf '%-9s %5d %6s %12.2f %12.2f %12.2f %9s %9s\n' "$arch" "$batch" f32 "$p" "$l" "$t" "$(ratio "$p" "$t")" "$(ratio "$l" "$t")"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

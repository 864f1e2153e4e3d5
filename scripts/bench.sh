#!/usr/bin/env bash
# make bench: resnet.cpp vs PyTorch eager (channels_last) inference, same machine, same run, same threads.
# Each engine runs ROUNDS times, alternating, and the median images/s of the rounds is compared.
set -euo pipefail
build=${1:-build}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
SIZE=224
resnet="$build/resnet"
peer=bench/peers/pytorch_infer.py

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ips() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["images_per_sec"])'; }

printf '%-10s %5s %6s %14s %14s %8s\n' arch batch dtype "ours img/s" "torch img/s" ratio
for arch in resnet18 resnet50; do
  for batch in 1 32; do
    iters=$(( batch == 1 ? 30 : 5 ))
    ours=(); theirs=()
    for ((r = 0; r < ROUNDS; r++)); do
      ours+=("$("$resnet" bench --arch "$arch" --batch "$batch" --size $SIZE --threads "$THREADS" --iters $iters --json | ips)")
      theirs+=("$(/usr/bin/python3 $peer --arch "$arch" --batch "$batch" --size $SIZE --threads "$THREADS" --iters $iters | ips)")
    done
    o=$(printf '%s\n' "${ours[@]}" | median)
    t=$(printf '%s\n' "${theirs[@]}" | median)
    printf '%-10s %5d %6s %14.2f %14.2f %7.2fx\n' "$arch" "$batch" f32 "$o" "$t" "$(awk -v a="$o" -v b="$t" 'BEGIN {print a / b}')"
  done
done

#!/usr/bin/env bash
# The compiled plan in f32, bf16 and int8 side by side: images/s (median of interleaved rounds), ratio to f32,
# and CPU ms per batch (all threads; less sensitive to other load on the machine than wall time).
# Usage: scripts/bench_precisions.sh [build-dir]; THREADS, ROUNDS, ARCHS, BATCHES, SIZE override.
# int8 uses min-max scales calibrated on the random input (resnet bench's fallback): the speed does not depend
# on the scales.
set -euo pipefail
build=${1:-build}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
ARCHS=${ARCHS:-"resnet50"}
BATCHES=${BATCHES:-"32 1"}
SIZE=${SIZE:-224}
DTYPES="f32 bf16 int8"
resnet="$build/resnet"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }

echo "threads $THREADS, $ROUNDS interleaved rounds, medians; OMP_WAIT_POLICY=$OMP_WAIT_POLICY; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %5s %6s %12s %10s %12s %10s\n' arch batch dtype images/s vs_f32 cpu_ms/batch p50_ms
for arch in $ARCHS; do
  for batch in $BATCHES; do
    iters=$((batch == 1 ? 30 : 4))
    declare -A ips=() cpu=() p50=()
    for ((r = 0; r < ROUNDS; r++)); do
      for dtype in $DTYPES; do
        json=$("$resnet" bench --arch "$arch" --batch "$batch" --size "$SIZE" --dtype "$dtype" --threads "$THREADS" \
          --iters $iters --json 2>/dev/null)
        ips[$dtype]+="$(field images_per_sec <<<"$json") "
        cpu[$dtype]+="$(field cpu_ms_per_batch <<<"$json") "
        p50[$dtype]+="$(field p50_ms <<<"$json") "
      done
    done
    f32=$(tr ' ' '\n' <<<"${ips[f32]}" | grep . | median)
    for dtype in $DTYPES; do
      i=$(tr ' ' '\n' <<<"${ips[$dtype]}" | grep . | median)
      c=$(tr ' ' '\n' <<<"${cpu[$dtype]}" | grep . | median)
      p=$(tr ' ' '\n' <<<"${p50[$dtype]}" | grep . | median)
      printf '%-9s %5d %6s %12.2f %9.2fx %12.1f %10.2f\n' "$arch" "$batch" "$dtype" "$i" \
        "$(awk -v a="$i" -v b="$f32" 'BEGIN {print a / b}')" "$c" "$p"
    done
    unset ips cpu p50
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Plan overhead: the time of a compiled-plan pass that is not spent inside oneDNN primitives.
# Runs `resnet bench` RUNS times with ONEDNN_VERBOSE=profile_exec; in each run, splits the primitive executions into
# passes (a pass ends with the primitive that ends the last pass), sums each timed pass's primitive times and takes
# their median; compares that with the bench's own p50 wall time per batch. Prints the medians over the runs.
# Usage: bench/peers/plan_overhead.sh [build-dir]; ARCH (resnet50) BATCH (32) DTYPE (f32) THREADS (2) ITERS
# (5, batch 1: 30) RUNS (5) WINOGRAD (0) override. The verbose printing itself costs a little wall time, so the
# overhead is an upper bound. With WINOGRAD=0 (default) the plan runs --no-winograd, so that all of its compute
# is oneDNN primitives and the rest is the plan's own overhead; WINOGRAD=1 times the default f32 plan, whose
# Winograd transforms (our code, not oneDNN's) then count as time outside the primitives.
set -euo pipefail
build=${1:-build}
ARCH=${ARCH:-resnet50}
BATCH=${BATCH:-32}
DTYPE=${DTYPE:-f32}
THREADS=${THREADS:-2}
ITERS=${ITERS:-$((BATCH == 1 ? 30 : 5))}
RUNS=${RUNS:-5}
WINOGRAD=${WINOGRAD:-0}
winograd_flag=()
[[ "$WINOGRAD" == 1 ]] || winograd_flag=(--no-winograd)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "plan_overhead: $ARCH batch $BATCH $DTYPE, $THREADS threads, $ITERS timed passes, $RUNS runs," \
  "winograd $WINOGRAD;" \
  "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for ((r = 0; r < RUNS; r++)); do
  ONEDNN_VERBOSE=profile_exec "$build/resnet" bench --arch "$ARCH" --batch "$BATCH" --dtype "$DTYPE" \
    --threads "$THREADS" --iters "$ITERS" --warmup 1 --json "${winograd_flag[@]}" >"$tmp/out.$r" 2>&1
done
/usr/bin/python3 - "$tmp" "$RUNS" "$ITERS" <<'PY'
import json, statistics, sys
tmp, runs, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prim_ms, wall_ms, per_pass = [], [], set()
for r in range(runs):
    execs, bench = [], None
    for line in open(f"{tmp}/out.{r}"):
        line = line.strip()
        if line.startswith("{"):
            bench = json.loads(line)
        elif line.startswith("onednn_verbose") and ",exec," in line:
            fields = line.split(",")
            try:
                execs.append((",".join(fields[:-1]), float(fields[-1])))
            except ValueError:
                pass
    if bench is None or not execs:
        sys.exit(f"plan_overhead: run {r}: no JSON or no primitive executions in the output")
    # A pass ends with the same primitive (same kind, shapes and implementation) as the last execution.
    ends = [i for i, (sig, _) in enumerate(execs) if sig == execs[-1][0]]
    if len(ends) < iters + 1:
        sys.exit(f"plan_overhead: run {r}: found {len(ends)} passes, expected at least {iters + 1}")
    ends = ends[-(iters + 1):]
    sums = [sum(t for _, t in execs[a + 1:b + 1]) for a, b in zip(ends, ends[1:])]
    per_pass.add(ends[-1] - ends[-2])
    prim_ms.append(statistics.median(sums))
    wall_ms.append(bench["p50_ms"])
p, w = statistics.median(prim_ms), statistics.median(wall_ms)
print(f"primitives per pass {sorted(per_pass)}; median over {runs} runs: primitive sum {p:.1f} ms, "
      f"wall p50 {w:.1f} ms, overhead {100 * (w - p) / w:.1f}%")
print("runs (primitive sum / wall ms): " + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(prim_ms, wall_ms)))
PY
echo "plan_overhead: load after $(cut -d' ' -f1-3 /proc/loadavg)" >&2

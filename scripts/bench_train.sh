#!/usr/bin/env bash
# make bench-train: training-step throughput and peak RSS, resnet.cpp (`resnet bench --train`) vs PyTorch
# (bench/peers/pytorch_train.py), f32 and bf16, same machine, same run, same threads, batch and synthetic data.
# Every (configuration, engine, precision) runs once per round; rounds interleave all of them, and the medians of
# the rounds are compared. Prints a markdown table (images/s, ratios to PyTorch f32, peak RSS).
#
# Usage: scripts/bench_train.sh [build-dir]
#   THREADS (2), ROUNDS (3), CONFIGS ("resnet20 resnet18-cifar resnet50"), PRECISIONS ("f32 bf16"),
#   ENGINES ("resnet pytorch"), JSONL (where the raw results go; default: <build-dir>/bench_train.jsonl).
# The configurations (issue 3): resnet20 and resnet18 --stem cifar at 28x28x1, 10 classes, batch 128 (Fashion-MNIST
# shaped, as the accuracy runs); resnet50 at 224x224x3, 1000 classes, batch 32.
set -uo pipefail
build=${1:-build}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
CONFIGS=${CONFIGS:-"resnet20 resnet18-cifar resnet50"}
PRECISIONS=${PRECISIONS:-"f32 bf16"}
ENGINES=${ENGINES:-"resnet pytorch"}
JSONL=${JSONL:-$build/bench_train.jsonl}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
resnet="$build/resnet"
peer="$(dirname "$0")/../bench/peers/pytorch_train.py"

# name -> flags common to both engines, then warm-up and timed steps per run
flags_of() {
  case $1 in
    resnet20) echo "--arch resnet20 --size 28 --batch 128 --in-channels 1 --num-classes 10 --warmup 3 --iters 10" ;;
    resnet18-cifar) echo "--arch resnet18 --stem cifar --size 28 --batch 128 --in-channels 1 --num-classes 10 --warmup 2 --iters 5" ;;
    resnet50) echo "--arch resnet50 --size 224 --batch 32 --in-channels 3 --num-classes 1000 --warmup 1 --iters 3" ;;
    *) echo "bench_train.sh: unknown configuration '$1' (resnet20, resnet18-cifar, resnet50)" >&2; exit 2 ;;
  esac
}
for config in $CONFIGS; do flags_of "$config" >/dev/null || exit 2; done

: >"$JSONL"
echo "threads $THREADS, $ROUNDS interleaved rounds, OMP_WAIT_POLICY=$OMP_WAIT_POLICY; raw results: $JSONL"
loads=("$(cut -d' ' -f1-3 /proc/loadavg)")
for ((r = 1; r <= ROUNDS; r++)); do
  for config in $CONFIGS; do
    read -ra flags <<<"$(flags_of "$config")"
    for precision in $PRECISIONS; do
      for engine in $ENGINES; do
        if [[ $engine == resnet ]]; then
          cmd=("$resnet" bench --train "${flags[@]}" --precision "$precision" --threads "$THREADS" --json)
        else
          cmd=(/usr/bin/python3 "$peer" "${flags[@]}" --precision "$precision" --threads "$THREADS")
        fi
        err=$(mktemp)
        if out=$("${cmd[@]}" 2>"$err"); then
          line=$(tail -n 1 <<<"$out")
        else
          line=$(printf '{"error": %s}' "$(head -n 1 "$err" | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')")
        fi
        rm -f "$err"
        printf '{"round": %d, "config": "%s", "engine": "%s", "precision": "%s", "load": "%s", "result": %s}\n' \
          "$r" "$config" "$engine" "$precision" "$(cut -d' ' -f1 /proc/loadavg)" "$line" >>"$JSONL"
        echo "round $r $config $engine $precision: $(cut -c1-160 <<<"$line")" >&2
      done
    done
  done
  loads+=("$(cut -d' ' -f1-3 /proc/loadavg)")
done

/usr/bin/python3 - "$JSONL" "$THREADS" "${loads[*]}" <<'EOF'
import collections, json, statistics, sys

path, threads, loads = sys.argv[1], sys.argv[2], sys.argv[3]
runs = collections.defaultdict(list)
errors = {}
for line in open(path):
    rec = json.loads(line)
    key = (rec["config"], rec["engine"], rec["precision"])
    if "error" in rec["result"]:
        errors[key] = rec["result"]["error"]
    else:
        runs[key].append(rec["result"])

def med(key, field):
    values = [r[field] for r in runs.get(key, [])]
    return statistics.median(values) if values else None

def fmt(v, digits=1):
    return "n/a" if v is None else f"{v:.{digits}f}"

def ratio(a, b):
    return "n/a" if a is None or b is None else f"{a / b:.2f}×"

titles = {"resnet20": "resnet20 28×28×1 b128", "resnet18-cifar": "resnet18 `--stem cifar` 28×28×1 b128",
          "resnet50": "resnet50 224×224×3 b32"}
configs = list(dict.fromkeys(k[0] for k in list(runs) + list(errors)))
print(f"\n{threads} threads; load average (1/5/15 min) at start and after each round: {loads}\n")
print("| configuration | resnet f32 img/s | resnet bf16 img/s | PyTorch f32 img/s | PyTorch bf16 img/s "
      "| f32 / PyTorch f32 | bf16 / PyTorch f32 | peak RSS MiB resnet f32 / bf16 | peak RSS MiB PyTorch f32 / bf16 |")
print("|---|---|---|---|---|---|---|---|---|")
for c in configs:
    ips = {(e, p): med((c, e, p), "images_per_sec") for e in ("resnet", "pytorch") for p in ("f32", "bf16")}
    rss = {(e, p): med((c, e, p), "peak_rss_mib") for e in ("resnet", "pytorch") for p in ("f32", "bf16")}
    print(f"| {titles.get(c, c)} | {fmt(ips['resnet', 'f32'], 2)} | {fmt(ips['resnet', 'bf16'], 2)} "
          f"| {fmt(ips['pytorch', 'f32'], 2)} | {fmt(ips['pytorch', 'bf16'], 2)} "
          f"| {ratio(ips['resnet', 'f32'], ips['pytorch', 'f32'])} | {ratio(ips['resnet', 'bf16'], ips['pytorch', 'f32'])} "
          f"| {fmt(rss['resnet', 'f32'], 0)} / {fmt(rss['resnet', 'bf16'], 0)} "
          f"| {fmt(rss['pytorch', 'f32'], 0)} / {fmt(rss['pytorch', 'bf16'], 0)} |")
print("\nms per step (median) and CPU ms per step (all threads), by configuration and engine:")
for c in configs:
    cells = []
    for e in ("resnet", "pytorch"):
        for p in ("f32", "bf16"):
            ms, cpu = med((c, e, p), "ms_per_step"), med((c, e, p), "cpu_ms_per_step")
            if ms is not None:
                cells.append(f"{e} {p} {ms:.0f} ms (cpu {cpu:.0f})")
    print(f"- {c}: " + "; ".join(cells))
for (c, e, p), message in sorted(errors.items()):
    print(f"- failed: {c} {e} {p}: {message}")
EOF

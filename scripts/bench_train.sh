#!/usr/bin/env bash
# make bench-train: training-step throughput and peak RSS, resnet.cpp (`resnet bench --train`) vs PyTorch
# (bench/peers/pytorch_train.py), f32 and bf16, same machine, same run, same threads, batch and synthetic data.
# PyTorch engines: pytorch (Debian's 1.13, eager), pytorch2 (the newest PyTorch 2.x of bench/peers/.venv, eager),
# pytorch2-compile (the same under torch.compile, inductor); the venv is made by bench/peers/setup_venv.sh when a
# pytorch2 engine is asked for. The table names the CPU (bench/peers/cpu_info.py) and each engine's torch version.
# Every (configuration, engine, precision) runs once per round; rounds interleave all of them, and the medians of
# the rounds are compared. Prints a markdown table (images/s, ratios to PyTorch f32, peak RSS).
#
# Usage: scripts/bench_train.sh [build-dir]
#   THREADS (2), ROUNDS (3), CONFIGS ("resnet20 resnet18-cifar resnet50"), PRECISIONS ("f32 bf16"),
#   ENGINES ("resnet pytorch pytorch2 pytorch2-compile"), JSONL (where the raw results go; default: <build-dir>/bench_train.jsonl),
#   OMP_WAIT_POLICY (unset: every engine's own wait, as users run them -- GNU OpenMP spins a little, then sleeps;
#   set it to passive on a machine shared with other work, where spinning waits for descheduled threads),
#   TUNE (1: `resnet bench --train --tune` -- the first, untimed warm-up step times every convolution pass's
#   kernels and keeps the fastest, cached per machine in the tuning cache (docs/CLI.md), as torch.compile's
#   warm-up compiles; 0: the shape rules and oneDNN's first choices).
# The configurations (issue 3): resnet20 and resnet18 --stem cifar at 28x28x1, 10 classes, batch 128 (Fashion-MNIST
# shaped, as the accuracy runs); resnet50 at 224x224x3, 1000 classes, batch 32.
set -uo pipefail
build=${1:-build}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
CONFIGS=${CONFIGS:-"resnet20 resnet18-cifar resnet50"}
PRECISIONS=${PRECISIONS:-"f32 bf16"}
ENGINES=${ENGINES:-"resnet pytorch pytorch2 pytorch2-compile"}
JSONL=${JSONL:-$build/bench_train.jsonl}
TUNE=${TUNE:-1}
case $TUNE in
  1) tune=(--tune) ;;
  0) tune=() ;;
  *) echo "bench_train.sh: TUNE must be 0 or 1, got '$TUNE'" >&2; exit 2 ;;
esac
wait_policy=${OMP_WAIT_POLICY:-"unset (each engine's default)"}
resnet="$build/resnet"
peers="$(cd "$(dirname "$0")/../bench/peers" && pwd)"
peer="$peers/pytorch_train.py"
venv_python="$peers/.venv/bin/python"
if [[ " $ENGINES " == *" pytorch2"* ]]; then "$peers/setup_venv.sh" || exit 2; fi

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
echo "threads $THREADS, $ROUNDS interleaved rounds, OMP_WAIT_POLICY=$wait_policy, resnet.cpp TUNE=$TUNE; raw results: $JSONL"
loads=("$(cut -d' ' -f1-3 /proc/loadavg)")
for ((r = 1; r <= ROUNDS; r++)); do
  for config in $CONFIGS; do
    read -ra flags <<<"$(flags_of "$config")"
    for precision in $PRECISIONS; do
      for engine in $ENGINES; do
        case $engine in
          resnet)
            cmd=("$resnet" bench --train "${flags[@]}" --precision "$precision" --threads "$THREADS" "${tune[@]}" --json) ;;
          pytorch) cmd=(/usr/bin/python3 "$peer" "${flags[@]}" --precision "$precision" --threads "$THREADS") ;;
          pytorch2) cmd=("$venv_python" "$peer" "${flags[@]}" --precision "$precision" --threads "$THREADS") ;;
          pytorch2-compile)
            cmd=("$venv_python" "$peer" "${flags[@]}" --precision "$precision" --threads "$THREADS" --compile) ;;
          *) echo "bench_train.sh: unknown engine '$engine' (resnet pytorch pytorch2 pytorch2-compile)" >&2; exit 2 ;;
        esac
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

PYTHONPATH="$peers" /usr/bin/python3 - "$JSONL" "$THREADS" "${loads[*]}" <<'EOF'
import collections, json, statistics, sys

from cpu_info import cpu_line

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
names = {"resnet": "resnet.cpp", "pytorch": "PyTorch 1.13 eager", "pytorch2": "PyTorch 2 eager",
         "pytorch2-compile": "PyTorch 2 torch.compile"}
configs = list(dict.fromkeys(k[0] for k in list(runs) + list(errors)))
engines = [e for e in names if any(k[1] == e for k in list(runs) + list(errors))]
peers = [e for e in engines if e != "resnet"]
precisions = [p for p in ("f32", "bf16") if any(k[2] == p for k in list(runs) + list(errors))]
versions = {}
for (c, e, p), rs in runs.items():
    if rs and "torch" in rs[0]:
        versions.setdefault(e, rs[0]["torch"])
print(f"\n{cpu_line()}")
if versions:
    print("torch: " + "; ".join(f"{names[e]} {v}" for e, v in versions.items()))
print(f"{threads} threads; load average (1/5/15 min) at start and after each round: {loads}\n")
# One row per configuration and precision: images/s of every engine, resnet.cpp over each PyTorch engine at the same
# precision, and peak RSS.
print("| configuration | precision | " + " | ".join(f"{names[e]} img/s" for e in engines)
      + "".join(f" | resnet.cpp / {names[e]}" for e in peers)
      + " | peak RSS MiB " + " / ".join(names[e] for e in engines) + " |")
print("|---|---|" + "---|" * (len(engines) + len(peers) + 1))
for c in configs:
    for p in precisions:
        ips = {e: med((c, e, p), "images_per_sec") for e in engines}
        rss = {e: med((c, e, p), "peak_rss_mib") for e in engines}
        print(f"| {titles.get(c, c)} | {p} | " + " | ".join(fmt(ips[e], 2) for e in engines)
              + "".join(f" | {ratio(ips.get('resnet'), ips[e])}" for e in peers)
              + " | " + " / ".join(fmt(rss[e], 0) for e in engines) + " |")
print("\nms per step (median) and CPU ms per step (all threads), by configuration and engine:")
for c in configs:
    cells = []
    for e in engines:
        for p in precisions:
            ms, cpu = med((c, e, p), "ms_per_step"), med((c, e, p), "cpu_ms_per_step")
            if ms is not None:
                cells.append(f"{names[e]} {p} {ms:.0f} ms (cpu {cpu:.0f})")
    print(f"- {c}: " + "; ".join(cells))
for (c, e, p), message in sorted(errors.items()):
    print(f"- failed: {c} {e} {p}: {message}")
EOF

#!/usr/bin/env bash
# make bench-peers: resnet.cpp vs PyTorch eager, ONNX Runtime and OpenVINO, one markdown table on stdout.
# Usage: bench/peers/run_peers.sh [build-dir]. Bootstraps bench/peers/.venv (setup_venv.sh, pinned versions), makes
# the shared weights/inputs/ONNX/reference logits in BUILD/peers-data (prepare.py, once), then runs run_peers.py.
# Environment: ROUNDS (3) THREADS (2) ARCHS ("resnet18 resnet50") BATCHES ("1 32") ITERS (3) ITERS_B1 (20)
# ENGINES ("pytorch pytorch2 pytorch2-compile onnxruntime openvino resnet.cpp resnet.cpp-direct") OMP_WAIT_POLICY (unset: each engine's own; passive on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
work="$build/peers-data"
ARCHS=${ARCHS:-"resnet18 resnet50"}
BATCHES=${BATCHES:-"1 32"}
THREADS=${THREADS:-2}
[[ -x "$build/resnet" ]] || { echo "run_peers: $build/resnet is missing (make build)" >&2; exit 2; }
bench/peers/setup_venv.sh
# shellcheck disable=SC2086
/usr/bin/python3 bench/peers/prepare.py --work "$work" --archs $ARCHS --batches $BATCHES --threads "$THREADS"
# shellcheck disable=SC2086
exec /usr/bin/python3 bench/peers/run_peers.py --build "$build" --work "$work" --archs $ARCHS --batches $BATCHES \
  --threads "$THREADS" --rounds "${ROUNDS:-3}" --iters "${ITERS:-3}" --iters-b1 "${ITERS_B1:-20}" \
  --engines ${ENGINES:-pytorch pytorch2 pytorch2-compile onnxruntime openvino resnet.cpp resnet.cpp-direct}

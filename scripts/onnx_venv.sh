#!/usr/bin/env bash
# Creates .deps/onnx-venv (git-ignored): Debian's /usr/bin/python3 with ONNX (checker), ONNX Runtime and
# OpenVINO, each pinned in scripts/onnx_requirements.txt and installed --no-deps, for the ONNX export's tests
# (tests/onnx/). No system site packages: the venv's numpy and protobuf are its own.
# Idempotent: does nothing when the venv already holds exactly these pins. Prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.deps/onnx-venv
req=scripts/onnx_requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

mkdir -p .deps
exec 9>.deps/onnx-venv.lock
flock 9  # tests may call this in parallel (ctest -j): one installs, the others wait
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "onnx_venv: installing $(grep -c '==' "$req") pinned packages into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$req" >&2
  "$venv/bin/python" -c 'import onnx, onnxruntime, openvino; print("onnx_venv: onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__, "openvino", openvino.__version__)' >&2
  echo "$want" > "$stamp"
fi
echo "$PWD/$venv/bin/python"

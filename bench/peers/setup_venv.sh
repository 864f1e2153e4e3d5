#!/usr/bin/env bash
# Creates bench/peers/.venv (git-ignored) with the pinned peers of requirements.txt: the newest PyTorch 2.x and
# torchvision (eager and torch.compile), ONNX Runtime, OpenVINO, NNCF. Idempotent: does nothing when the venv
# already holds exactly these pins. Large (PyPI's torch brings the CUDA runtime, ~3 GB; requirements.txt says
# why): a benchmark venv, never part of `make test`.
#
# Layout: the venv is isolated (no --system-site-packages). Debian's torch 1.13 / torchvision 0.14 stay with
# /usr/bin/python3 and its Debian numpy (ONNX export, the PyTorch 1.13 rows, orchestration); the venv has its own
# torch 2.x and numpy, and neither can shadow Debian's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
if ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "setup_venv: installing python3-venv" >&2
  apt-get install -y python3-venv >&2
fi
if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup_venv: creating $venv" >&2
  /usr/bin/python3 -m venv "$venv"
fi
echo "setup_venv: installing $(grep -c '==' "$req") pinned packages into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir -r "$req" >&2
"$venv/bin/python" - <<'PY' >&2
import numpy, onnx, onnxruntime, openvino, torch, torchvision
print("setup_venv: numpy", numpy.__version__, "onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__,
      "openvino", openvino.get_version(), "torch", torch.__version__, "torchvision", torchvision.__version__)
try:
    import nncf
    print("setup_venv: nncf", nncf.__version__)
except Exception as e:  # NNCF is optional: the OpenVINO int8 row then says why it is missing
    print("setup_venv: nncf unavailable:", e)
PY
echo "$want" > "$stamp"

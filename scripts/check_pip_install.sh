#!/usr/bin/env bash
# `pip install .` for real: a fresh venv of Debian's python3 (no system site-packages: numpy comes from PyPI,
# torch is absent), the wheel built from this checkout by scikit-build-core + nanobind (the library compiled
# once more, in pip's own build folder), then, from another folder and without LD_LIBRARY_PATH: import
# resnet_cpp, a forward pass, a compiled plan, and a check that libresnet and oneDNN are loaded from the
# package folder. Prints the time of each step. Needs scripts/bootstrap.sh to have run.
# Usage: scripts/check_pip_install.sh [PYTHON]   (default /usr/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
unset LD_LIBRARY_PATH PYTHONPATH

step() { echo "check_pip_install: $1: $(($(date +%s) - start)) s"; }
start=$(date +%s)
"$python" -m venv "$tmp/venv"
step "venv"
start=$(date +%s)
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check . >"$tmp/pip.log" 2>&1 ||
  { tail -40 "$tmp/pip.log"; exit 1; }
step "pip install . (build + install, $CMAKE_BUILD_PARALLEL_LEVEL jobs)"
start=$(date +%s)
cd "$tmp"
venv/bin/python - <<'PY'
import os, pathlib
import numpy as np
import resnet_cpp as rc

package = pathlib.Path(rc.__file__).parent
m = rc.models.resnet18(num_classes=10).eval()
x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
logits = m(x)
fast = m.compile(batch=2, size=64)
assert logits.shape == (2, 10), logits.shape
assert np.allclose(fast(x), logits, atol=1e-4), "plan != model"
try:
    m(x.astype(np.float64))
    raise SystemExit("float64 input was not refused")
except ValueError:
    pass
maps = open(f"/proc/{os.getpid()}/maps").read()
for lib in ("libresnet.so", "libdnnl.so"):
    paths = {line.split()[-1] for line in maps.splitlines() if lib in line}
    assert paths, f"{lib} not loaded"
    assert all(p.startswith(str(package)) or not p.startswith("/work") for p in paths), paths
    print(f"check_pip_install: {lib} from {sorted(paths)[0]}")
assert (package / "py.typed").exists() and (package / "_core" / "__init__.pyi").exists()
assert "torch" not in __import__("sys").modules
print("check_pip_install: import, forward, plan, ValueError, libraries: ok")
PY
step "import + run"
echo "check_pip_install: installed files:"
find "$tmp"/venv/lib/python3*/site-packages/resnet_cpp -type f | sed "s|$tmp/venv/lib/||" | sort

#!/usr/bin/env bash
# Creates .deps/py-venv (git-ignored): Debian's /usr/bin/python3 with nanobind pinned in
# scripts/python_requirements.txt, so the ordinary CMake build can build the Python module (RESNET_PYTHON,
# cmake/python.cmake) and `make test` can test it with /usr/bin/python3. Idempotent: does nothing when the venv
# already holds exactly these pins. Prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.deps/py-venv
req=scripts/python_requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

mkdir -p .deps
exec 9>.deps/py-venv.lock
flock 9
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "python_venv: installing $(grep -c '==' "$req") pinned packages into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  "$venv/bin/python" -c 'import nanobind; print("python_venv: nanobind", nanobind.__version__)' >&2
  echo "$want" > "$stamp"
fi
echo "$PWD/$venv/bin/python"

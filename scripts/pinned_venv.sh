#!/usr/bin/env bash
# A venv of Debian's /usr/bin/python3 under .deps/ holding exactly the pins of a requirements file; the venv
# scripts (smp_venv.sh, onnx_venv.sh, python_venv.sh) are this with their own arguments.
#   pinned_venv.sh NAME REQUIREMENTS CHECK [venv options...] [-- pip options...]
# NAME: .deps/NAME; CHECK: python code run once after installing (it prints what was installed);
# venv options, e.g. --system-site-packages; pip options, e.g. --no-deps.
# Idempotent: does nothing when the venv already holds exactly these pins (a hash of the file). Prints the
# venv's python. Tests may call it in parallel (ctest -j): one installs, the others wait on a lock.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 req=$2 check=$3
shift 3
venv_options=() pip_options=()
while (($#)); do
  if [[ $1 == -- ]]; then
    shift
    pip_options=("$@")
    break
  fi
  venv_options+=("$1")
  shift
done
venv=.deps/$name
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

mkdir -p .deps
exec 9>".deps/$name.lock"
flock 9
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "$name: installing $(grep -c '==' "$req") pinned packages into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "${venv_options[@]}" "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "${pip_options[@]}" -r "$req" >&2
  "$venv/bin/python" -c "$check" >&2
  echo "$want" > "$stamp"
fi
echo "$PWD/$venv/bin/python"

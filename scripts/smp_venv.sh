#!/usr/bin/env bash
# Creates .deps/smp-venv (git-ignored): Debian's /usr/bin/python3 with its torch 1.13 and torchvision 0.14
# (--system-site-packages) plus segmentation_models_pytorch 0.6 and what it imports, pinned in
# scripts/smp_requirements.txt and installed --no-deps. The U-Net parity fixtures run with its python.
# Idempotent: does nothing when the venv already holds exactly these pins. Prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.deps/smp-venv
req=scripts/smp_requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

mkdir -p .deps
exec 9>.deps/smp-venv.lock
flock 9  # fixture scripts may call this in parallel (ctest -j): one installs, the others wait
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "smp_venv: installing $(grep -c '==' "$req") pinned packages into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$req" >&2
  "$venv/bin/python" -c 'import segmentation_models_pytorch as smp, torch; print("smp_venv: smp", smp.__version__, "torch", torch.__version__)' >&2
  echo "$want" > "$stamp"
fi
echo "$PWD/$venv/bin/python"

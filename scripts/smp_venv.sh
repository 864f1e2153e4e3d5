#!/usr/bin/env bash
# Creates .deps/smp-venv (git-ignored): Debian's /usr/bin/python3 with its torch 1.13 and torchvision 0.14
# (--system-site-packages) plus segmentation_models_pytorch 0.6 and what it imports, pinned in
# scripts/smp_requirements.txt and installed --no-deps. The U-Net parity fixtures run with its python.
# scripts/pinned_venv.sh makes it (idempotent; prints the venv's python).
exec "$(dirname "$0")/pinned_venv.sh" smp-venv scripts/smp_requirements.txt \
  'import segmentation_models_pytorch as smp, torch; print("smp_venv: smp", smp.__version__, "torch", torch.__version__)' \
  --system-site-packages -- --no-deps

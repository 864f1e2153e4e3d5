#!/usr/bin/env bash
# Creates .deps/py-venv (git-ignored): Debian's /usr/bin/python3 with nanobind pinned in
# scripts/python_requirements.txt, so the ordinary CMake build can build the Python module (RESNET_PYTHON,
# cmake/python.cmake) and `make test` can test it with /usr/bin/python3.
# scripts/pinned_venv.sh makes it (idempotent; prints the venv's python).
exec "$(dirname "$0")/pinned_venv.sh" py-venv scripts/python_requirements.txt \
  'import nanobind; print("python_venv: nanobind", nanobind.__version__)'

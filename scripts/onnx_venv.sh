#!/usr/bin/env bash
# Creates .deps/onnx-venv (git-ignored): Debian's /usr/bin/python3 with ONNX (checker), ONNX Runtime and
# OpenVINO, each pinned in scripts/onnx_requirements.txt and installed --no-deps, for the ONNX export's tests
# (tests/onnx/). No system site packages: the venv's numpy and protobuf are its own.
# scripts/pinned_venv.sh makes it (idempotent; prints the venv's python).
exec "$(dirname "$0")/pinned_venv.sh" onnx-venv scripts/onnx_requirements.txt \
  'import onnx, onnxruntime, openvino; print("onnx_venv: onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__, "openvino", openvino.__version__)' \
  -- --no-deps

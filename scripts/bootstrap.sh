#!/usr/bin/env bash
# Installs everything resnet.cpp needs to build and test on Debian 12. Idempotent: a second run does nothing.
#   - Debian packages (apt) for the build, the tests' torchvision oracle and the data sets;
#   - oneDNN v3: a system one if CMake finds `dnnl` >= 3, otherwise the PyPI wheels unpacked into .deps/onednn.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  cmake g++ make pkg-config git
  libcli11-dev nlohmann-json3-dev libfmt-dev zlib1g-dev libzip-dev
  googletest libgtest-dev libbenchmark-dev
  libpng-dev libjpeg62-turbo-dev libcairo2-dev
  libonnx-dev libprotobuf-dev
  clang libclang-rt-14-dev lld
  openmpi-bin libopenmpi-dev
  python3-torch python3-torchvision python3-numpy python3-pip python3-venv python3-skimage
  python3-dev python3-pytest
  dataset-fashion-mnist
)
# oneDNN 3.2 (CPU, GNU OpenMP). The newest `onednn` wheel needs a SYCL and TBB runtime, so it cannot be used
# with g++ + OpenMP alone; 2023.2.0 is the newest CPU-only OpenMP build on PyPI.
ONEDNN_WHEELS=(onednn-devel-cpu-gomp==2023.2.0 onednn-cpu-gomp==2023.2.0)
ONEDNN_PREFIX=.deps/onednn

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  apt-get clean  # the downloaded .deb files (~1.5 GB: python3-torch and its kin) are not needed once installed
fi

system_onednn_v3() {
  for f in /usr/lib/*/cmake/dnnl/dnnl-config-version.cmake /usr/local/lib/cmake/dnnl/dnnl-config-version.cmake; do
    [[ -f $f ]] && grep -q 'PACKAGE_VERSION "3\.' "$f" && return 0
  done
  return 1
}

if ! system_onednn_v3 && [[ ! -f $ONEDNN_PREFIX/lib/cmake/dnnl/dnnl-config.cmake ]]; then
  echo "bootstrap: installing oneDNN 3.2 from PyPI wheels into $ONEDNN_PREFIX"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  /usr/bin/python3 -m pip download --quiet --no-cache-dir --no-deps -d "$tmp/whl" "${ONEDNN_WHEELS[@]}"
  mkdir -p "$tmp/unpacked" "$ONEDNN_PREFIX.tmp"
  for w in "$tmp"/whl/*.whl; do (cd "$tmp/unpacked" && /usr/bin/python3 -m zipfile -e "$w" .); done
  cp -a "$tmp"/unpacked/*.data/data/. "$ONEDNN_PREFIX.tmp/"
  rm -rf "$ONEDNN_PREFIX" && mv "$ONEDNN_PREFIX.tmp" "$ONEDNN_PREFIX"
fi
scripts/smp_venv.sh >/dev/null  # the U-Net oracle: segmentation_models_pytorch on Debian's torch
scripts/onnx_venv.sh >/dev/null  # the ONNX export's oracles: onnx's checker, ONNX Runtime, OpenVINO
scripts/python_venv.sh >/dev/null  # nanobind, for the Python module (RESNET_PYTHON, cmake/python.cmake)

#!/usr/bin/env bash
# make test: every test through ctest (unit, torchvision parity with fixtures made at test time, parsers under ASan).
set -euo pipefail
build=${1:-build}
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 1500

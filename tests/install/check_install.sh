#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds examples/ against it with find_package(resnet), runs it.
set -euo pipefail
build=$(realpath "$1")
source_dir=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/examples" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/classify" | tee "$work/out.txt"
grep -q '^class [0-9]' "$work/out.txt"

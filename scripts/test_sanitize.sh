#!/usr/bin/env bash
# make test-sanitize: the test suite once more under sanitizers (docs/RELIABILITY.md, "Sanitizers").
#   build-asan: everything with AddressSanitizer + UBSan (RESNET_ASAN) -- every unit, parser, CLI and parity test
#               through ctest; any report stops the test that hit it and fails it, leaks included.
#   build-tsan: the library and the threading tests with ThreadSanitizer (RESNET_TSAN) -- the data loaders'
#               worker threads and one inference plan run from 8 threads (tests/unit/test_plan_concurrency.cpp).
# Suppressions (each with its reason) are in tests/sanitize/. SANITIZE=asan or SANITIZE=tsan runs one half.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc)}
which=${SANITIZE:-asan tsan}
supp=$root/tests/sanitize
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESNET_WERROR=ON -DRESNET_BENCH=OFF)
if command -v ccache >/dev/null; then flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:print_stacktrace=1:strict_string_checks=1"
export ASAN_OPTIONS="$ASAN_OPTIONS:check_initialization_order=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"

for sanitizer in $which; do
  start=$SECONDS
  case $sanitizer in
    asan)
      cmake -S "$root" -B "$root/build-asan" "${flags[@]}" -DRESNET_ASAN=ON >/dev/null
      cmake --build "$root/build-asan" -j "$jobs"
      # Left out, each run by make test on the ordinary build: install_and_find_package builds a consumer
      # project without the sanitizers, which cannot link an instrumented libresnet; the limits_* tests run
      # under `ulimit -v`, which ASan's shadow memory (terabytes of address space) cannot live with;
      # fuzz_smoke builds its own instrumented harnesses with clang.
      (cd "$root/build-asan" && ctest --output-on-failure -j "$jobs" --timeout 3000 \
        -E '^(install_and_find_package|limits_.*|make_limit_fixtures|fuzz_smoke)$')
      ;;
    tsan)
      cmake -S "$root" -B "$root/build-tsan" "${flags[@]}" -DRESNET_TSAN=ON >/dev/null
      cmake --build "$root/build-tsan" -j "$jobs" --target threading_tests
      # libgomp is not built with TSan: its barriers are invisible to it, so two OpenMP threads of one
      # parallel region look like a race. One OpenMP thread per calling thread: every thread here is a
      # std::thread (loader workers, plan callers), whose synchronisation TSan sees.
      tests='DataLoader.*:SegmentationLoader.*:Data.UndecodableFolderImageFailsItsBatchWithTheFileName:*PlanConcurrency*'
      (cd "$root/build-tsan/tests" && OMP_NUM_THREADS=1 ./threading_tests --gtest_filter="$tests")
      ;;
    *)
      echo "SANITIZE: asan or tsan, not '$sanitizer'" >&2
      exit 2
      ;;
  esac
  echo "test-sanitize $sanitizer: passed in $((SECONDS - start)) s"
done

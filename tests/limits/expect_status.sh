#!/usr/bin/env bash
# expect_status.sh STATUS RESNET [ARGS...]: runs `RESNET ARGS...` under `ulimit -v 1000000` (1 GB of address space:
# a file whose header makes the process try to allocate what it claims fails here with bad_alloc) and checks that
# it exits with STATUS; for a refusal (STATUS 2), that stderr is exactly one line "resnet: error: ..." and that
# neither "internal error" nor "bad_alloc" appears.
set -uo pipefail
expected=$1
shift
stderr=$(mktemp)
trap 'rm -f "$stderr"' EXIT
(ulimit -v 1000000 && exec "$@" >/dev/null 2>"$stderr")
status=$?
cat "$stderr" >&2
if ((status != expected)); then
  echo "FAIL: exit status $status, expected $expected: $*" >&2
  exit 1
fi
if ((expected == 2)); then
  lines=$(wc -l <"$stderr")
  if ((lines != 1)) || ! grep -q '^resnet: error: ' "$stderr" || grep -qE 'internal error|bad_alloc' "$stderr"; then
    echo "FAIL: expected one line 'resnet: error: ...', got $lines line(s)" >&2
    exit 1
  fi
fi
echo "ok: exit $status under ulimit -v 1000000: $*" >&2

# lib.sh - shared helpers for the integration tests (sourced, not run).
# Environment from ctest: CPGO, CPGO_TESTGEN, CPGO_CANON, CPGO_SRC, CPGO_TMP.
set -u
: "${CPGO:?run through ctest}" "${CPGO_TMP:?run through ctest}"
T="$CPGO_TMP/$(basename "$0" .sh)"
rm -rf "$T" && mkdir -p "$T"
FAILS=0
CHECKS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { CHECKS=$((CHECKS + 1)); }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@"; then ok; else fail "$d"; fi
}
finish() {
  echo "$CHECKS checks passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
  exit $?
}
need_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "SKIP: go is not on PATH; the Go toolchain is this test's outside judge"
    exit 77
  fi
}
# Builds the real Go test program once per build tree and records profiles with it.
build_profgen() {
  local bin="$CPGO_TMP/profgen"
  if [ ! -x "$bin" ]; then
    (cd "$CPGO_SRC/tests/go" && GOFLAGS=-mod=mod go build -o "$bin" ./profgen) || return 1
  fi
  echo "$bin"
}
# Sorted blocks of `go tool pprof -traces`: Go's own rendering of every sample.
go_traces() {
  go tool pprof -traces -symbolize=none "$1" 2>/dev/null | sed -n '/^-----/,$p' | python3 -c '
import sys
sep = "-----------+-------------------------------------------------------\n"
blocks = [b for b in sys.stdin.read().split(sep) if b.strip()]
print("\n=====\n".join(sorted(blocks)))'
}

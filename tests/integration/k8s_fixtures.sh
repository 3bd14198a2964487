#!/usr/bin/env bash
# The Kubernetes fixtures the test API server serves (tests/fixtures/k8s/*.json) are what
# the official Go types encode to: tests/go/k8sfixtures builds v1.Pod, EndpointSlice,
# their lists, WatchEvents and Statuses from k8s.io/api and k8s.io/apimachinery (pinned in
# its go.mod/go.sum) and json.Marshal's them. Here it runs again and every file must be
# byte for byte the committed one, so the fixtures cannot drift from the types by hand.
# Needs go and the module proxy (or a module cache holding the pinned versions).
. "$(dirname "$0")/lib.sh"
need_go

SRC="$CPGO_SRC/tests/go/k8sfixtures"
FIX="$CPGO_SRC/tests/fixtures/k8s"
mkdir -p "$T/out"
if ! (cd "$SRC" && GOFLAGS=-mod=readonly go run . -o "$T/out") >"$T/go.log" 2>&1; then
  if grep -qE 'dial tcp|no such host|proxy|lookup|connection refused|i/o timeout' "$T/go.log"; then
    echo "SKIP: the pinned k8s.io modules cannot be downloaded here: $(tail -1 "$T/go.log")"
    exit 77
  fi
  fail "the fixture generator failed: $(tail -5 "$T/go.log")"
  finish
fi
for f in "$FIX"/*.json; do
  n=$(basename "$f")
  if cmp -s "$f" "$T/out/$n"; then ok; else fail "$n differs from what k8s.io/api encodes (regenerate: cd tests/go/k8sfixtures && go run . -o ../../fixtures/k8s)"; fi
done
for f in "$T/out"/*.json; do
  n=$(basename "$f")
  check "$n is generated but not committed in tests/fixtures/k8s" test -f "$FIX/$n"
done
finish

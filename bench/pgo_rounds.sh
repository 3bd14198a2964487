#!/usr/bin/env bash
# pgo_rounds.sh - what `pgo: half_life` does to a published file over several publishes:
# the demo's three real Go CPU profiles (examples/profiles) served in turn by the fake fleet,
# one `cpgo run --once --output` per simulated day (the publish clock is CPGO_TEST_NOW), a
# half-life of 2 days. Per round: the file's size, its samples (and distinct samples), the
# edge change cpgo logged, and the hottest call edges `go tool preprofile` reads (when go
# is on PATH).
#   bench/pgo_rounds.sh [BUILD_DIR] [ROUNDS]
set -u
B=${1:-build}
ROUNDS=${2:-8}
CPGO=$(realpath "$B/cpgo")
FLEET=$(realpath "$B/tests/fakefleet/cpgo-fakefleet")
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/cpgo-pgo-rounds-XXXXXX")
trap 'kill $FP 2>/dev/null; rm -rf "$T"' EXIT
FP=
NOW=1796119200 # 2026-12-01T10:00:00Z
for i in $(seq 1 "$ROUNDS"); do
  p="$SRC/examples/profiles/checkout-$(((i - 1) % 3)).pprof"
  rm -f "$T/ports"
  "$FLEET" --profile "$p" --count 3 --port-file "$T/ports" --duration 120 2>/dev/null &
  FP=$!
  for _ in $(seq 1 100); do [ -s "$T/ports" ] && break; sleep 0.05; done
  {
    echo "state_dir: $T/state"
    echo "backends:"
    n=0
    while read -r port _; do
      n=$((n + 1))
      echo "- name: checkout-$n"
      echo "  url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
      echo "  open_pull_request: {repository: https://github.com/acme/shop, target_file: cmd/checkout/default.pgo, target_branch: main}"
      echo "  schedule: '@every 1h'"
      echo "  pgo: {half_life: 48h}"
    done <"$T/ports"
  } >"$T/c.yaml"
  CPGO_TEST_NOW=$((NOW + (i - 1) * 86400)) "$CPGO" run --once -c "$T/c.yaml" --output "$T/out" \
    >"$T/log" 2>&1 || { echo "round $i failed:"; tail -5 "$T/log"; exit 1; }
  kill "$FP" 2>/dev/null
  wait "$FP" 2>/dev/null
  f="$T/out/github.com/acme/shop/main/cmd/checkout/default.pgo"
  size=$(stat -c %s "$f")
  read -r total rows < <("$CPGO" inspect --json "$f" | python3 -c \
    'import json,sys; d=json.load(sys.stdin); print(d["sample_types"][0]["total"], d["counts"]["samples"])' 2>/dev/null || echo "? ?")
  change=$(sed -n 's/.*msg=published .*change="\([^"]*\)".*/\1/p' "$T/log" | tail -1)
  echo "round $i (day $((i - 1)), $(basename "$p")): $size bytes, $total samples/count in $rows samples; $change"
  if command -v go >/dev/null; then
    "$CPGO" inspect --edges "$f" | awk 'NR > 1 { if ((NR - 2) % 3 == 0) c = $0; else if ((NR - 2) % 3 == 1) e = $0; else { split($0, w, " "); printf "    %8d  %s -> %s (+%s)\n", w[2], c, e, w[1] } }' | head -5
  fi
done

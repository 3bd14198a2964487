#!/usr/bin/env bash
# A failed write at every step of a daemon round (ENOSPC, then EIO): the test-only fault
# hook CPGO_TEST_FAIL_WRITE=N:ERRNO fails the Nth write step of the process (journal
# appends and syncs, atomic writes and their renames and directory syncs: state files and
# the output). After each faulty `--once` round, a clean round; the output must then hold
# exactly the acknowledged scrapes ("scrape merged" logged) of both: never a scrape twice,
# never an acknowledged one missing.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 21 -samples 120 -locations 60 -functions 40
S=$(samples_in "$P")
start_fleet "$T" --profile "$P" --count 2 --delay-ms 20 || finish
{
  echo "state_dir: $T/state"
  echo "backends:"
  while read -r port _; do
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  schedule: '* * * * *'"
    echo "  open_pull_request: {repository: 'https://github.com/acme/app', target_branch: main}"
  done <"$T/ports"
} >"$T/config.yaml"
OUT="$T/out"
F="$OUT/github.com/acme/app/main/default.pgo"
bad=0 faulted=0
for errno in 28 5; do
  for n in $(seq 1 24); do
    rm -rf "$T/state" "$OUT"
    # a first clean round, so that later rounds merge into an existing output
    "$CPGO" run --once -c "$T/config.yaml" --output "$OUT" >"$T/log" 2>&1
    CPGO_TEST_FAIL_WRITE="$n:$errno" "$CPGO" run --once -c "$T/config.yaml" --output "$OUT" \
      >>"$T/log" 2>&1
    rc=$?
    [ "$rc" -ne 0 ] && faulted=$((faulted + 1))
    "$CPGO" run --once -c "$T/config.yaml" --output "$OUT" >>"$T/log" 2>&1
    # and a round with nothing new must not change what is published
    acked=$(grep -c 'msg="scrape merged"' "$T/log")
    got=$(samples_in "$F")
    if [ "$got" -ne $((acked * S)) ]; then
      bad=$((bad + 1))
      fail "fault at write step $n (errno $errno): published $((got / S)) scrapes ($got samples), acknowledged $acked"
      cp "$T/log" "$T/log-fail-$errno-$n"
    fi
  done
done
echo "48 faulty rounds, $faulted of them failed visibly, $bad miscounted"
check "some faults made a round fail (the hook reached real write steps)" [ "$faulted" -gt 10 ]
stop_fleet
finish

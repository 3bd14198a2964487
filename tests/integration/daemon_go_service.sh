#!/usr/bin/env bash
# A real Go service (net/http/pprof) scraped with seconds=1: cpgo publishes a file that
# `go build -pgo=FILE` of that very service accepts, and `go tool preprofile` reads.
. "$(dirname "$0")/lib.sh"
need_go
(cd "$CPGO_SRC/tests/go" && go build -o "$T/pprofsvc" ./pprofsvc) || { fail "cannot build the Go service"; finish; }
pids=()
for i in 1 2; do
  "$T/pprofsvc" -port-file "$T/port$i" -lifetime 120s &
  pids+=($!)
done
for i in 1 2; do wait_for "[ -s '$T/port$i' ]" 10 || fail "service $i did not start"; done
{
  echo "state_dir: $T/state"
  echo "backends:"
  for i in 1 2; do
    echo "- url: http://127.0.0.1:$(cat "$T/port$i")/debug/pprof/profile?seconds=1"
    echo "  schedule: '* * * * *'"
    echo "  open_pull_request: {repository: $CPGO_SRC, target_file: tests/go/pprofsvc/default.pgo, target_branch: main}"
  done
} > "$T/config.yaml"
"$CPGO" run --once -c "$T/config.yaml" --output "$T/out" 2>"$T/log"
rc=$?
kill "${pids[@]}" 2>/dev/null
wait 2>/dev/null
check "run --once exits 0 (got $rc: $(tail -3 "$T/log"))" [ "$rc" -eq 0 ]
F=$(find "$T/out" -name default.pgo | head -1)
check "published a file" [ -n "$F" ] && [ -s "$F" ]
check "two scrapes merged" grep -q 'scrapes=2' "$T/log"
"$CPGO" inspect "$F" > "$T/inspect" 2>&1
check "usable for PGO" grep -q "Go PGO:        usable" "$T/inspect"
if (cd "$CPGO_SRC/tests/go" && go build -pgo="$F" -o "$T/pprofsvc-pgo" ./pprofsvc) 2>"$T/err"; then ok
else fail "go build -pgo rejected the published profile: $(cat "$T/err")"; fi
if go tool preprofile -i "$F" -o "$T/pre" 2>"$T/err" && [ "$(wc -l < "$T/pre")" -gt 1 ]; then ok
else fail "go tool preprofile: $(cat "$T/err")"; fi
finish

#!/usr/bin/env bash
# The open-file limit (src/daemon/nofile.h): `cpgo run` raises its soft RLIMIT_NOFILE to the
# hard limit and logs old -> new; when even the hard limit cannot hold
# limits.max_concurrent_scrapes it warns once, naming the numbers and the key, and runs
# fewer scrapes at once, so the rest wait instead of failing with EMFILE: 300 backends
# under a hard limit of 256 fds are all scraped and merged, none fails.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 3 -samples 50 -locations 40 -functions 20
write_config() { # DIR PORTS [LIMITS]
  {
    echo "state_dir: $1/state"
    [ -z "${3:-}" ] || echo "limits: {$3}"
    echo "backends:"
    local i=0
    while read -r port _; do
      echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
      echo "  schedule: '*/5 * * * *'"
      echo "  retries: 0"
      echo "  open_pull_request: {repository: https://github.com/acme/svc$((i / 5)), target_file: default.pgo, target_branch: main}"
      i=$((i + 1))
    done <"$2"
  } >"$1/config.yaml"
}

# 1. soft 200, hard 1000: raised to 1000, logged, no warning (64 + the reserve fit)
mkdir -p "$T/raise"
start_fleet "$T/raise" --profile "$P" --count 5 --delay-ms 100 || finish
write_config "$T/raise" "$T/raise/ports" "max_concurrent_scrapes: 64"
(ulimit -Sn 200 && ulimit -Hn 1000 && exec "$CPGO" run --once -c "$T/raise/config.yaml" \
  --output "$T/raise/out") 2>"$T/raise/log"
rc=$?
stop_fleet
check "raise: exit 0 (got $rc): $(tail -3 "$T/raise/log")" test "$rc" -eq 0
check "raise: old -> new logged: $(grep 'open-file' "$T/raise/log")" \
  grep -q 'msg="open-file limit" old=200 new=1000 hard=1000' "$T/raise/log"
check "raise: no warning" test "$(grep -c 'too low' "$T/raise/log")" -eq 0
check "raise: 5 merged" test "$(grep -c 'msg="scrape merged"' "$T/raise/log")" -eq 5

# 2. hard 256 < 300 scrapes at once (the default max_concurrent_scrapes is 1024): one
# warning, at most 128 at once, every scrape merged, none failed
N=300
mkdir -p "$T/low"
start_fleet "$T/low" --profile "$P" --count $N --delay-ms 300 || finish
write_config "$T/low" "$T/low/ports"
(ulimit -Sn 256 && ulimit -Hn 256 && exec "$CPGO" run --once -c "$T/low/config.yaml" \
  --output "$T/low/out") 2>"$T/low/log"
rc=$?
stop_fleet
check "low: exit 0 (got $rc): $(grep -v 'scrape merged' "$T/low/log" | tail -3)" test "$rc" -eq 0
check "low: one warning naming the key and numbers: $(grep 'too low' "$T/low/log")" \
  test "$(grep -c 'too low for limits.max_concurrent_scrapes.*nofile=256 max_concurrent_scrapes=1024 effective=128' "$T/low/log")" -eq 1
merged=$(grep -c 'msg="scrape merged"' "$T/low/log")
check "low: all $N merged (got $merged)" test "$merged" -eq $N
check "low: no scrape failed: $(grep -m3 'scrape failed\|rejected' "$T/low/log")" \
  test "$(grep -c 'scrape failed\|scrape rejected' "$T/low/log")" -eq 0
check "low: no EMFILE" test "$(grep -ci 'too many open files' "$T/low/log")" -eq 0
check "low: published" test "$(total_samples "$T/low/out")" -gt 0
finish

#!/usr/bin/env bash
# The accounting invariant: every scrape cpgo accepted is counted exactly once in what it
# publishes, across daemon rounds, SIGTERM, kill -9 at arbitrary moments, and restarts.
# Accepted = logged "scrape merged" (logged after the journal's sync). A kill -9 may lose
# only what was in flight, and may keep a scrape it journaled but had not yet logged, so
# there: logged <= published <= logged + N per kill, and never more than the fleet
# delivered. Counting what cpgo accepted (not what the fleet sent) keeps the test exact on
# a loaded machine, where a scrape may time out after the fleet has sent it.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 5 -samples 400 -locations 200 -functions 100
S=$(samples_in "$P")
N=6
start_fleet "$T" --profile "$P" --count $N --delay-ms 150 || finish
mkcfg() { # mkcfg FILE
  {
    echo "state_dir: $T/state"
    echo "shutdown_timeout: 10s"
    echo "backends:"
    i=0
    while read -r port _; do
      echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
      echo "  schedule: '@every 2s'"
      echo "  timeout: 1500ms"
      echo "  open_pull_request: {repository: https://github.com/acme/svc$((i % 2)), target_file: default.pgo, target_branch: main}"
      i=$((i + 1))
    done < "$T/ports"
  } > "$1"
}
mkcfg "$T/config.yaml"
OUT="$T/out"
delivered() { json_get "$T/stats.json" "d['ok']"; }
merged() { cat "$@" | grep -c 'msg="scrape merged"'; }

# 1. daemon rounds, then SIGTERM: nothing lost, nothing doubled
"$CPGO" run -c "$T/config.yaml" --output "$OUT" 2>>"$T/log" &
pid=$!
sleep 7
kill -TERM "$pid"
wait "$pid"
rc=$?
check "SIGTERM exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "rounds were published while running" grep -q 'msg=published' "$T/log"
check "state flushed at shutdown" grep -q 'msg=stopped' "$T/log"

# 2. kill -9 at arbitrary moments, restarting each time
kills=0
for delay in 2.3 3.1 1.7 4.4 2.9; do
  "$CPGO" run -c "$T/config.yaml" --output "$OUT" 2>>"$T/log" &
  pid=$!
  sleep "$delay"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  kills=$((kills + 1))
done

# 3. one more clean run, then publish whatever is still pending with the fleet gone
"$CPGO" run -c "$T/config.yaml" --output "$OUT" 2>>"$T/log" &
pid=$!
sleep 4.5
kill -TERM "$pid"
wait "$pid"
check "SIGTERM after restarts exits 0" [ $? -eq 0 ]
stop_fleet
D=$(delivered)
M=$(merged "$T/log")
"$CPGO" run --once -c "$T/config.yaml" --output "$OUT" 2>>"$T/log"
# the fleet is gone: every backend fails (exit 1) but pending samples are published
published=$(total_samples "$OUT")
echo "delivered $D, merged $M profiles; published $((published / S)) ($published samples) after $kills kill -9"
check "published a whole number of profiles" [ $((published % S)) -eq 0 ]
check "never counted twice: published $((published / S)) <= delivered $D" [ "$published" -le $((D * S)) ]
check "every merged scrape published: $((published / S)) >= merged $M" [ "$published" -ge $((M * S)) ]
check "lost at most the scrapes in flight: $((published / S)) <= $M + $N x $kills" \
  [ "$published" -le $(( (M + N * kills) * S )) ]
check "something was merged" [ "$M" -gt 15 ]
check "no temp files left behind (stale ones are cleaned at start)" \
  [ -z "$(find "$T/state" "$OUT" -name '*.tmp-*' 2>/dev/null)" ]

# 4. exactness without kill -9: a fresh state, rounds + SIGTERM + final flush == delivered
rm -rf "$T/state" "$OUT"
start_fleet "$T" --profile "$P" --count $N --delay-ms 150 || finish
mkcfg "$T/config.yaml"
"$CPGO" run -c "$T/config.yaml" --output "$OUT" 2>>"$T/log2" &
pid=$!
sleep 6.5
kill -TERM "$pid"
wait "$pid"
"$CPGO" run -c "$T/config.yaml" --output "$OUT" 2>>"$T/log2" &
pid=$!
sleep 4.5
kill -INT "$pid"
wait "$pid"
check "SIGINT exits 0" [ $? -eq 0 ]
stop_fleet
D=$(delivered)
M=$(merged "$T/log2")
"$CPGO" run --once -c "$T/config.yaml" --output "$OUT" 2>>"$T/log2"
published=$(total_samples "$OUT")
echo "without kill -9: delivered $D, merged $M profiles, published $((published / S))"
check "exactly once: published $((published / S)) == merged $M" [ "$published" -eq $((M * S)) ]
check "nothing invented: merged $M <= delivered $D" [ "$M" -le "$D" ]
check "something was merged" [ "$M" -gt 3 ]
finish

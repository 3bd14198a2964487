#!/usr/bin/env bash
# A reload that moves a kept backend (same name and URL) to another target while its scrape
# is in flight: what it counted in its old target (the scrape, its place in the round) moves
# with it, so the old target still completes its rounds and publishes; the moved backend's
# scrape ends in the new target's accounting (with asserts on, a count taken below zero
# aborts the daemon).
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 5 -samples 200 -locations 100 -functions 60
start_fleet "$T" --profile "$P" --count 1 --delay-ms 100 || finish
A=$(awk '{print $1}' "$T/ports")
FLEET_A=$FLEET_PID
mkdir -p "$T/hang"
start_fleet "$T/hang" --profile "$P" --count 1 --behaviour hang || finish
B=$(awk '{print $1}' "$T/hang/ports")
mkcfg() { # mkcfg FILE_OF_B
  echo "state_dir: $T/state"
  echo "backends:"
  echo "- url: http://127.0.0.1:$A/debug/pprof/profile?seconds=1"
  echo "  name: a"
  echo "  schedule: '@every 2s'"
  echo "  timeout: 1500ms"
  echo "  open_pull_request: {repository: https://github.com/acme/svc, target_file: default.pgo, target_branch: main}"
  # B hangs: each scrape stays in flight for its whole timeout
  echo "- url: http://127.0.0.1:$B/debug/pprof/profile?seconds=1"
  echo "  name: b"
  echo "  schedule: '@every 20s'"
  echo "  timeout: 15s"
  echo "  retries: 0"
  echo "  open_pull_request: {repository: https://github.com/acme/svc, target_file: $1, target_branch: main}"
}
reqs() { json_get "$1/stats.json" "d['endpoints'][0]['requests']"; }
OUT="$T/out/github.com/acme/svc/main"
mkcfg default.pgo >"$T/config.yaml"
"$CPGO" run -c "$T/config.yaml" --output "$T/out" 2>"$T/log" &
pid=$!
pubs() { grep -c "msg=published .*path=$OUT/default.pgo" "$T/log"; }
# generous waits: the sanitizer builds run this beside other tests on a busy machine
check "b's scrape is in flight" wait_for '[ "$(reqs "$T/hang")" -ge 1 ]' 30
# from now on the shared target's round waits for b, whose scrape hangs for 15 s
sleep 1
n0=$(pubs)
# move b to a target of its own while its scrape hangs
mkcfg other.pgo >"$T/config.yaml"
kill -HUP "$pid"
check "reload logged" wait_for 'grep -q "configuration reloaded" "$T/log"' 30
check "the old target completes its rounds without b and publishes again" \
  wait_for '[ "$(pubs)" -gt "$n0" ]' 30
check "b's scrape ends in its new target (timeout), daemon alive" \
  wait_for "grep -q 'scrape failed.*backend=b.*other.pgo.*class=timeout' '$T/log'" 45
check "daemon alive" kill -0 "$pid"
kill -TERM "$pid"
wait "$pid"
check "exit 0" [ $? -eq 0 ]
check "no assertion failed" bash -c "! grep -q 'Assertion' '$T/log'"
stop_fleet
kill "$FLEET_A" 2>/dev/null
wait "$FLEET_A" 2>/dev/null
finish

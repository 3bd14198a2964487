#!/usr/bin/env bash
# SIGHUP reloads the configuration atomically: added backends start, removed ones stop
# (an in-flight scrape of a removed backend is discarded) and their series, and those of
# their target, leave /metrics; an invalid file is refused with its errors logged and the
# running configuration kept.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 9 -samples 300 -locations 150 -functions 80
start_fleet "$T" --profile "$P" --count 3 --delay-ms 100 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
mkcfg() { # mkcfg PORT...   (the first fleet port's backend has a target of its own)
  echo "state_dir: $T/state"
  echo "listen: 127.0.0.1:0"
  echo "backends:"
  for port in "$@"; do
    file=default.pgo
    [ "$port" = "${PORTS[0]}" ] && file=first.pgo
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  name: b$port"
    echo "  schedule: '@every 2s'"
    echo "  timeout: 1500ms"
    echo "  open_pull_request: {repository: https://github.com/acme/svc, target_file: $file, target_branch: main}"
  done
}
reqs() { json_get "$T/stats.json" "[e['requests'] for e in d['endpoints'] if e['port']==$1][0]"; }
mkcfg "${PORTS[0]}" > "$T/config.yaml"
"$CPGO" run -c "$T/config.yaml" --output "$T/out" 2>"$T/log" &
pid=$!
check "first backend scraped" wait_for '[ "$(reqs ${PORTS[0]})" -ge 2 ]' 10
ADMIN=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/log" | grep -o '[0-9]*$')
metrics() { curl -s "http://127.0.0.1:$ADMIN/metrics"; }
B0="backend=\"b${PORTS[0]}\""
check "the first backend's scrapes are in /metrics" wait_for 'metrics | grep -q "^cpgo_scrapes_total{$B0,target=\"[^\"]*first.pgo\",class=\"ok\"} [1-9]"' 10
check "its target's merges and publishes too" wait_for 'metrics | grep -q "^cpgo_profiles_merged_total{target=\"[^\"]*first.pgo\"} [1-9]" && metrics | grep -q "^cpgo_publishes_total{target=\"[^\"]*first.pgo\""' 10
check "second backend not scraped yet" [ "$(reqs "${PORTS[1]}")" -eq 0 ]
# add the second and third backends
mkcfg "${PORTS[0]}" "${PORTS[1]}" "${PORTS[2]}" > "$T/config.yaml"
kill -HUP "$pid"
check "reload logged" wait_for 'grep -q "configuration reloaded" "$T/log"' 5
check "added backends scraped" wait_for '[ "$(reqs ${PORTS[1]})" -ge 2 ] && [ "$(reqs ${PORTS[2]})" -ge 2 ]' 10
# an invalid file is refused; the running configuration goes on
printf 'backends:\n- url: ftp://nope\n  schedule: 61 * * * *\n' > "$T/config.yaml"
kill -HUP "$pid"
check "invalid config refused" wait_for 'grep -q "config reload refused" "$T/log"' 5
before=$(reqs "${PORTS[2]}")
check "still scraping after a refused reload" wait_for '[ "$(reqs ${PORTS[2]})" -gt $before ]' 10
# remove the first backend
mkcfg "${PORTS[1]}" "${PORTS[2]}" > "$T/config.yaml"
kill -HUP "$pid"
check "removal logged" wait_for 'grep -q "backend removed" "$T/log"' 5
sleep 2.5
r0=$(reqs "${PORTS[0]}")
sleep 4.5
check "removed backend no longer scraped" [ "$(reqs "${PORTS[0]}")" -eq "$r0" ]
metrics >"$T/metrics.after"
check "the removed backend's series left /metrics" bash -c "! grep -F '$B0' '$T/metrics.after'"
check "and those of its removed target" bash -c "! grep -F 'first.pgo' '$T/metrics.after'"
check "the remaining backends' series stay" grep -q "^cpgo_scrapes_total{backend=\"b${PORTS[1]}\"" "$T/metrics.after"
# log settings follow the file too
{ echo "log: {format: json}"; mkcfg "${PORTS[1]}" "${PORTS[2]}"; } > "$T/config.yaml"
kill -HUP "$pid"
check "log format switched to JSON on reload" wait_for "grep -q '\"msg\": *\"configuration reloaded\"' '$T/log'" 5
check "the JSON lines are JSON" bash -c "grep '^{' '$T/log' | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]'"
check "daemon alive" kill -0 "$pid"
kill -TERM "$pid"
wait "$pid"
check "exit 0 after reloads" [ $? -eq 0 ]
stop_fleet
check "published" [ -s "$T/out/github.com/acme/svc/main/default.pgo" ]
finish

#!/usr/bin/env bash
# SIGHUP reloads the configuration atomically: added backends start, removed ones stop
# (an in-flight scrape of a removed backend is discarded), an invalid file is refused with
# its errors logged and the running configuration kept.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 9 -samples 300 -locations 150 -functions 80
start_fleet "$T" --profile "$P" --count 3 --delay-ms 100 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
mkcfg() { # mkcfg PORT...
  echo "state_dir: $T/state"
  echo "backends:"
  for port in "$@"; do
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  name: b$port"
    echo "  schedule: '@every 2s'"
    echo "  timeout: 1500ms"
    echo "  open_pull_request: {repository: https://github.com/acme/svc, target_file: default.pgo, target_branch: main}"
  done
}
reqs() { json_get "$T/stats.json" "[e['requests'] for e in d['endpoints'] if e['port']==$1][0]"; }
mkcfg "${PORTS[0]}" > "$T/config.yaml"
"$CPGO" run -c "$T/config.yaml" --output "$T/out" 2>"$T/log" &
pid=$!
check "first backend scraped" wait_for '[ "$(reqs ${PORTS[0]})" -ge 2 ]' 10
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

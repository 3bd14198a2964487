#!/usr/bin/env bash
# services: (issue 11 §2) the rotation over a service's instances, against the fake fleet:
# every instance once before any twice, across restarts (--once runs, each a new process);
# busy instances replaced within the round and tried first in the next; a single busy
# instance retried after the profile's duration, not hammered; /status and /metrics show
# the service, its sources and the rotation; a service with no instances skips its round
# in daemon mode without exiting.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 5 -samples 50 -locations 40 -functions 20
start_fleet "$T" --profile "$P" --count 8 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
targets=""
for i in 0 1 2 3 4 5 6; do targets="$targets'127.0.0.1:${PORTS[$i]}', "; done
cat >"$T/config.yaml" <<YAML
state_dir: $T/state
services:
- name: checkout
  schedule: '@every 1m'
  seconds: 1
  timeout: 5s
  max_instances: 3
  static_configs:
  - targets: [${targets%, }]
  open_pull_request: {repository: 'https://github.com/acme/checkout', target_branch: main}
YAML
# requests per endpoint port so far (the fleet's stats file)
counts() {
  python3 - "$T/stats.json" "${PORTS[@]:0:7}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
eps = {str(e["port"]): e for e in d["endpoints"]}
print(" ".join(str(eps[p]["ok"]) for p in sys.argv[2:]))
PY
}
stats_now() { sleep 0.6; } # the fleet writes its stats every 100 ms
spread_ok() { # counts never differ by more than one
  python3 -c "import sys; c=[int(x) for x in sys.argv[1:]]; sys.exit(max(c)-min(c) > 1)" $1
}
for run in 1 2 3 4 5 6 7; do
  "$CPGO" run -c "$T/config.yaml" --once --output "$T/out" 2>"$T/once$run.log"
  check "run $run: exit 0" [ $? -eq 0 ]
  stats_now
  c=$(counts)
  check "run $run: every instance once before any twice ($c)" spread_ok "$c"
done
check "after 7 rounds of 3 over 7 instances, each scraped exactly 3 times ($c)" \
  [ "$c" = "3 3 3 3 3 3 3" ]
check "the rotation is in the state" bash -c "ls '$T'/state/targets/*/rotation-*.json >/dev/null"
check "the round is logged with scraped of discovered" \
  grep -q 'service round finished.*scraped=3 discovered=7' "$T/once7.log"

# busy: on a fresh state the rotation starts at the first instance in key order (the
# order `cpgo discover` prints); the first two are being profiled by someone else (a
# 20 s profile held open): the round replaces them with the next two
sed "s|state_dir: $T/state|state_dir: $T/stateb|" "$T/config.yaml" >"$T/busy.yaml"
"$CPGO" discover -c "$T/busy.yaml" >"$T/discover.txt" 2>&1
check "discover: exit 0" [ $? -eq 0 ]
check "discover: 7 instances, 3 per round" grep -q 'service checkout: 7 instances (3 scraped per round)' "$T/discover.txt"
mapfile -t KEYORDER < <(grep -o '^  127\.0\.0\.1:[0-9]*' "$T/discover.txt" | awk -F: '{print $2}')
check "discover lists every instance" [ "${#KEYORDER[@]}" -eq 7 ]
idx() { local i; for i in "${!PORTS[@]}"; do [ "${PORTS[$i]}" = "$1" ] && echo "$i"; done; }
B1=${KEYORDER[0]}; B2=${KEYORDER[1]}
curl -s -o /dev/null "http://127.0.0.1:$B1/debug/pprof/profile?seconds=20" &
C1=$!
curl -s -o /dev/null "http://127.0.0.1:$B2/debug/pprof/profile?seconds=20" &
C2=$!
sleep 0.5
stats_now
base=$(counts)
"$CPGO" run -c "$T/busy.yaml" --once --output "$T/outb" 2>"$T/busy.log"
check "busy round: exit 0" [ $? -eq 0 ]
stats_now
after=$(counts)
gained=$(python3 -c "import sys; a=sys.argv[1].split(); b=sys.argv[2].split(); print(sum(int(y)-int(x) for x,y in zip(a,b)))" "$base" "$after")
check "busy round: still 3 instances scraped ($gained)" [ "$gained" -eq 3 ]
check "busy round: both busy instances replaced" [ "$(grep -c 'instance busy' "$T/busy.log")" -eq 2 ]
got_next=$(python3 -c "
import sys
a=sys.argv[1].split(); b=sys.argv[2].split(); ports=sys.argv[3].split(); want=sys.argv[4:]
print(sum(int(b[i])-int(a[i]) for i,p in enumerate(ports) if p in want))" "$base" "$after" "${PORTS[*]:0:7}" "${KEYORDER[2]}" "${KEYORDER[3]}" "${KEYORDER[4]}")
check "busy round: the replacements are the next in order" [ "$got_next" -eq 3 ]
kill $C1 $C2 2>/dev/null; wait $C1 $C2 2>/dev/null
sleep 0.3
before=$(counts)
"$CPGO" run -c "$T/busy.yaml" --once --output "$T/outb" 2>"$T/owed.log"
stats_now
now=$(counts)
owed_ok=$(python3 -c "
import sys
a=sys.argv[1].split(); b=sys.argv[2].split(); ports=sys.argv[3].split(); want=sys.argv[4:]
print(sum(int(b[i])-int(a[i]) for i,p in enumerate(ports) if p in want))" "$before" "$now" "${PORTS[*]:0:7}" "$B1" "$B2")
check "the busy instances are tried first in the next round ($owed_ok)" [ "$owed_ok" -eq 2 ]

# a single-instance service whose instance is busy: retried after the profile's duration
cat >"$T/single.yaml" <<YAML
state_dir: $T/state1
services:
- name: single
  schedule: '@every 1m'
  seconds: 2
  timeout: 10s
  retries: 3
  static_configs:
  - targets: ['127.0.0.1:${PORTS[7]}']
  open_pull_request: {repository: 'https://github.com/acme/single', target_branch: main}
YAML
curl -s -o /dev/null "http://127.0.0.1:${PORTS[7]}/debug/pprof/profile?seconds=3" &
C3=$!
sleep 0.3
start=$(date +%s.%N)
"$CPGO" run -c "$T/single.yaml" --once --output "$T/out1" 2>"$T/single.log"
rc=$?
wait $C3 2>/dev/null
check "single busy instance: scraped once it was free (exit $rc)" [ $rc -eq 0 ]
stats_now
req=$(python3 -c "
import json; d=json.load(open('$T/stats.json'))
e=[e for e in d['endpoints'] if e['port']==${PORTS[7]}][0]; print(e['requests'])")
check "single busy instance: not hammered ($req requests incl. the holder)" [ "$req" -le 4 ]
check "single busy instance: the retry waited the profile's duration" \
  grep -q 'scrape failed, retrying.*class=busy' "$T/single.log"

# daemon: /status and /metrics; a service with no instances skips its round
cat >"$T/daemon.yaml" <<YAML
state_dir: $T/state2
listen: 127.0.0.1:0
services:
- name: checkout
  schedule: '@every 2s'
  seconds: 1
  timeout: 1900ms
  max_instances: 2
  static_configs:
  - targets: ['127.0.0.1:${PORTS[2]}', '127.0.0.1:${PORTS[3]}', '127.0.0.1:${PORTS[4]}']
  open_pull_request: {repository: 'https://github.com/acme/checkout', target_branch: main}
- name: empty
  schedule: '@every 2s'
  seconds: 1
  timeout: 1900ms
  file_sd_configs:
  - files: ['$T/none/*.json']
  open_pull_request: {repository: 'https://github.com/acme/empty', target_branch: main}
YAML
"$CPGO" run -c "$T/daemon.yaml" --output "$T/out2" 2>"$T/daemon.log" &
D=$!
check "daemon: admin endpoint up" wait_for "grep -q 'admin endpoint listening' '$T/daemon.log'" 10
PORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/daemon.log" | grep -o '[0-9]*$')
check "daemon: a round finished" wait_for "grep -q 'service round finished.*service=checkout' '$T/daemon.log'" 20
check "daemon: the empty service skips its rounds" wait_for "grep -q 'service round skipped.*service=empty' '$T/daemon.log'" 20
curl -s "http://127.0.0.1:$PORT/status" >"$T/status.json"
check "status: services with sources, instances, rotation" python3 -c "
import json; d=json.load(open('$T/status.json'))
s={x['name']: x for x in d['services']}
c=s['checkout']
assert c['discovered']==3 and len(c['instances'])==3, c
assert c['sources'][0]['name']=='static_configs[0]' and c['sources'][0]['ok']
assert c['rotation']['rounds']>=1 and c['max_instances']==2
assert c['last_round']['scraped']==2 and c['last_round']['discovered']==3, c['last_round']
assert s['empty']['discovered']==0 and s['empty']['skipped_rounds']>=1
assert not any('/' in b['name'] for b in d['backends'])
"
curl -s "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
check "metrics: instances per service and source" \
  grep -q 'cpgo_discovery_instances{service="checkout",source="static_configs\[0\]"} 3' "$T/metrics"
check "metrics: scraped of discovered" grep -q 'cpgo_service_instances_scraped{service="checkout"} 2' "$T/metrics"
check "metrics: scrapes count under the service's name" grep -q 'cpgo_scrapes_total{backend="checkout"' "$T/metrics"
check "metrics: skipped rounds" grep -q 'cpgo_service_rounds_skipped_total{service="empty"}' "$T/metrics"
kill -TERM $D
wait $D
check "daemon: exit 0 on SIGTERM with an empty service" [ $? -eq 0 ]
stop_fleet
finish

#!/usr/bin/env bash
# A service whose instances come from kubernetes_sd_configs (issue 11), end to end: the
# test API server (tests/support/fake_k8s.py, real v1.Pod JSON from k8s.io/api) lists and
# watches pods whose podIP:pprof port are fake-fleet endpoints. Only Running and Ready pods
# are scraped; `cpgo discover --all` says why the others are not; pods added, made ready
# and deleted while the daemon runs join and leave the rotation; an API that fails keeps
# the last good instances scraping; the bearer token never appears in any output.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 9 -samples 40 -locations 30 -functions 15
start_fleet "$T" --profile "$P" --count 6 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
TOKEN=k8s-tok-$RANDOM$RANDOM-secret
printf '%s\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"
python3 "$CPGO_SRC/tests/support/fake_k8s.py" --port-file "$T/kport" \
  --fixtures "$CPGO_SRC/tests/fixtures/k8s" --token-file "$T/token" --lifetime 600 \
  2>"$T/k8s.log" &
K8S=$!
wait_for "[ -s '$T/kport' ]" 10 || { fail "fake API server did not start: $(tail -3 "$T/k8s.log")"; finish; }
KP=$(cat "$T/kport")
ctl() { curl -s -X POST -H 'Content-Type: application/json' --data "$1" "http://127.0.0.1:$KP/_control" >/dev/null; }
pod() { # pod NAME FIXTURE PORT
  ctl "{\"action\":\"put\",\"res\":\"pods\",\"fixture\":\"$2\",\"namespace\":\"prod\",\"name\":\"$1\",\"set\":{\"status.podIP\":\"127.0.0.1\",\"spec.containers.0.ports.0.containerPort\":$3}}"
}
for i in 0 1 2 3; do pod "checkout-$i" pod-ready "${PORTS[$i]}"; done
pod checkout-4 pod-not-ready "${PORTS[4]}"
pod checkout-5 pod-pending "${PORTS[5]}"
cat >"$T/config.yaml" <<YAML
state_dir: $T/state
listen: 127.0.0.1:0
services:
- name: checkout
  schedule: '@every 2s'
  seconds: 1
  timeout: 1900ms
  max_instances: 10
  kubernetes_sd_configs:
  - role: pod
    api_server: http://127.0.0.1:$KP
    bearer_token_file: $T/token
    namespaces: {names: [prod]}
    selectors: [{role: pod, label: 'app=checkout'}]
    port: pprof
  open_pull_request: {repository: 'https://github.com/acme/checkout', target_branch: main}
YAML
ok_of() { python3 -c "
import json; d=json.load(open('$T/stats.json'))
print(sum(e['ok'] for e in d['endpoints'] if e['port']==$1))"; }

"$CPGO" discover -c "$T/config.yaml" --all >"$T/discover.txt" 2>&1
check "discover: exit 0 ($(tail -1 "$T/discover.txt"))" [ $? -eq 0 ]
check "discover: the 4 ready pods" grep -q 'service checkout: 4 instances' "$T/discover.txt"
check "discover: the not-ready pod is dropped, with why" grep -q 'checkout-4.*[Rr]eady' "$T/discover.txt"
check "discover: the pending pod is dropped, with why" grep -q 'checkout-5.*Pending\|checkout-5.*[Rr]unning' "$T/discover.txt"
curl -s "http://127.0.0.1:$KP/_log" >"$T/log.json"
check "the API saw the label selector and the token" python3 -c "
import json; d=json.load(open('$T/log.json'))['requests']
assert any(r['params'].get('labelSelector')==['app=checkout'] or r['params'].get('labelSelector')=='app=checkout' for r in d), d[:2]
assert all(r['auth']=='ok' for r in d), [r['auth'] for r in d]
assert any('/namespaces/prod/pods' in r['path'] for r in d)"

"$CPGO" run -c "$T/config.yaml" --once --output "$T/out" 2>"$T/once.log"
check "--once: exit 0" [ $? -eq 0 ]
sleep 0.5
for i in 0 1 2 3; do check "--once: ready pod $i scraped" [ "$(ok_of "${PORTS[$i]}")" -eq 1 ]; done
check "--once: the not-ready pod is not scraped" [ "$(ok_of "${PORTS[4]}")" -eq 0 ]
check "--once: the pending pod is not scraped" [ "$(ok_of "${PORTS[5]}")" -eq 0 ]

# the daemon: pods change while it runs
"$CPGO" run -c "$T/config.yaml" --output "$T/out" 2>"$T/daemon.log" &
D=$!
check "daemon: admin endpoint up" wait_for "grep -q 'admin endpoint listening' '$T/daemon.log'" 10
AP=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/daemon.log" | grep -o '[0-9]*$')
check "daemon: a round finished" wait_for "grep -q 'service round finished' '$T/daemon.log'" 20
pod checkout-4 pod-ready "${PORTS[4]}" # became ready
check "daemon: a pod that became Ready is scraped" wait_for "[ \$(ok_of ${PORTS[4]}) -ge 1 ]" 20
ctl '{"action":"delete","res":"pods","namespace":"prod","name":"checkout-0"}'
sleep 5 # the watch event, then at least one full round
gone=$(ok_of "${PORTS[0]}")
sleep 5
check "daemon: a deleted pod is no longer scraped" [ "$(ok_of "${PORTS[0]}")" -le $((gone + 1)) ]
# the API fails from now on: the last good instances are still scraped
ctl '{"action":"fault","kind":"status","status":500,"count":1000}'
ctl '{"action":"expire"}'
check "daemon: the failure shows in /status" wait_for "curl -s http://127.0.0.1:$AP/status | grep -q '500'" 30
before=$(ok_of "${PORTS[1]}")
check "daemon: the last good instances are still scraped" wait_for "[ \$(ok_of ${PORTS[1]}) -gt $before ]" 20
curl -s "http://127.0.0.1:$AP/status" >"$T/status.json"
check "status: the source is failing, its last error named" python3 -c "
import json; d=json.load(open('$T/status.json'))
s=d['services'][0]['sources'][0]
assert s['kind']=='kubernetes' and not s['ok'] and '500' in s['last_error'], s
assert d['services'][0]['discovered']==4, d['services'][0]['discovered']"
curl -s "http://127.0.0.1:$AP/metrics" >"$T/metrics"
check "metrics: the source is down and failures counted" bash -c "grep -q 'cpgo_discovery_up{service=\"checkout\",source=\"kubernetes_sd_configs\[0\]\"} 0' '$T/metrics' && grep -q 'cpgo_discovery_failures_total{service=\"checkout\"' '$T/metrics'"
kill -TERM $D
wait $D
check "daemon: exit 0 on SIGTERM" [ $? -eq 0 ]
check "the token appears in no output" bash -c "! grep -rq '$TOKEN' '$T'/*.log '$T'/*.txt '$T/status.json' '$T/metrics' '$T/state'"
kill $K8S 2>/dev/null
stop_fleet
finish

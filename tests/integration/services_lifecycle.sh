#!/usr/bin/env bash
# services: (issue 11 §1-§3) the lifetime of a service's instances in daemon mode: an
# instance's transient failure is retried within its round (a busy single instance after
# the profile's duration); a reload while an instance waits to retry; a service-only target
# whose state could not be opened at the start; `cpgo discover` when a name never resolves.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 7 -samples 50 -locations 40 -functions 20
start_fleet "$T" --profile "$P" --count 2 --behaviour busy || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")

# ---- 1. daemon mode: a busy single instance is retried within its round -----------------
cat >"$T/busy.yaml" <<YAML
state_dir: $T/s1
services:
- name: single
  schedule: '@every 10s'
  seconds: 1
  timeout: 5s
  retries: 2
  static_configs:
  - targets: ['127.0.0.1:${PORTS[0]}']
  open_pull_request: {repository: 'https://github.com/acme/single', target_branch: main}
YAML
"$CPGO" run -c "$T/busy.yaml" --output "$T/o1" 2>"$T/busy.log" &
D=$!
check "busy: the round ends" wait_for "grep -q 'service round finished' '$T/busy.log'" 25
check "busy: the instance was retried after the profile's duration, in daemon mode too" \
  grep -q 'scrape failed, retrying.*class=busy.*attempt=2' "$T/busy.log"
kill -TERM $D
wait $D
check "busy: exit 0 on SIGTERM" [ $? -eq 0 ]

# ---- 2. a reload while an instance waits to retry -----------------------------------------
# An instance answers busy once, then records the Authorization header of each request.
# While it waits for its retry, the credentials file changes and the daemon reloads: the
# retry uses the configuration now in force (the old one is freed by the reload).
cat >"$T/instance.py" <<'PY'
import http.server, sys
port_file, log = sys.argv[1], sys.argv[2]
n = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global n
        n += 1
        with open(log, "a") as f:
            f.write("%d %s\n" % (n, self.headers.get("Authorization", "-")))
        body = b"Could not enable CPU profiling: cpu profiling already in use\n"
        self.send_response(500 if n == 1 else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(port_file + ".tmp", port_file)
s.serve_forever()
PY
python3 "$T/instance.py" "$T/inst.port" "$T/inst.log" &
IP=$!
wait_for "[ -s '$T/inst.port' ]" 10
umask 077
printf 'OLD-credential' >"$T/cred"
cat >"$T/reload.yaml" <<YAML
state_dir: $T/s2
services:
- name: authed
  schedule: '@every 10s'
  seconds: 2
  timeout: 4s
  retries: 1
  authorization: {credentials_file: $T/cred}
  static_configs:
  - targets: ['127.0.0.1:$(cat "$T/inst.port")']
  open_pull_request: {repository: 'https://github.com/acme/authed', target_branch: main}
YAML
"$CPGO" run -c "$T/reload.yaml" --output "$T/o2" 2>"$T/reload.log" &
D=$!
check "reload: the busy instance waits to retry" \
  wait_for "grep -q 'scrape failed, retrying.*class=busy' '$T/reload.log'" 20
printf 'NEW-credential' >"$T/cred"
kill -HUP $D
check "reload: the configuration is reloaded" wait_for "grep -q 'configuration reloaded' '$T/reload.log'" 10
check "reload: the retry was sent" wait_for "grep -q '^2 ' '$T/inst.log'" 15
check "reload: the first request had the old credential" grep -q '^1 Bearer OLD-credential$' "$T/inst.log"
check "reload: the retry has the reloaded credential ($(sed -n 2p "$T/inst.log"))" \
  grep -q '^2 Bearer NEW-credential$' "$T/inst.log"
check "reload: the round ends" wait_for "grep -q 'service round finished' '$T/reload.log'" 15
kill -TERM $D
wait $D
check "reload: exit 0 on SIGTERM" [ $? -eq 0 ]
check "reload: no credential in the log" bash -c "! grep -q 'credential' '$T/reload.log'"
kill $IP 2>/dev/null
wait $IP 2>/dev/null

# ---- 3. a service-only target whose state cannot be opened at the start -----------------
# (a file where its directory goes): its ticks skip the round and open the state again, as
# a backend's ticks do; once it opens, the rotation saved there is read, and rounds run.
"$CPGO_FAKEFLEET" --profile "$P" --count 3 --port-file "$T/ports3" --duration 300 \
  2>>"$T/fleet3.log" &
F3=$!
wait_for "[ -s '$T/ports3' ]" 10
mapfile -t P3 < <(awk '{print $1}' "$T/ports3")
cat >"$T/state.yaml" <<YAML
state_dir: $T/s3
services:
- name: stateful
  schedule: '@every 2s'
  seconds: 1
  timeout: 1900ms
  max_instances: 1
  static_configs:
  - targets: ['127.0.0.1:${P3[0]}', '127.0.0.1:${P3[1]}', '127.0.0.1:${P3[2]}']
  open_pull_request: {repository: 'https://github.com/acme/stateful', target_branch: main}
YAML
"$CPGO" run -c "$T/state.yaml" --once --output "$T/o3" 2>"$T/state0.log"
check "state: a first --once run" [ $? -eq 0 ]
TID=$(basename "$(ls -d "$T"/s3/targets/*/)")
ROT=$(ls "$T/s3/targets/$TID"/rotation-*.json)
check "state: the rotation is saved" [ -s "$ROT" ]
cp "$ROT" "$T/rotation.saved"
mv "$T/s3/targets/$TID" "$T/target.saved"
echo "not a directory" >"$T/s3/targets/$TID"
"$CPGO" run -c "$T/state.yaml" --output "$T/o3" 2>"$T/state.log" &
D=$!
check "state: the target's state cannot be opened" \
  wait_for "grep -q 'cannot open target state' '$T/state.log'" 10
check "state: rounds are skipped meanwhile" \
  wait_for "grep -q 'service round skipped.*the target.s state is unavailable' '$T/state.log'" 10
rm -f "$T/s3/targets/$TID"
mv "$T/target.saved" "$T/s3/targets/$TID"
check "state: once the state opens, the service's rounds run" \
  wait_for "grep -q 'service round finished.*scraped=1' '$T/state.log'" 20
kill -TERM $D
wait $D
check "state: exit 0 on SIGTERM" [ $? -eq 0 ]
check "state: the saved rotation was read, not started over" \
  bash -c "! grep -q 'rotation could not be read' '$T/state.log'"
check "state: the rotation continued from the saved one" python3 -c "
import json, sys
a = json.load(open('$T/rotation.saved')); b = json.load(open('$ROT'))
assert b['rounds'] > a['rounds'], (a, b)
"
kill $F3 2>/dev/null
wait $F3 2>/dev/null

# ---- 4. cpgo discover: a name whose DNS server never answers --------------------------------
# (a UDP socket that reads nothing): the source is read, the name is not resolved within
# --timeout: exit 1, and nothing is written (the state directory is not even created).
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(120)' "$T/udp.port" &
U=$!
wait_for "[ -s '$T/udp.port' ]" 10
cat >"$T/silent.yaml" <<YAML
state_dir: $T/s4
dns: {servers: ['127.0.0.1:$(cat "$T/udp.port")']}
services:
- name: web
  schedule: '@every 1m'
  static_configs:
  - targets: ['web-1.internal:6060', '127.0.0.1:${PORTS[1]}']
  open_pull_request: {repository: 'https://github.com/acme/web', target_branch: main}
YAML
"$CPGO" discover -c "$T/silent.yaml" --timeout 1s >"$T/discover.out" 2>"$T/discover.err"
rc=$?
check "discover: exit 1 when a name is not resolved in time (got $rc)" [ $rc -eq 1 ]
check "discover: says so" grep -q 'not every source answered within the timeout' "$T/discover.err"
check "discover: still lists what it found" grep -q "127.0.0.1:${PORTS[1]}" "$T/discover.out"
check "discover: writes nothing" [ ! -e "$T/s4" ]
kill $U 2>/dev/null
wait $U 2>/dev/null

stop_fleet
finish

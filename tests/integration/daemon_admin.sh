#!/usr/bin/env bash
# The admin endpoint of a running daemon (`listen:`): /healthz, /readyz, /metrics
# (Prometheus text format, the families the issue names, counts that match what happened),
# /status (JSON: backends with their class and error, targets with pending and publish
# state; credentials masked, the token absent), and the hardening seen from outside: 405,
# 404, 414, 431, a slowloris client dropped, pipelined requests answered in order.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 4 -samples 100 -locations 60 -functions 30
start_fleet "$T" --profile "$P" --count 2 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
"$CPGO_FAKEFLEET" --profile "$P" --port-file "$T/ports404" --behaviour notfound --count 1 --duration 300 2>>"$T/fleet.log" &
F2=$!
wait_for "[ -s '$T/ports404' ]" 10
P404=$(awk '{print $1}' "$T/ports404")
# a backend that echoes the credentials it is sent (in a 403 and in a 200 HTML page)
python3 - "$T/echo.port" <<'PY' &
import http.server, sys, threading, os
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_GET(self):
        H.n += 1
        body = ("<html>%s %s</html>" % (self.headers.get("Authorization"), self.path)).encode()
        self.send_response(403 if H.n % 2 else 200)
        self.send_header("Content-Type", "text/html"); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(srv.server_address[1])); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
threading.Timer(120, srv.shutdown).start()
srv.serve_forever()
PY
ECHO_PID=$!
wait_for "[ -s '$T/echo.port' ]" 10
EP=$(cat "$T/echo.port")
git init -q -b main "$T/repo"
echo 'package main' >"$T/repo/main.go"
git -C "$T/repo" add -A && git -C "$T/repo" -c user.name=H -c user.email=h@x commit -q -m init
cat >"$T/config.yaml" <<YAML
state_dir: $T/state
listen: 127.0.0.1:0
backends:
- url: http://127.0.0.1:${PORTS[0]}/debug/pprof/profile?seconds=1
  name: good-1
  schedule: '@every 2s'
  timeout: 1500ms
  open_pull_request: {repository: $T/repo, min_interval: 1s}
- url: http://user:s3cretpass@127.0.0.1:${PORTS[1]}/debug/pprof/profile?seconds=1
  name: good-2
  schedule: '@every 2s'
  timeout: 1500ms
  open_pull_request: {repository: $T/repo, min_interval: 1s}
- url: http://127.0.0.1:$P404/debug/pprof/profile?seconds=1
  name: missing
  schedule: '@every 2s'
  timeout: 1500ms
  open_pull_request: {repository: $T/repo, target_file: other/default.pgo}
- url: http://127.0.0.1:$EP/debug/pprof/profile?seconds=1&token=QUERYSECRET99
  name: echo
  schedule: '@every 2s'
  timeout: 1500ms
  headers: {Authorization: Bearer HDRSECRET123456}
  open_pull_request: {repository: $T/repo, target_file: echo/default.pgo}
YAML
GITHUB_TOKEN=ghp_admintesttokenneverprinted "$CPGO" run -c "$T/config.yaml" 2>"$T/log" &
pid=$!
trap 'kill $pid $F2 $ECHO_PID 2>/dev/null; stop_fleet' EXIT
check "listening logged" wait_for "grep -q 'admin endpoint listening' '$T/log'" 10
PORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/log" | grep -o '[0-9]*$')
A="http://127.0.0.1:$PORT"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "healthz 200" [ "$(code "$A/healthz")" = 200 ]
check "readyz 200" wait_for "[ \"\$(code $A/readyz)\" = 200 ]" 10
check "scrapes happened" wait_for "grep -q 'published: branch updated' '$T/log'" 15
sleep 2.5
curl -s "$A/metrics" >"$T/metrics"
for m in cpgo_scrapes_total cpgo_scrape_duration_seconds_bucket cpgo_scrape_received_bytes_total \
  cpgo_profiles_merged_total cpgo_merge_duration_seconds_count cpgo_publishes_total \
  cpgo_scrape_attempts_total cpgo_workqueue_depth cpgo_loop_lag_seconds \
  cpgo_scrape_connections_open cpgo_admin_open_connections cpgo_pending_scrapes; do
  check "metric $m present" grep -q "^$m" "$T/metrics"
done
check "exposition format: every line is a comment or name{labels} value" python3 - "$T/metrics" <<'PY'
import re, sys
ok = re.compile(r'^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|[+-]Inf|NaN))$')
bad = [l for l in open(sys.argv[1]).read().splitlines() if not ok.match(l)]
print("\n".join(bad[:5]), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
check "no GitHub: its rate-limit gauge has no value (absent, not -1)" \
  bash -c "grep -q '^# TYPE cpgo_github_rate_limit_remaining gauge' '$T/metrics' && ! grep -q '^cpgo_github_rate_limit_remaining' '$T/metrics'"
check "404 backend counted by class" grep -q 'cpgo_scrapes_total{backend="missing",target="[^"]*",class="http_4xx"} [1-9]' "$T/metrics"
check "ok scrapes counted" grep -q 'cpgo_scrapes_total{backend="good-1",target="[^"]*",class="ok"} [1-9]' "$T/metrics"
check "publishes counted" grep -q 'cpgo_publishes_total{target="[^"]*",outcome="pushed"} [1-9]' "$T/metrics"
curl -s "$A/status" >"$T/status.json"
check "status is JSON with 4 backends and 3 targets" python3 -c "
import json,sys; d=json.load(open('$T/status.json'))
assert len(d['backends'])==4 and len(d['targets'])==3, d
b={x['name']:x for x in d['backends']}
assert b['missing']['last_result']=='http_4xx' and b['missing']['last_error'], b['missing']
assert b['good-1']['last_success'] and b['good-1']['next_run'], b['good-1']
t=[x for x in d['targets'] if x['target'].endswith(':default.pgo')][0]
assert t['forge']=='local' and t['head_branch']=='cpgo/main/default.pgo' and t['last_publish'], t
"
check "status masks URL credentials" bash -c "! grep -q s3cretpass '$T/status.json' && grep -q 'user:xxxxx@' '$T/status.json'"
check "metrics and status never show the token" bash -c "! grep -q ghp_admintest '$T/status.json' '$T/metrics'"
check "the echoing backend was scraped both ways" bash -c "grep -q 'backend=echo.*class=http_4xx' '$T/log' && grep -q 'backend=echo.*bad_payload' '$T/log'"
check "echoed credentials are scrubbed from logs, status and metrics" \
  bash -c "! grep -q 'HDRSECRET\|QUERYSECRET' '$T/log' '$T/status.json' '$T/metrics'"
"$CPGO" check-config -c "$T/config.yaml" >"$T/dump" 2>&1
check "check-config masks them too" bash -c "! grep -q 'HDRSECRET\|QUERYSECRET' '$T/dump'"
check "POST is 405" [ "$(code -X POST "$A/metrics")" = 405 ]
check "unknown path is 404" [ "$(code "$A/nope")" = 404 ]
check "a 3 KB URL is 414" [ "$(code "$A/$(head -c 3000 /dev/zero | tr '\0' a)")" = 414 ]
check "20 KB of headers is 431" [ "$(code -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$A/healthz")" = 431 ]
check "pipelined requests answered in order" python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /status HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    c = s.recv(65536)
    if not c: break
    data += c
import re
codes = re.findall(r"HTTP/1\.1 (\d+) ", data.decode())
bodies = data.decode()
order = [bodies.find("loop_lag_seconds"), bodies.find('"backends"'), bodies.find("ready\n")]
sys.exit(0 if codes == ["200", "200", "200"] and order == sorted(order) and -1 not in order else 1)
PY
check "a slowloris client is dropped within the header deadline" python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(20)
t = time.time()
try:
    s.sendall(b"GET /healthz HTTP/1.1\r\n")
    for _ in range(30):
        time.sleep(1)
        s.sendall(b"X-a: b\r\n")
    sys.exit(1)
except (BrokenPipeError, ConnectionResetError):
    pass
sys.exit(0 if time.time() - t < 15 else 1)
PY
check "still healthy afterwards" [ "$(code "$A/healthz")" = 200 ]
kill -TERM $pid; wait $pid
check "exit 0" [ $? -eq 0 ]
finish

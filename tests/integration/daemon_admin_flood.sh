#!/usr/bin/env bash
# Health checks survive a client that holds many admin connections (reliability.md T15):
# while 200 idle and 200 trickling (slowloris) connections are held open, and reopened as
# the daemon closes them, every /healthz probe on a fresh connection (as the kubelet
# makes them) answers 200 within 1 s. At the connection cap the daemon closes the oldest
# connection that is not being answered (counted as evicted in /metrics) instead of
# refusing the new one; it keeps scraping meanwhile.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 5 -samples 50 -locations 30 -functions 20
start_fleet "$T" --profile "$P" --count 1 --delay-ms 100 || finish
FP=$(awk '{print $1}' "$T/ports")
cat >"$T/config.yaml" <<YAML
state_dir: $T/state
listen: 127.0.0.1:0
backends:
- url: http://127.0.0.1:$FP/debug/pprof/profile?seconds=1
  name: good
  schedule: '@every 2s'
  timeout: 1500ms
  open_pull_request: {repository: https://github.com/acme/app, target_branch: main}
YAML
"$CPGO" run -c "$T/config.yaml" --output "$T/out" 2>"$T/log" &
pid=$!
trap 'kill $pid $FLOOD 2>/dev/null; stop_fleet' EXIT
check "listening logged" wait_for "grep -q 'admin endpoint listening' '$T/log'" 10
PORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/log" | grep -o '[0-9]*$')
A="http://127.0.0.1:$PORT"

# The flood: 200 connections that never send a byte, 200 that send a request's header one
# byte every 0.5 s and never finish it. Closed ones are reopened (at most 40 per 0.1 s).
python3 - "$PORT" "$T/flood.out" <<'PY' &
import socket, sys, time, select
port, out = int(sys.argv[1]), sys.argv[2]
def conn(trickle):
    s = socket.socket(); s.setblocking(False)
    try: s.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    return {"s": s, "trickle": trickle, "sent": 0, "next": time.time() + 0.5}
conns = [conn(False) for _ in range(200)] + [conn(True) for _ in range(200)]
head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10000
opened = 400; closed_seen = 0
end = time.time() + 12
tick = time.time()
while time.time() < end:
    tick += 0.1
    time.sleep(max(0, tick - time.time()))
    now = time.time(); budget = 40
    r, _, _ = select.select([c["s"] for c in conns], [], [], 0)
    dead = set()
    for s in r:
        try:
            if not s.recv(4096): dead.add(s)
        except OSError: dead.add(s)
    for i, c in enumerate(conns):
        if c["trickle"] and c["s"] not in dead and now >= c["next"]:
            try:
                c["s"].send(head[c["sent"]:c["sent"] + 1]); c["sent"] += 1
            except (BlockingIOError, OSError): pass
            c["next"] = now + 0.5
        if c["s"] in dead and budget:
            c["s"].close(); conns[i] = conn(c["trickle"]); budget -= 1
            opened += 1; closed_seen += 1
open(out, "w").write("opened=%d closed_by_server=%d\n" % (opened, closed_seen))
PY
FLOOD=$!
sleep 2 # the flood is up: 400 connections, the cap is 256
ok_probes=0
slow=""
for i in $(seq 1 30); do
  res=$(curl -s -o /dev/null -w '%{http_code} %{time_total}s %{errormsg}' --max-time 1 "$A/healthz")
  if [ "${res%% *}" = 200 ]; then ok_probes=$((ok_probes + 1)); else slow="$slow [$i: $res]"; fi
  sleep 0.2
done
check "every /healthz probe answered 200 within 1 s under the flood ($ok_probes/30)$slow" \
  [ "$ok_probes" -eq 30 ]
curl -s --max-time 5 "$A/metrics" >"$T/metrics"
wait "$FLOOD"
check "the flood was held open and reopened: $(cat "$T/flood.out")" \
  grep -q 'closed_by_server=[1-9]' "$T/flood.out"
check "oldest idle connections evicted, counted" \
  grep -q 'cpgo_admin_rejected_total{reason="evicted"} [1-9]' "$T/metrics"
check "no connection refused while idle ones could make room" \
  grep -q 'cpgo_admin_rejected_total{reason="conn_limit"} 0' "$T/metrics"
check "open connections stay within the cap" python3 -c "
import re,sys; v=float(re.search(r'^cpgo_admin_open_connections (\S+)', open('$T/metrics').read(), re.M).group(1))
sys.exit(0 if v <= 256 + 128 else 1)"
check "scraping went on" grep -q 'cpgo_scrapes_total{backend="good",target="[^"]*",class="ok"} [1-9]' "$T/metrics"
check "daemon still running" kill -0 "$pid"
kill "$pid"
wait "$pid"
check "clean exit after SIGTERM" [ $? -eq 0 ]
finish

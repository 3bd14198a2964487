#!/usr/bin/env bash
# A reload that changes `dns:` (issue 11): discovery asks the new servers. Two dnsmasq
# servers answer the same SRV name with different instances; the daemon starts on the
# first, SIGHUP with a configuration naming the second: /status lists the second's
# instance and the fleet gets its scrapes (with the old resolver kept, the first server
# would go on answering).
. "$(dirname "$0")/lib.sh"
DNSMASQ=$(command -v dnsmasq 2>/dev/null)
for p in /usr/sbin/dnsmasq /sbin/dnsmasq; do [ -z "$DNSMASQ" ] && [ -x "$p" ] && DNSMASQ=$p; done
if [ -z "$DNSMASQ" ]; then
  echo "SKIP: dnsmasq is not installed (Debian package dnsmasq-base)"
  exit 77
fi
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 11 -samples 30 -locations 20 -functions 10
start_fleet "$T" --profile "$P" --count 2 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
free_dns_port() {
  python3 -c '
import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]; t = socket.socket()
    try: t.bind(("127.0.0.1", p))
    except OSError: continue
    print(p); break'
}
answers() { # answers PORT : true once the server answers the SRV name
  python3 - "$1" <<'PY'
import socket, struct, sys
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"".join(
    bytes([len(l)]) + l.encode() for l in "_pprof._tcp.r.test".split(".")) + b"\x00" + struct.pack(">HH", 33, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.3)
try:
    s.sendto(q, ("127.0.0.1", int(sys.argv[1]))); d = s.recv(4096)
    sys.exit(0 if struct.unpack(">H", d[6:8])[0] > 0 else 1)
except OSError:
    sys.exit(1)
PY
}
start_dns() { # start_dns NAME FLEETPORT : sets DNS_PORT_<NAME>, DNS_PID_<NAME>
  local name=$1 fport=$2 attempt port pid user=()
  [ "$(id -u)" -eq 0 ] && user=(--user=root)
  for attempt in 1 2 3 4 5 6; do
    port=$(free_dns_port)
    "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$port" \
      --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --local=/test/ \
      --pid-file= --host-record=inst.r.test,127.0.0.1 \
      --srv-host=_pprof._tcp.r.test,inst.r.test,"$fport" "${user[@]}" 2>>"$T/dns-$name.err" &
    pid=$!
    if wait_for "answers $port" 5; then
      eval "DNS_PORT_$name=$port DNS_PID_$name=$pid"
      return 0
    fi
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
  fail "dnsmasq $name did not start: $(tail -2 "$T/dns-$name.err")"
  finish
}
start_dns A "${PORTS[0]}"
start_dns B "${PORTS[1]}"
config() { # config DNSPORT
  cat >"$T/config.yaml" <<YAML
state_dir: $T/state
listen: 127.0.0.1:0
dns: {servers: ['127.0.0.1:$1']}
services:
- name: reload
  schedule: '@every 2s'
  seconds: 1
  timeout: 1900ms
  dns_sd_configs: [{names: ['_pprof._tcp.r.test'], refresh_interval: 1s}]
  open_pull_request: {repository: 'https://github.com/acme/reload', target_branch: main}
YAML
}
ok_of() { python3 -c "
import json; d=json.load(open('$T/stats.json'))
print(sum(e['ok'] for e in d['endpoints'] if e['port']==$1))"; }
config "$DNS_PORT_A"
"$CPGO" run -c "$T/config.yaml" --output "$T/out" 2>"$T/log" &
D=$!
check "admin endpoint up" wait_for "grep -q 'admin endpoint listening' '$T/log'" 10
AP=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/log" | grep -o '[0-9]*$')
check "server A's instance is scraped" wait_for "[ \$(ok_of ${PORTS[0]}) -ge 1 ]" 20
config "$DNS_PORT_B"
kill -HUP $D
check "the reload is applied" wait_for "grep -q 'configuration reloaded' '$T/log'" 10
check "a new resolver for the new dns settings" grep -q 'dns settings changed' "$T/log"
check "/status lists server B's instance" wait_for \
  "curl -s http://127.0.0.1:$AP/status | grep -q '127.0.0.1:${PORTS[1]}'" 20
check "server B's instance is scraped" wait_for "[ \$(ok_of ${PORTS[1]}) -ge 1 ]" 20
curl -s "http://127.0.0.1:$AP/status" >"$T/status.json"
check "/status no longer lists server A's instance" bash -c "! grep -q '127.0.0.1:${PORTS[0]}' '$T/status.json'"
kill -TERM $D
wait $D
check "exit 0 on SIGTERM" [ $? -eq 0 ]
kill "$DNS_PID_A" "$DNS_PID_B" 2>/dev/null
wait "$DNS_PID_A" "$DNS_PID_B" 2>/dev/null
stop_fleet
finish

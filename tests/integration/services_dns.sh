#!/usr/bin/env bash
# services: with dns_sd_configs (issue 11 §1, §3, "Real components"), against a real dnsmasq
# on 127.0.0.1 at a free port, given to cpgo as `dns.servers`. Names under svc.test are
# unknown to the system resolver, so every instance scraped proves cpgo resolved it through
# dns.servers itself:
#   - SRV records point at several fake-fleet ports behind one name: `cpgo discover` lists
#     them all, a `--once` round scrapes max_instances of them, each with the Host header
#     the record named (the fleet records it);
#   - A and AAAA names with a port (a small Python listener on 127.0.0.2, 127.0.0.3 and ::1);
#     static_configs and file_sd targets given as host names;
#   - churn between rounds in the daemon: the hosts file edited + SIGHUP (A), dnsmasq
#     restarted on the same port with other SRV records: new instances are scraped, gone
#     ones no longer (fleet counters, /status, /metrics);
#   - NXDOMAIN (no instances: rounds skipped with a warning, the daemon keeps running);
#     REFUSED, dnsmasq killed, a server that never answers: the source fails (log, /status,
#     metrics), the last good instances are still scraped, `cpgo discover` exits 1 naming
#     the source; then recovery;
#   - `--once` with a server that never answers: bounded by the discovery wait, not a hang;
#     what it knew is published, the source is a warning in the summary (exit 0).
. "$(dirname "$0")/lib.sh"

DNSMASQ=$(command -v dnsmasq 2>/dev/null)
for p in /usr/sbin/dnsmasq /sbin/dnsmasq; do [ -z "$DNSMASQ" ] && [ -x "$p" ] && DNSMASQ=$p; done
if [ -z "$DNSMASQ" ]; then
  echo "SKIP: dnsmasq is not installed (Debian package dnsmasq-base); it is this test's DNS server"
  exit 77
fi

# ---- helpers ----------------------------------------------------------------------------

# dnsq PORT NAME TYPE : asks 127.0.0.1:PORT once (the test's own eyes, not cpgo's resolver);
# prints "RCODE ANCOUNT ADDR..." or "none" when nothing answered within 300 ms.
cat >"$T/dnsq.py" <<'PY'
import socket, struct, sys, random
port, name, qtype = int(sys.argv[1]), sys.argv[2], {"A": 1, "AAAA": 28, "SRV": 33}[sys.argv[3]]
qid = random.randrange(65536)
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
q += struct.pack(">HH", qtype, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.3)
s.sendto(q, ("127.0.0.1", port))
try:
    r = s.recv(4096)
except OSError:
    print("none"); sys.exit(0)
an = struct.unpack(">H", r[6:8])[0]
out = [str(r[3] & 15), str(an)]
i = len(q)  # the answers follow the question; names are compressed pointers or labels
for _ in range(an):
    while r[i] and r[i] < 0xC0: i += r[i] + 1
    i += 2 if r[i] >= 0xC0 else 1
    t, _c, _ttl, rdlen = struct.unpack(">HHIH", r[i:i + 10]); i += 10
    if t == 1: out.append(socket.inet_ntop(socket.AF_INET, r[i:i + 4]))
    if t == 28: out.append(socket.inet_ntop(socket.AF_INET6, r[i:i + 16]))
    i += rdlen
print(" ".join(out))
PY
dnsq() { python3 "$T/dnsq.py" "$@"; }

# A port free for both UDP and TCP on 127.0.0.1 now (dnsmasq binds both).
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

# start_dns PORT : dnsmasq with the records in DNS_RECORDS (and DNS_LOCAL, the domain it
# answers for itself) at PORT (0: a free one; again with another when it cannot bind). Sets
# DNS_PID and DNS_PORT. As root dnsmasq would drop to nobody: it stays root (--user).
DNS_DIR="$T/dns"
mkdir -p "$DNS_DIR"
chmod 755 "$DNS_DIR"
: >"$DNS_DIR/hosts"
DNS_LOCAL=/test/
start_dns() {
  local want=$1 attempt port user=()
  [ "$(id -u)" -eq 0 ] && user=(--user=root)
  for attempt in 1 2 3 4 5 6 7 8; do
    port=$want
    [ "$port" -eq 0 ] && port=$(free_dns_port)
    "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$port" \
      --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
      --local="$DNS_LOCAL" --addn-hosts="$DNS_DIR/hosts" --pid-file="$DNS_DIR/pid" \
      --log-facility="$DNS_DIR/dnsmasq.log" "${user[@]}" "${DNS_RECORDS[@]}" \
      2>>"$DNS_DIR/stderr" &
    DNS_PID=$!
    DNS_PORT=$port
    local i
    for i in $(seq 1 50); do
      kill -0 "$DNS_PID" 2>/dev/null || break
      [ "$(dnsq "$port" probe.test A)" != none ] && return 0
    done
    kill -9 "$DNS_PID" 2>/dev/null; wait "$DNS_PID" 2>/dev/null
    [ "$want" -ne 0 ] && sleep 0.3 # the same port: give the old one time to go
  done
  fail "dnsmasq did not start: $(tail -3 "$DNS_DIR/stderr")"
  return 1
}
stop_dns() { kill "$DNS_PID" 2>/dev/null; wait "$DNS_PID" 2>/dev/null; }
# hosts_file TEXT SENTINEL : rewrites the addn-hosts file, sends SIGHUP until dnsmasq
# answers SENTINEL (a name only the new file has).
hosts_file() {
  printf '%s\n' "$1" >"$DNS_DIR/hosts.tmp" && mv "$DNS_DIR/hosts.tmp" "$DNS_DIR/hosts"
  local i
  for i in $(seq 1 100); do
    kill -HUP "$DNS_PID"
    case "$(dnsq "$DNS_PORT" "$2" A)" in "0 1"*) return 0 ;; esac
    sleep 0.1
  done
  fail "dnsmasq did not read its hosts file again"
}

# A listener for A/AAAA instances: one port on several addresses (the fake fleet binds only
# 127.0.0.1). Answers the profile at once and counts requests (and the last Host header)
# per address in a JSON file. Writes "PORT ADDR..." (the addresses it could bind) to a file.
cat >"$T/pyfleet.py" <<'PY'
import http.server, json, os, socket, sys, threading
portfile, profile, stats = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3]
want = sys.argv[4:]
lock = threading.Lock()
counts = {}
def dump():
    with open(stats + ".tmp", "w") as f: json.dump(counts, f)
    os.replace(stats + ".tmp", stats)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            c = counts[self.server.addr]
            c["requests"] += 1; c["host"] = self.headers.get("Host", ""); dump()
        if self.path.split("?")[0] != "/debug/pprof/profile":
            self.send_error(404); return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(profile)))
        self.end_headers()
        self.wfile.write(profile)
    def log_message(self, *a): pass
def server(addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    cls = type("S", (http.server.ThreadingHTTPServer,), {"address_family": fam})
    s = cls((addr, port), H); s.addr = addr; return s
for _ in range(20):
    first = server(want[0], 0); port = first.server_address[1]; servers = [first]
    try:
        for a in want[1:]:
            try: servers.append(server(a, port))
            except OSError as e:
                if ":" not in a: raise
                print("cannot bind [%s]:%d: %s" % (a, port, e), file=sys.stderr)
        break
    except OSError:
        for s in servers: s.server_close()
else:
    sys.exit("no port free on every address")
for s in servers:
    counts[s.addr] = {"requests": 0, "host": ""}
    threading.Thread(target=s.serve_forever, daemon=True).start()
dump()
with open(portfile + ".tmp", "w") as f: f.write(" ".join([str(port)] + [s.addr for s in servers]))
os.replace(portfile + ".tmp", portfile)
threading.Event().wait()
PY

# the fake fleet's counters for a port: ok (profiles delivered) and the last Host header
fleet_ok() { json_get "$T/stats.json" "[e['ok'] for e in d['endpoints'] if e['port']==$1][0]"; }
fleet_host() { json_get "$T/stats.json" "[e['host'] for e in d['endpoints'] if e['port']==$1][0]"; }
py_req() { json_get "$T/pystats.json" "d.get('$1', {}).get('requests', 0)"; }
py_host() { json_get "$T/pystats.json" "d.get('$1', {}).get('host', '')"; }
stats_now() { sleep 0.6; } # the fleet writes its stats every 100 ms

P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 7 -samples 50 -locations 40 -functions 20
start_fleet "$T" --profile "$P" --count 10 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")

python3 "$T/pyfleet.py" "$T/pyport" "$P" "$T/pystats.json" 127.0.0.2 127.0.0.3 ::1 \
  2>"$T/pyfleet.log" &
PYF=$!
wait_for "[ -s '$T/pyport' ]" 15 || { fail "the A/AAAA listener did not start: $(cat "$T/pyfleet.log")"; finish; }
read -r PA PYADDRS <"$T/pyport"
HAVE6=0
case " $PYADDRS " in *" ::1 "*) HAVE6=1 ;; esac

cleanup() {
  [ -n "${D:-}" ] && kill "$D" 2>/dev/null
  [ -n "${SILENT:-}" ] && kill "$SILENT" 2>/dev/null
  kill "$PYF" 2>/dev/null
  stop_dns
  stop_fleet
}
trap cleanup EXIT

# the records: SRV for five fleet ports behind one name, host names for static and file
# targets, A (two addresses) and AAAA names
DNS_RECORDS=(--host-record=inst.svc.test,127.0.0.1 --host-record=st.svc.test,127.0.0.1
  --host-record=fs.svc.test,127.0.0.1 --host-record=six.svc.test,::1)
for i in 0 1 2 3 4; do DNS_RECORDS+=("--srv-host=_pprof._tcp.svc.test,inst.svc.test,${PORTS[$i]}"); done
printf '127.0.0.2 a2.svc.test\n127.0.0.3 a2.svc.test\n127.0.0.2 a.svc.test\n' >"$DNS_DIR/hosts"
start_dns 0 || finish
check "dnsmasq answers the SRV name with 5 records" \
  bash -c "dnsq() { python3 '$T/dnsq.py' \"\$@\"; }; [ \"\$(dnsq $DNS_PORT _pprof._tcp.svc.test SRV | cut -d' ' -f1,2)\" = '0 5' ]"
check "the system resolver does not know inst.svc.test (so only dns.servers can)" \
  bash -c "! getent hosts inst.svc.test >/dev/null"

# ---- SRV: discover lists all, a --once round scrapes max_instances, Host kept -------------

cat >"$T/srv.yaml" <<YAML
state_dir: $T/state
dns: {servers: ['127.0.0.1:$DNS_PORT']}
services:
- name: srv
  schedule: '@every 1m'
  seconds: 1
  timeout: 10s
  max_instances: 2
  dns_sd_configs:
  - names: ['_pprof._tcp.svc.test']
  open_pull_request: {repository: 'https://github.com/acme/srv', target_branch: main}
YAML
"$CPGO" discover -c "$T/srv.yaml" >"$T/discover_srv.txt" 2>&1
check "discover SRV: exit 0 ($(head -c 300 "$T/discover_srv.txt"))" [ $? -eq 0 ]
check "discover SRV: 5 instances, 2 per round" \
  grep -q 'service srv: 5 instances (2 scraped per round)' "$T/discover_srv.txt"
for i in 0 1 2 3 4; do
  check "discover SRV: 127.0.0.1:${PORTS[$i]} found as inst.svc.test" \
    grep -q "^  127\.0\.0\.1:${PORTS[$i]} .*host inst\.svc\.test (dns_sd_configs\[0\]" "$T/discover_srv.txt"
done
srv_scraped() { # the SRV ports with a profile delivered, one per line
  local i
  for i in 0 1 2 3 4; do [ "$(fleet_ok "${PORTS[$i]}")" -gt 0 ] && echo "${PORTS[$i]}"; done
}
"$CPGO" run -c "$T/srv.yaml" --once --output "$T/out" 2>"$T/once_srv.log"
check "--once SRV: exit 0 ($(grep -m1 -i 'error\|fail' "$T/once_srv.log"))" [ $? -eq 0 ]
stats_now
mapfile -t GOT < <(srv_scraped)
check "--once SRV: max_instances (2) of the 5 scraped (${GOT[*]})" [ "${#GOT[@]}" -eq 2 ]
for p in "${GOT[@]}"; do
  check "--once SRV: port $p got Host inst.svc.test:$p (got '$(fleet_host "$p")')" \
    [ "$(fleet_host "$p")" = "inst.svc.test:$p" ]
done
check "--once SRV: the round says 2 of 5" \
  grep -q 'service round finished.*scraped=2 discovered=5' "$T/once_srv.log"
check "--once SRV: profiles written" bash -c "[ \$(find '$T/out' -name '*.pgo' | wc -l) -ge 1 ]"

# ---- A, AAAA, and host names in static_configs and file_sd --------------------------------

cat >"$T/named.json" <<JSON
[{"targets": ["fs.svc.test:${PORTS[6]}"]}]
JSON
six_cfg=""
if [ "$HAVE6" -eq 1 ]; then
  six_cfg="  - names: ['six.svc.test']
    type: AAAA
    port: $PA"
else
  echo "NOTE: cannot listen on [::1] ($(cat "$T/pyfleet.log")): the AAAA sub-check is skipped"
fi
cat >"$T/named.yaml" <<YAML
state_dir: $T/state
dns: {servers: ['127.0.0.1:$DNS_PORT']}
services:
- name: arec
  schedule: '@every 1m'
  seconds: 1
  timeout: 10s
  max_instances: 0
  dns_sd_configs:
  - names: ['a2.svc.test']
    type: A
    port: $PA
$six_cfg
  open_pull_request: {repository: 'https://github.com/acme/arec', target_branch: main}
- name: named
  schedule: '@every 1m'
  seconds: 1
  timeout: 10s
  max_instances: 0
  static_configs:
  - targets: ['st.svc.test:${PORTS[5]}']
  file_sd_configs:
  - files: ['named.json']
  open_pull_request: {repository: 'https://github.com/acme/named', target_branch: main}
YAML
"$CPGO" discover -c "$T/named.yaml" >"$T/discover_named.txt" 2>&1
check "discover A/AAAA/static/file: exit 0 ($(head -c 300 "$T/discover_named.txt"))" [ $? -eq 0 ]
check "discover A: both addresses of a2.svc.test" \
  bash -c "grep -q '^  127\.0\.0\.2:$PA ' '$T/discover_named.txt' && grep -q '^  127\.0\.0\.3:$PA ' '$T/discover_named.txt'"
if [ "$HAVE6" -eq 1 ]; then
  check "discover AAAA: [::1]:$PA" grep -q "^  \[::1\]:$PA " "$T/discover_named.txt"
  check "discover: arec has 3 instances" grep -q 'service arec: 3 instances' "$T/discover_named.txt"
fi
check "discover static: st.svc.test resolved through dns.servers" \
  grep -q "^  127\.0\.0\.1:${PORTS[5]} .*host st\.svc\.test (static_configs\[0\]" "$T/discover_named.txt"
check "discover file_sd: fs.svc.test resolved through dns.servers" \
  grep -q "^  127\.0\.0\.1:${PORTS[6]} .*host fs\.svc\.test (file_sd_configs\[0\]" "$T/discover_named.txt"
"$CPGO" run -c "$T/named.yaml" --once --output "$T/out" 2>"$T/once_named.log"
check "--once A/AAAA/static/file: exit 0 ($(grep -m1 -i 'error\|fail' "$T/once_named.log"))" [ $? -eq 0 ]
stats_now
check "--once A: 127.0.0.2:$PA scraped once ($(py_req 127.0.0.2))" [ "$(py_req 127.0.0.2)" -eq 1 ]
check "--once A: 127.0.0.3:$PA scraped once ($(py_req 127.0.0.3))" [ "$(py_req 127.0.0.3)" -eq 1 ]
if [ "$HAVE6" -eq 1 ]; then
  check "--once AAAA: [::1]:$PA scraped once ($(py_req ::1))" [ "$(py_req ::1)" -eq 1 ]
fi
check "--once static: st.svc.test:${PORTS[5]} scraped once" [ "$(fleet_ok "${PORTS[5]}")" -eq 1 ]
check "--once static: Host st.svc.test:${PORTS[5]} (got '$(fleet_host "${PORTS[5]}")')" \
  [ "$(fleet_host "${PORTS[5]}")" = "st.svc.test:${PORTS[5]}" ]
check "--once file_sd: fs.svc.test:${PORTS[6]} scraped once" [ "$(fleet_ok "${PORTS[6]}")" -eq 1 ]
check "--once file_sd: Host fs.svc.test:${PORTS[6]} (got '$(fleet_host "${PORTS[6]}")')" \
  [ "$(fleet_host "${PORTS[6]}")" = "fs.svc.test:${PORTS[6]}" ]

# ---- the daemon: churn, NXDOMAIN, failures, recovery --------------------------------------

# the churn name: two fleet ports at first
churn_records() { # churn_records PORT... : the base records plus the churn SRV name
  CHURN=()
  local p
  for p in "$@"; do CHURN+=("--srv-host=_pprof._tcp.churn.svc.test,inst.svc.test,$p"); done
}
BASE_RECORDS=("${DNS_RECORDS[@]}")
churn_records "${PORTS[7]}" "${PORTS[8]}"
DNS_RECORDS=("${BASE_RECORDS[@]}" "${CHURN[@]}")
stop_dns
start_dns "$DNS_PORT" || finish
cat >"$T/daemon.yaml" <<YAML
state_dir: $T/stated
listen: 127.0.0.1:0
dns: {servers: ['127.0.0.1:$DNS_PORT'], timeout: 1s}
services:
- name: churn
  schedule: '@every 2s'
  seconds: 1
  timeout: 1900ms
  max_instances: 0
  dns_sd_configs:
  - names: ['_pprof._tcp.churn.svc.test']
    refresh_interval: 1s
  open_pull_request: {repository: 'https://github.com/acme/churn', target_branch: main}
- name: arec
  schedule: '@every 2s'
  seconds: 1
  timeout: 1900ms
  max_instances: 0
  dns_sd_configs:
  - names: ['a.svc.test']
    type: A
    port: $PA
    refresh_interval: 1s
  open_pull_request: {repository: 'https://github.com/acme/arec', target_branch: main}
- name: nx
  schedule: '@every 2s'
  seconds: 1
  timeout: 1900ms
  dns_sd_configs:
  - names: ['_pprof._tcp.nx.svc.test']
    refresh_interval: 1s
  open_pull_request: {repository: 'https://github.com/acme/nx', target_branch: main}
YAML
"$CPGO" run -c "$T/daemon.yaml" --output "$T/outd" 2>"$T/daemon.log" &
D=$!
check "daemon: admin endpoint up" wait_for "grep -q 'admin endpoint listening' '$T/daemon.log'" 20
APORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/daemon.log" | grep -o '[0-9]*$')
status() { curl -s --max-time 10 "http://127.0.0.1:$APORT/status" >"$T/status.json"; }
metrics() { curl -s --max-time 10 "http://127.0.0.1:$APORT/metrics" >"$T/metrics"; }
# svc_field SERVICE EXPR : EXPR on the service's /status object `s`
svc_field() {
  status && python3 - "$T/status.json" "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = [x for x in d["services"] if x["name"] == sys.argv[2]][0]
print(eval(sys.argv[3]))
PY
}
svc_instances() { svc_field "$1" "' '.join(sorted(i['address'] for i in s['instances']))"; }
set_of() { printf '%s\n' "$@" | LC_ALL=C sort | xargs; } # as svc_instances sorts
src_error() { svc_field "$1" "s['sources'][0].get('last_error') or ''"; }
src_ok() { svc_field "$1" "s['sources'][0]['ok']"; }
fok_ge() { [ "$(fleet_ok "$1")" -ge "$2" ]; }
pyreq_ge() { [ "$(py_req "$1")" -ge "$2" ]; }

F7=127.0.0.1:${PORTS[7]}; F8=127.0.0.1:${PORTS[8]}; F9=127.0.0.1:${PORTS[9]}
check "daemon: churn's two SRV instances scraped" \
  wait_for "fok_ge ${PORTS[7]} 1 && fok_ge ${PORTS[8]} 1" 60
check "daemon: arec's 127.0.0.2 scraped" wait_for "pyreq_ge 127.0.0.2 2" 60
check "daemon: nx skips its rounds with a warning" \
  wait_for "grep -q 'level=warn.*service round skipped.*service=nx.*no instances discovered' '$T/daemon.log'" 30
check "status: churn lists its SRV instances ($(svc_instances churn))" [ "$(svc_instances churn)" = "$(set_of $F7 $F8)" ]
check "status: churn's instances keep the name inst.svc.test" \
  [ "$(svc_field churn "sorted(set(i['host'] for i in s['instances']))")" = "['inst.svc.test']" ]
check "status: nx has no instances and its source is ok (NXDOMAIN is an answer)" \
  [ "$(svc_field nx "(s['discovered'], s['sources'][0]['ok'], s['skipped_rounds'] >= 1)")" = "(0, True, True)" ]
metrics
check "metrics: churn's source has 2 instances" \
  grep -q 'cpgo_discovery_instances{service="churn",source="dns_sd_configs\[0\]"} 2' "$T/metrics"
check "metrics: churn's source is up" \
  grep -q 'cpgo_discovery_up{service="churn",source="dns_sd_configs\[0\]"} 1' "$T/metrics"
check "metrics: nx's source is up with 0 instances" \
  grep -q 'cpgo_discovery_instances{service="nx",source="dns_sd_configs\[0\]"} 0' "$T/metrics"

# A churn: the hosts file edited, SIGHUP; 127.0.0.3 replaces 127.0.0.2
hosts_file "$(printf '127.0.0.2 a2.svc.test\n127.0.0.3 a2.svc.test\n127.0.0.3 a.svc.test\n127.0.0.1 sentinel1.svc.test')" sentinel1.svc.test
check "churn A: status shows 127.0.0.3 only" wait_for "[ \"\$(svc_instances arec)\" = '127.0.0.3:$PA' ]" 30
check "churn A: 127.0.0.3 scraped" wait_for "pyreq_ge 127.0.0.3 2" 60 # 1 came from --once
old=$(py_req 127.0.0.2); new=$(py_req 127.0.0.3)
check "churn A: two more rounds on 127.0.0.3" wait_for "pyreq_ge 127.0.0.3 $((new + 2))" 60
check "churn A: 127.0.0.2 no longer scraped ($old then $(py_req 127.0.0.2))" [ "$(py_req 127.0.0.2)" -eq "$old" ]
check "churn A: scraped by address, Host is the address" [ "$(py_host 127.0.0.3)" = "127.0.0.3:$PA" ]

# SRV churn: dnsmasq restarted on the same port with other records; PORTS[9] replaces [7]
churn_records "${PORTS[8]}" "${PORTS[9]}"
DNS_RECORDS=("${BASE_RECORDS[@]}" "${CHURN[@]}")
stop_dns
start_dns "$DNS_PORT" || finish
check "churn SRV: status shows the new set" wait_for "[ \"\$(svc_instances churn)\" = '$(set_of $F8 $F9)' ]" 30
check "churn SRV: the new instance is scraped" wait_for "fok_ge ${PORTS[9]} 1" 60
o7=$(fleet_ok "${PORTS[7]}"); o8=$(fleet_ok "${PORTS[8]}"); o9=$(fleet_ok "${PORTS[9]}")
check "churn SRV: two more rounds on the new one" wait_for "fok_ge ${PORTS[9]} $((o9 + 2))" 60
check "churn SRV: the remaining one still scraped" fok_ge "${PORTS[8]}" $((o8 + 1))
check "churn SRV: the removed one no longer ($o7 then $(fleet_ok "${PORTS[7]}"))" \
  [ "$(fleet_ok "${PORTS[7]}")" -eq "$o7" ]
check "churn SRV: Host inst.svc.test:${PORTS[9]}" [ "$(fleet_host "${PORTS[9]}")" = "inst.svc.test:${PORTS[9]}" ]

# still_scraped DESC : the last good instances of churn (8, 9) and arec (127.0.0.3) are
# scraped two more rounds; 7 and 127.0.0.2 stay untouched
still_scraped() {
  local a8 a9 a3 a7 a2
  a7=$(fleet_ok "${PORTS[7]}"); a8=$(fleet_ok "${PORTS[8]}"); a9=$(fleet_ok "${PORTS[9]}")
  a3=$(py_req 127.0.0.3); a2=$(py_req 127.0.0.2)
  check "$1: the last good SRV instances are still scraped" \
    wait_for "fok_ge ${PORTS[8]} $((a8 + 2)) && fok_ge ${PORTS[9]} $((a9 + 2))" 60
  check "$1: the last good A instance is still scraped" wait_for "pyreq_ge 127.0.0.3 $((a3 + 2))" 60
  check "$1: nothing else is ($a7/$a2)" \
    [ "$(fleet_ok "${PORTS[7]}") $(py_req 127.0.0.2)" = "$a7 $a2" ]
  check "$1: churn still lists its last good instances" [ "$(svc_instances churn)" = "$(set_of $F8 $F9)" ]
}
# discover_fails SERVICE NEEDLE DESC : `cpgo discover` exits 1 naming the source and NEEDLE
discover_fails() {
  "$CPGO" discover -c "$T/daemon.yaml" --service "$1" >"$T/discover_fail.txt" 2>&1
  check "$3: discover exits 1 ($?)" [ $? -eq 1 ]
  check "$3: discover names the source and '$2' ($(head -c 400 "$T/discover_fail.txt"))" \
    grep -q "source dns_sd_configs\[0\]: FAILED: .*$2" "$T/discover_fail.txt"
}

# REFUSED: dnsmasq restarted without the churn name and no longer local for .test
DNS_RECORDS=("${BASE_RECORDS[@]}")
DNS_LOCAL=/other.invalid/
stop_dns
start_dns "$DNS_PORT" || finish
check "REFUSED: dnsmasq refuses the churn name" \
  [ "$(dnsq "$DNS_PORT" _pprof._tcp.churn.svc.test SRV | cut -d' ' -f1)" = 5 ]
check "REFUSED: the source fails, naming REFUSED in /status" \
  wait_for "src_error churn | grep -q 'SRV _pprof._tcp.churn.svc.test: 127.0.0.1:$DNS_PORT answered REFUSED'" 30
check "REFUSED: status says not ok" [ "$(src_ok churn)" = False ]
check "REFUSED: the failure is logged, naming the service and source" \
  wait_for "grep -q 'level=warn.*discovery source failed.*service=churn.*source=dns_sd_configs\[0\].*REFUSED' '$T/daemon.log'" 10
metrics
check "REFUSED: metric up 0" grep -q 'cpgo_discovery_up{service="churn",source="dns_sd_configs\[0\]"} 0' "$T/metrics"
check "REFUSED: metric failures counted" \
  grep -Eq 'cpgo_discovery_failures_total\{service="churn",source="dns_sd_configs\[0\]"\} [1-9]' "$T/metrics"
check "REFUSED: metric instances keep the last good 2" \
  grep -q 'cpgo_discovery_instances{service="churn",source="dns_sd_configs\[0\]"} 2' "$T/metrics"
still_scraped "REFUSED"
check "REFUSED: logged once, not at every refresh ($(grep -c 'discovery source failed.*service=churn' "$T/daemon.log"))" \
  [ "$(grep -c 'discovery source failed.*service=churn.*REFUSED' "$T/daemon.log")" -eq 1 ]
discover_fails churn "REFUSED" "REFUSED"
check "REFUSED: arec (hosts file) is still answered" [ "$(src_ok arec)" = True ]

# dnsmasq killed: nothing listens on the port any more
kill -9 "$DNS_PID"; wait "$DNS_PID" 2>/dev/null
check "killed: arec's source fails too" \
  wait_for "[ \"\$(src_ok arec)\" = False ] && src_error arec | grep -q 'A a.svc.test: '" 30
still_scraped "killed"
discover_fails arec "A a.svc.test" "killed"

# a server that never answers, on the same port
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").write("up"); time.sleep(3600)' "$DNS_PORT" "$T/silent.up" &
SILENT=$!
check "silent: the never-answering server is up" wait_for "[ -s '$T/silent.up' ]" 10
check "silent: the sources fail with a timeout" \
  wait_for "src_error churn | grep -q 'no answer from 127.0.0.1:$DNS_PORT within 1.0s' && src_error arec | grep -q 'no answer from'" 30
still_scraped "silent"
discover_fails churn "no answer from" "silent"
check "silent: the daemon is still running" kill -0 "$D"

# recovery: dnsmasq again, churn now only PORTS[9]
kill "$SILENT"; wait "$SILENT" 2>/dev/null; SILENT=
churn_records "${PORTS[9]}"
DNS_RECORDS=("${BASE_RECORDS[@]}" "${CHURN[@]}")
DNS_LOCAL=/test/
start_dns "$DNS_PORT" || finish
check "recovered: churn's source ok with the new set" \
  wait_for "[ \"\$(src_ok churn)\" = True ] && [ \"\$(svc_instances churn)\" = '$F9' ]" 30
check "recovered: arec's source ok" wait_for "[ \"\$(src_ok arec)\" = True ]" 30
# 9 was in the old set too: count rounds so that the one running at the change is over
rounds() { grep -c 'service round finished.*service=churn' "$T/daemon.log"; }
r0=$(rounds)
check "recovered: a round on the new set" wait_for "[ \$(rounds) -ge $((r0 + 2)) ]" 60
stats_now
o8=$(fleet_ok "${PORTS[8]}"); o9=$(fleet_ok "${PORTS[9]}")
check "recovered: the new set is scraped" wait_for "fok_ge ${PORTS[9]} $((o9 + 2))" 60
check "recovered: the dropped instance is not ($o8)" [ "$(fleet_ok "${PORTS[8]}")" -eq "$o8" ]
metrics
check "recovered: metric up 1" grep -q 'cpgo_discovery_up{service="churn",source="dns_sd_configs\[0\]"} 1' "$T/metrics"
check "recovered: logged" grep -q 'discovery source recovered.*service=churn' "$T/daemon.log"
check "daemon: never logged an error" bash -c "! grep -q 'level=error' '$T/daemon.log'"
kill -TERM "$D"
wait "$D"
check "daemon: exit 0 on SIGTERM" [ $? -eq 0 ]
D=

# ---- --once with a server that never answers: bounded by the discovery wait --------------

python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(3600)' "$T/silent.port" &
SILENT=$!
wait_for "[ -s '$T/silent.port' ]" 10
SP=$(cat "$T/silent.port")
cat >"$T/silent.yaml" <<YAML
state_dir: $T/states
dns: {servers: ['127.0.0.1:$SP'], timeout: 1m}
services:
- name: mixed
  schedule: '@every 1m'
  seconds: 1
  timeout: 10s
  max_instances: 0
  static_configs:
  - targets: ['127.0.0.1:${PORTS[5]}']
  dns_sd_configs:
  - names: ['_pprof._tcp.svc.test']
  open_pull_request: {repository: 'https://github.com/acme/mixed', target_branch: main}
YAML
before5=$(fleet_ok "${PORTS[5]}")
before_srv=0
for i in 0 1 2 3 4; do before_srv=$((before_srv + $(fleet_ok "${PORTS[$i]}"))); done
start=$(date +%s)
timeout 120 "$CPGO" run -c "$T/silent.yaml" --once --output "$T/outs" >"$T/once_silent.out" \
  2>"$T/once_silent.log"
rc=$?
took=$(($(date +%s) - start))
check "--once silent: not a hang (exit $rc after ${took}s)" [ "$rc" -ne 124 ]
check "--once silent: waited for discovery, within 30 s plus margin (${took}s)" \
  [ "$took" -ge 25 -a "$took" -le 75 ]
check "--once silent: says discovery did not answer in time" \
  grep -q 'discovery has not answered in time.*service=mixed' "$T/once_silent.log"
stats_now
after_srv=0
for i in 0 1 2 3 4; do after_srv=$((after_srv + $(fleet_ok "${PORTS[$i]}"))); done
check "--once silent: the static instance was scraped" [ "$(fleet_ok "${PORTS[5]}")" -eq $((before5 + 1)) ]
check "--once silent: nothing from the silent source" [ "$after_srv" -eq "$before_srv" ]
check "--once silent: exit 0, what it knew is published (rc $rc)" [ "$rc" -eq 0 ]
check "--once silent: the summary warns about the source ($(grep -A2 '^warnings' "$T/once_silent.out"))" \
  grep -q '^  github.com/acme/mixed@main:default.pgo: service mixed: discovery source dns_sd_configs\[0\] failed: no answer in time$' "$T/once_silent.out"
check "--once silent: the published file holds the static instance" bash -c "find '$T/outs' -name default.pgo | grep -q ."
check "--once silent: the failing source is named" grep -q 'discovery source failed.*service=mixed.*dns_sd_configs\[0\]' "$T/once_silent.log"
"$CPGO" discover -c "$T/silent.yaml" --timeout 3s >"$T/discover_silent.txt" 2>&1
check "discover silent: exit 1" [ $? -eq 1 ]
check "discover silent: names the source that did not answer" \
  grep -q 'source dns_sd_configs\[0\]: no answer in time' "$T/discover_silent.txt"
finish

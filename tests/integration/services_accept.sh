#!/usr/bin/env bash
# services: (issue 11) acceptance, end to end through `cpgo run` and `cpgo discover`, for
# what the other services_* tests leave out. Instances are python3 servers on loopback that
# serve a real profile and record every request (port, path, headers, TLS server name):
#  1. scheme https: tls_config.ca_file with server_name (verified; a wrong CA or a missing
#     server_name fails), insecure_skip_verify;
#  2. basic_auth and authorization on a service and on a backend reach the instances; the
#     secrets appear nowhere in the log, /status, /metrics, check-config, state_dir;
#  3. proxy_url: the scrape tunnels through a CONNECT proxy (its password masked);
#  4. headers, a path with its own query (seconds= appended), timeout = seconds + 15s;
#  5. max_instances: 0 = every instance every round; larger than the fleet;
#  6. cpgo discover: --service, --all (a duplicate address across sources, a bad file_sd
#     entry), exit 2 on a bad config or an unknown service, no lock, nothing written;
#  7. --shard I/N with services: each service scraped and published by exactly one shard;
#  8. one target holding a backend and a service, published to a local repository: one
#     file with both, one commit, the message saying "N of M discovered instances scraped";
#  9. SIGHUP adds a service and removes another while rounds run.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 11 -samples 40 -locations 30 -functions 15
S=$(samples_in "$P")

# ---- the instances -------------------------------------------------------------------------
cat >"$T/inst.py" <<'PY'
import http.server, json, os, socketserver, ssl, sys, threading
ports_file, log, prof, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cert = sys.argv[5:7]
body = open(prof, "rb").read()
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        sni = getattr(self.connection, "cpgo_sni", "") or ""
        rec = {"port": self.server.server_address[1], "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "sni": sni}
        with lock, open(log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
ctx = None
if cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert[0], cert[1])
    def on_sni(sock, name, _c):
        sock.cpgo_sni = name
    ctx.sni_callback = on_sni
ports = []
for _ in range(count):
    s = S(("127.0.0.1", 0), H)
    if ctx:
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
    ports.append(s.server_address[1])
    threading.Thread(target=s.serve_forever, daemon=True).start()
open(ports_file + ".tmp", "w").write("\n".join(map(str, ports)) + "\n")
os.rename(ports_file + ".tmp", ports_file)
threading.Event().wait()
PY
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
# start_inst NAME COUNT [CERT KEY] : NAME's ports in $T/NAME.ports, its requests in $T/NAME.log
start_inst() {
  local n=$1; shift
  python3 "$T/inst.py" "$T/$n.ports" "$T/$n.log" "$P" "$@" 2>>"$T/$n.err" &
  PIDS+=($!)
  wait_for "[ -s '$T/$n.ports' ]" 20 || fail "instances $n did not start: $(cat "$T/$n.err")"
  : >>"$T/$n.log"
}
# reqs NAME PORT [PYEXPR] : the requests PORT of NAME received (those where PYEXPR holds)
reqs() {
  python3 - "$T/$1.log" "$2" "${3:-True}" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["port"] == int(sys.argv[2]) and eval(sys.argv[3], {}, {"r": r, "h": r["headers"]}):
        n += 1
print(n)
PY
}
# svc NAME SCHEDULE TARGETS_YAML_LIST REPO [EXTRA_YAML_LINES...] : one services[] entry
svc() {
  local name=$1 sched=$2 targets=$3 repo=$4; shift 4
  echo "- name: $name"
  echo "  schedule: '$sched'"
  echo "  seconds: 1"
  for l in "$@"; do echo "  $l"; done
  echo "  static_configs: [{targets: [$targets]}]"
  echo "  open_pull_request: {repository: '$repo', target_branch: main}"
}

# ---- 1. TLS --------------------------------------------------------------------------------
mkdir -p "$T/tls"
(
  cd "$T/tls" || exit 1
  for ca in ca other; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $ca.key \
      -out $ca.pem -days 2 -subj "/CN=cpgo test $ca" 2>/dev/null || exit 1
  done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key \
    -out srv.csr -subj /CN=inst.test 2>/dev/null || exit 1
  printf 'subjectAltName=DNS:inst.test\n' >ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
    -extfile ext 2>/dev/null
) || fail "openssl: cannot make the test CA"
start_inst tls 3 "$T/tls/srv.pem" "$T/tls/srv.key"
mapfile -t TP <"$T/tls.ports"
tls_cfg() { # tls_cfg NAME PORT TLS_CONFIG_YAML
  echo "state_dir: $T/s_$1"
  echo "services:"
  svc "$1" '@every 1m' "'127.0.0.1:$2'" "https://github.com/acme/$1" 'scheme: https' \
    'timeout: 5s' "tls_config: $3"
}
once() { # once NAME CONFIG : `cpgo run --once` into $T/o_NAME, log $T/NAME.once.log; $rc
  "$CPGO" run -c "$2" --once --output "$T/o_$1" 2>"$T/$1.once.log"
  rc=$?
}
tls_cfg tlsok "${TP[0]}" "{ca_file: $T/tls/ca.pem, server_name: inst.test}" >"$T/tlsok.yaml"
once tlsok "$T/tlsok.yaml"
check "https + ca_file + server_name: exit 0 ($(tail -2 "$T/tlsok.once.log"))" [ "$rc" -eq 0 ]
check "https: the instance saw server_name in SNI" [ "$(reqs tls "${TP[0]}" 'r["sni"] == "inst.test"')" -eq 1 ]
check "https: the profile is published" [ "$(total_samples "$T/o_tlsok")" -eq "$S" ]
tls_cfg tlsother "${TP[1]}" "{ca_file: $T/tls/other.pem, server_name: inst.test}" >"$T/tlsother.yaml"
once tlsother "$T/tlsother.yaml"
check "https, another CA: the scrape fails (exit $rc)" [ "$rc" -ne 0 ]
check "https, another CA: no request reached the instance" [ "$(reqs tls "${TP[1]}")" -eq 0 ]
check "https, another CA: the log says why" \
  grep -q 'scrape failed.*class=tls .*error="SSL certificate problem: unable to get local issuer' "$T/tlsother.once.log"
tls_cfg tlsnoname "${TP[1]}" "{ca_file: $T/tls/ca.pem}" >"$T/tlsnoname.yaml"
once tlsnoname "$T/tlsnoname.yaml"
check "https without server_name: 127.0.0.1 is not in the certificate (exit $rc)" [ "$rc" -ne 0 ]
check "https without server_name: no request" [ "$(reqs tls "${TP[1]}")" -eq 0 ]
check "https without server_name: the log says why" \
  grep -q "scrape failed.*class=tls .*no alternative certificate subject name matches target host name '127.0.0.1'" "$T/tlsnoname.once.log"
tls_cfg tlsinsecure "${TP[1]}" "{insecure_skip_verify: true}" >"$T/tlsinsecure.yaml"
once tlsinsecure "$T/tlsinsecure.yaml"
check "https + insecure_skip_verify: exit 0 ($(tail -2 "$T/tlsinsecure.once.log"))" [ "$rc" -eq 0 ]
check "https + insecure_skip_verify: scraped" [ "$(reqs tls "${TP[1]}")" -eq 1 ]

# ---- 2. credentials on services and backends; secrets nowhere ------------------------------
start_inst plain 20
mapfile -t PP <"$T/plain.ports"
mkdir -p "$T/sec"
SPW='svc-pw-K4mX9qL2'; BPW='be-pw-R7tY1wE5'; SCRED='svc-cred-H8jN3bV6'; BCRED='be-cred-P0oI9uZ2'
printf '%s\n' "$SPW" >"$T/sec/svc_pw"; printf '%s\n' "$BPW" >"$T/sec/be_pw"
printf '%s\n' "$SCRED" >"$T/sec/svc_cred"; printf '%s\n' "$BCRED" >"$T/sec/be_cred"
chmod 600 "$T"/sec/*
b64() { printf '%s' "$1" | base64 -w0; }
SB64=$(b64 "svcuser:$SPW"); BB64=$(b64 "beuser:$BPW")
backend() { # backend NAME PORT EXTRA_YAML
  echo "- url: http://127.0.0.1:$2/debug/pprof/profile?seconds=1"
  echo "  name: $1"
  echo "  schedule: '@every 2s'"
  echo "  timeout: 1900ms"
  echo "  $3"
  echo "  open_pull_request: {repository: 'https://github.com/acme/$1', target_branch: main}"
}
{
  echo "state_dir: $T/s_auth"
  echo "listen: 127.0.0.1:0"
  echo "backends:"
  backend be-basic "${PP[2]}" "basic_auth: {username: beuser, password_file: $T/sec/be_pw}"
  backend be-bearer "${PP[3]}" "authorization: {type: Token, credentials_file: $T/sec/be_cred}"
  echo "services:"
  svc svc-basic '@every 2s' "'127.0.0.1:${PP[0]}'" https://github.com/acme/svc-basic \
    'timeout: 1900ms' "basic_auth: {username: svcuser, password_file: $T/sec/svc_pw}"
  svc svc-bearer '@every 2s' "'127.0.0.1:${PP[1]}'" https://github.com/acme/svc-bearer \
    'timeout: 1900ms' "authorization: {credentials_file: $T/sec/svc_cred}"
} >"$T/auth.yaml"
"$CPGO" run -c "$T/auth.yaml" --output "$T/o_auth" 2>"$T/auth.log" &
D=$!
check "auth: admin endpoint up" wait_for "grep -q 'admin endpoint listening' '$T/auth.log'" 15
APORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/auth.log" | grep -o '[0-9]*$')
all4() { local p; for p in 0 1 2 3; do [ "$(reqs plain "${PP[$p]}")" -ge 1 ] || return 1; done; }
check "auth: every instance and backend scraped" wait_for all4 30
check "auth: rounds finished" wait_for "grep -q 'service round finished.*service=svc-bearer' '$T/auth.log'" 20
curl -s "http://127.0.0.1:$APORT/status" >"$T/auth.status"
curl -s "http://127.0.0.1:$APORT/metrics" >"$T/auth.metrics"
kill -TERM $D
wait $D
check "auth: exit 0 on SIGTERM" [ $? -eq 0 ]
check "auth: service basic_auth reached the instance" \
  [ "$(reqs plain "${PP[0]}" "h.get('authorization') == 'Basic $SB64'")" -ge 1 ]
check "auth: service authorization (Bearer by default) reached the instance" \
  [ "$(reqs plain "${PP[1]}" "h.get('authorization') == 'Bearer $SCRED'")" -ge 1 ]
check "auth: backend basic_auth reached the backend" \
  [ "$(reqs plain "${PP[2]}" "h.get('authorization') == 'Basic $BB64'")" -ge 1 ]
check "auth: backend authorization with its type reached the backend" \
  [ "$(reqs plain "${PP[3]}" "h.get('authorization') == 'Token $BCRED'")" -ge 1 ]
check "auth: no request without its credentials" \
  [ "$(reqs plain "${PP[0]}" "'authorization' not in h")$(reqs plain "${PP[3]}" "'authorization' not in h")" = 00 ]
check "auth: /status lists the services" grep -q '"svc-basic"' "$T/auth.status"
check "auth: /metrics has the scrapes" grep -q 'cpgo_scrapes_total{backend="svc-basic"' "$T/auth.metrics"
"$CPGO" check-config -c "$T/auth.yaml" >"$T/auth.check" 2>&1
check "auth: check-config exit 0" [ $? -eq 0 ]
"$CPGO" discover -c "$T/auth.yaml" --all >"$T/auth.discover" 2>&1
"$CPGO" state -c "$T/auth.yaml" >"$T/auth.state" 2>&1
no_secret() { # no_secret PATH... : no secret, raw or base64-encoded, in any of the files
  ! grep -rqaF -e "$SPW" -e "$BPW" -e "$SCRED" -e "$BCRED" -e "$SB64" -e "$BB64" "$@"
}
has_secret() { ! no_secret "$@"; }
check "auth: (control) the search finds the secrets the instances saw" has_secret "$T/plain.log"
check "auth: no secret in the daemon's log" no_secret "$T/auth.log"
check "auth: no secret in /status" no_secret "$T/auth.status"
check "auth: no secret in /metrics" no_secret "$T/auth.metrics"
check "auth: no secret in check-config, discover, state" no_secret "$T/auth.check" "$T/auth.discover" "$T/auth.state"
check "auth: no secret in state_dir" no_secret "$T/s_auth"
check "auth: no secret in the published files" no_secret "$T/o_auth"

# ---- 3. proxy_url ----------------------------------------------------------------------------
PXPW='proxy-pw-M3nB8vC1'
coproc PX { python3 "$CPGO_SRC/tests/support/scrape_peers.py" proxy 127.0.0.1 \
  --auth "puser:$PXPW" --log "$T/proxy.log"; }
PIDS+=("$PX_PID")
read -r PXPORT <&"${PX[0]}"
tls_cfg proxied "${TP[2]}" "{ca_file: $T/tls/ca.pem, server_name: inst.test}" >"$T/proxied.yaml"
echo "  proxy_url: http://puser:$PXPW@127.0.0.1:$PXPORT" >>"$T/proxied.yaml"
once proxied "$T/proxied.yaml"
check "proxy_url: exit 0 ($(tail -2 "$T/proxied.once.log"))" [ "$rc" -eq 0 ]
check "proxy_url: the scrape tunnelled through the proxy" grep -qx "CONNECT 127.0.0.1:${TP[2]}" "$T/proxy.log"
check "proxy_url: the instance answered it" [ "$(reqs tls "${TP[2]}")" -eq 1 ]
"$CPGO" check-config -c "$T/proxied.yaml" >"$T/proxied.check" 2>&1
check "proxy_url: the password masked in check-config" grep -qF "puser:xxxxx@127.0.0.1:$PXPORT" "$T/proxied.check"
check "proxy_url: the password nowhere" bash -c "! grep -rqaF '$PXPW' '$T/proxied.once.log' '$T/proxied.check' '$T/s_proxied'"
sed -i "s|puser:$PXPW@|puser:wrong@|" "$T/proxied.yaml"
once proxied2 "$T/proxied.yaml"
check "proxy_url: a refused proxy fails the scrape (exit $rc)" [ "$rc" -ne 0 ]
check "proxy_url: still one request at the instance" [ "$(reqs tls "${TP[2]}")" -eq 1 ]

# ---- 4. headers, a path with a query, the default timeout -----------------------------------
{
  echo "state_dir: $T/s_hdr"
  echo "services:"
  echo "- name: hdr"
  echo "  schedule: '@every 1m'"
  echo "  seconds: 2"
  echo "  path: /debug/pprof/profile?foo=1"
  echo "  headers: {X-Team: pgo, X-Trace: 'a b'}"
  echo "  static_configs: [{targets: ['127.0.0.1:${PP[4]}']}]"
  echo "  open_pull_request: {repository: 'https://github.com/acme/hdr', target_branch: main}"
} >"$T/hdr.yaml"
once hdr "$T/hdr.yaml"
check "headers: exit 0 ($(tail -2 "$T/hdr.once.log"))" [ "$rc" -eq 0 ]
check "path: its query kept, seconds appended" \
  [ "$(reqs plain "${PP[4]}" "r['path'] == '/debug/pprof/profile?foo=1&seconds=2'")" -eq 1 ]
check "headers: both reached the instance" \
  [ "$(reqs plain "${PP[4]}" "h.get('x-team') == 'pgo' and h.get('x-trace') == 'a b'")" -eq 1 ]
"$CPGO" check-config -c "$T/hdr.yaml" >"$T/hdr.check" 2>&1
check "timeout: seconds + 15s shown by check-config" \
  grep -A12 '^- name: hdr$' "$T/hdr.check" | grep -q '^  timeout: 17s$'

# ---- 5. max_instances 0 and larger than the fleet --------------------------------------------
t5=""; for i in 5 6 7 8 9; do t5="$t5'127.0.0.1:${PP[$i]}', "; done
{ echo "state_dir: $T/s_all"; echo "services:"
  svc all '@every 1m' "${t5%, }" https://github.com/acme/all 'timeout: 5s' 'max_instances: 0'
} >"$T/all.yaml"
for r in 1 2; do
  once all "$T/all.yaml"
  check "max_instances 0, round $r: exit 0" [ "$rc" -eq 0 ]
  check "max_instances 0, round $r: all 5 scraped" grep -q 'service round finished.*scraped=5 discovered=5' "$T/all.once.log"
  for i in 5 6 7 8 9; do
    check "max_instances 0, round $r: 127.0.0.1:${PP[$i]} scraped $r times" [ "$(reqs plain "${PP[$i]}")" -eq "$r" ]
  done
done
{ echo "state_dir: $T/s_big"; echo "services:"
  svc big '@every 1m' "'127.0.0.1:${PP[10]}', '127.0.0.1:${PP[11]}', '127.0.0.1:${PP[12]}'" \
    https://github.com/acme/big 'timeout: 5s' 'max_instances: 50'
} >"$T/big.yaml"
"$CPGO" discover -c "$T/big.yaml" >"$T/big.discover" 2>&1
check "max_instances > fleet: discover says 3 per round" grep -q 'service big: 3 instances (3 scraped per round)' "$T/big.discover"
once big "$T/big.yaml"
check "max_instances > fleet: exit 0" [ "$rc" -eq 0 ]
check "max_instances > fleet: 3 of 3" grep -q 'service round finished.*scraped=3 discovered=3' "$T/big.once.log"
check "max_instances > fleet: each once" \
  [ "$(reqs plain "${PP[10]}")$(reqs plain "${PP[11]}")$(reqs plain "${PP[12]}")" = 111 ]
check "max_instances > fleet: published all three" [ "$(total_samples "$T/o_big")" -eq $((3 * S)) ]

# ---- 6. cpgo discover ------------------------------------------------------------------------
mkdir -p "$T/sd"
printf '[{"targets": ["127.0.0.1:%s", "127.0.0.1:%s"]}]\n' "${PP[13]}" "${PP[14]}" >"$T/sd/good.json"
printf '[{"targets": ["127.0.0.1:%s"]},\n {"targets": ["no-port-here"]}]\n' "${PP[15]}" >"$T/sd/bad.json"
{
  echo "state_dir: $T/s_disc"
  echo "listen: 127.0.0.1:0"
  echo "services:"
  echo "- name: alpha"
  echo "  schedule: '@every 1h'"
  echo "  static_configs: [{targets: ['127.0.0.1:${PP[13]}']}]"
  echo "  file_sd_configs: [{files: ['$T/sd/*.json']}]"
  echo "  open_pull_request: {repository: 'https://github.com/acme/alpha', target_branch: main}"
  echo "- name: beta"
  echo "  schedule: '@every 1h'"
  echo "  static_configs: [{targets: ['127.0.0.1:${PP[16]}']}]"
  echo "  open_pull_request: {repository: 'https://github.com/acme/beta', target_branch: main}"
} >"$T/disc.yaml"
"$CPGO" run -c "$T/disc.yaml" --output "$T/o_disc" 2>"$T/disc.log" &
D=$!
check "discover: the daemon is up on the same state_dir" \
  wait_for "grep -q 'admin endpoint listening' '$T/disc.log'" 15
sleep 1
snap() { find "$T/s_disc" "$T/o_disc" -printf '%p %s %T@ %m\n' 2>/dev/null | sort; }
snap >"$T/snap1"
"$CPGO" discover -c "$T/disc.yaml" --service beta >"$T/d_beta.out" 2>"$T/d_beta.err"
check "discover --service beta: exit 0 beside the daemon ($(cat "$T/d_beta.err"))" [ $? -eq 0 ]
check "discover --service beta: beta listed" grep -q "^service beta: 1 instance (1 scraped per round)" "$T/d_beta.out"
check "discover --service beta: its instance" grep -q "^  127\.0\.0\.1:${PP[16]} .*(static_configs\[0\])" "$T/d_beta.out"
check "discover --service beta: only beta" bash -c "! grep -q 'alpha' '$T/d_beta.out'"
"$CPGO" discover -c "$T/disc.yaml" --service alpha >"$T/d_alpha.out" 2>&1
check "discover alpha: exit 1, a file_sd file fails ($?)" [ $? -eq 1 ]
check "discover alpha: the dropped are counted" grep -q '(1 dropped; --all shows them)' "$T/d_alpha.out"
"$CPGO" discover -c "$T/disc.yaml" --all >"$T/d_all.out" 2>&1
check "discover --all: exit 1 ($?)" [ $? -eq 1 ]
check "discover --all: both services" \
  bash -c "grep -q '^service alpha: 2 instances' '$T/d_all.out' && grep -q '^service beta: ' '$T/d_all.out'"
check "discover --all: the duplicate across sources dropped, with why" \
  grep -q "^  - 127\.0\.0\.1:${PP[13]} (file_sd_configs\[0\]): the same address as static_configs\[0\]" "$T/d_all.out"
check "discover --all: the bad entry names the file and line" \
  grep -q "source file_sd_configs\[0\]: FAILED: .*sd/bad\.json:2: .*no-port-here" "$T/d_all.out"
check "discover --all: the good file's other target kept" grep -q "^  127\.0\.0\.1:${PP[14]} " "$T/d_all.out"
check "discover --all: the bad file's targets not used" bash -c "! grep -q ':${PP[15]}' '$T/d_all.out'"
snap >"$T/snap2"
check "discover: nothing written in state_dir or the output" cmp -s "$T/snap1" "$T/snap2"
check "discover: the daemon still runs" kill -0 $D
"$CPGO" discover -c "$T/disc.yaml" --service gamma >"$T/d_gamma.out" 2>"$T/d_gamma.err"
check "discover --service gamma: exit 2 ($?)" [ $? -eq 2 ]
check "discover --service gamma: says so" grep -q 'no service gamma in' "$T/d_gamma.err"
sed 's/^- name: beta$/- name: alpha/' "$T/disc.yaml" >"$T/disc_bad.yaml"
"$CPGO" discover -c "$T/disc_bad.yaml" >"$T/d_bad.out" 2>"$T/d_bad.err"
check "discover, a bad config: exit 2 ($?)" [ $? -eq 2 ]
check "discover, a bad config: names the file, line and key" \
  grep -q "disc_bad.yaml:[0-9]*:[0-9]*: services\[1\].name: 'alpha' is also the name of services\[0\]" "$T/d_bad.err"
check "discover, a bad config: nothing printed" [ ! -s "$T/d_bad.out" ]
kill -TERM $D
wait $D
check "discover: the daemon exits 0" [ $? -eq 0 ]

# ---- 7. --shard with services ------------------------------------------------------------------
{ echo "state_dir: $T/s_shard"; echo "services:"
  for i in 0 1 2 3 4 5; do
    svc "sh$i" '@every 1m' "'127.0.0.1:${PP[$((14 + i))]}'" "https://github.com/acme/sh$i" 'timeout: 5s'
  done
} >"$T/shard.yaml"
for i in 0 1 2 3 4 5; do base[$i]=$(reqs plain "${PP[$((14 + i))]}"); done
total=0
for s in 0 1 2; do
  sed "s|state_dir: $T/s_shard|state_dir: $T/s_shard$s|" "$T/shard.yaml" >"$T/shard$s.yaml"
  "$CPGO" run -c "$T/shard$s.yaml" --once --output "$T/o_shard$s" --shard $s/3 2>"$T/shard$s.log"
  check "shard $s/3: exit 0" [ $? -eq 0 ]
  n=$(find "$T/o_shard$s" -name default.pgo 2>/dev/null | wc -l)
  total=$((total + n))
  check "shard $s/3: says what it owns" grep -q "targets=\"$n of 6\" shard=$s/3" "$T/shard$s.log"
  check "shard $s/3: a service round per target it owns" \
    [ "$(grep -c 'service round finished.*scraped=1 discovered=1' "$T/shard$s.log")" -eq "$n" ]
done
check "every service published exactly once across shards ($total)" [ "$total" -eq 6 ]
check "no service in two shards" \
  [ "$(cd "$T" && find o_shard0 o_shard1 o_shard2 -name default.pgo | cut -d/ -f2- | sort | uniq -d | wc -l)" -eq 0 ]
for i in 0 1 2 3 4 5; do
  check "sh$i's instance scraped exactly once across shards" \
    [ "$(( $(reqs plain "${PP[$((14 + i))]}") - base[$i] ))" -eq 1 ]
done

# ---- 8. a backend and a service in one target, published to a local repository -----------
R="$T/repo"
git init -q -b main "$R"
echo 'package main' >"$R/main.go"
git -C "$R" add -A
git -C "$R" -c user.name=Human -c user.email=human@example.com commit -q -m init
{
  echo "state_dir: $T/s_local"
  echo "backends:"
  echo "- url: http://127.0.0.1:${PP[0]}/debug/pprof/profile?seconds=1"
  echo "  name: be"
  echo "  schedule: '@every 1m'"
  echo "  timeout: 5s"
  echo "  open_pull_request: {repository: $R, target_branch: main}"
  echo "services:"
  svc shop '@every 1m' "'127.0.0.1:${PP[1]}', '127.0.0.1:${PP[2]}', '127.0.0.1:${PP[3]}'" "$R" \
    'timeout: 5s' 'max_instances: 2'
} >"$T/local.yaml"
"$CPGO" check-config -c "$T/local.yaml" >"$T/local.check" 2>&1
check "one target holding the backend and the service" grep -q '^# 1 target' "$T/local.check"
BR=cpgo/main/default.pgo
for r in 1 2; do
  "$CPGO" run -c "$T/local.yaml" --once >"$T/local$r.log" 2>&1
  check "local round $r: exit 0 ($(tail -2 "$T/local$r.log"))" [ $? -eq 0 ]
  check "local round $r: published once" [ "$(grep -c 'msg="published' "$T/local$r.log")" -eq 1 ]
  check "local round $r: one commit on top of main" [ "$(git -C "$R" rev-list --count "main..$BR" 2>/dev/null)" = 1 ]
  check "local round $r: only default.pgo changed" [ "$(git -C "$R" diff --name-only main "$BR")" = default.pgo ]
  git -C "$R" log -1 --format=%B "$BR" >"$T/msg$r"
  check "local round $r: the message says 2 of 3 discovered instances scraped ($(grep -i discovered "$T/msg$r"))" \
    grep -q 'shop: 2 of 3 discovered instances scraped' "$T/msg$r"
done
git -C "$R" show "$BR:default.pgo" >"$T/local.pgo"
check "one file with both contributions: the backend's and 2 instances' per round, 2 rounds" \
  [ "$(samples_in "$T/local.pgo")" -eq $((6 * S)) ]

# ---- 9. SIGHUP: a service added, another removed, while rounds run --------------------------
hup_cfg() { # hup_cfg SERVICE_NAMES...
  echo "state_dir: $T/s_hup"
  echo "listen: 127.0.0.1:0"
  echo "services:"
  local n
  for n in "$@"; do
    case $n in
      keep) p="'127.0.0.1:${PP[5]}'" ;; old) p="'127.0.0.1:${PP[6]}', '127.0.0.1:${PP[7]}'" ;;
      new) p="'127.0.0.1:${PP[8]}', '127.0.0.1:${PP[9]}'" ;;
    esac
    svc "$n" '@every 2s' "$p" "https://github.com/acme/$n$KEEP_REPO" 'timeout: 1900ms' 'max_instances: 1'
  done
}
KEEP_REPO='' hup_cfg keep old >"$T/hup.yaml"
"$CPGO" run -c "$T/hup.yaml" --output "$T/o_hup" 2>"$T/hup.log" &
D=$!
check "hup: admin endpoint up" wait_for "grep -q 'admin endpoint listening' '$T/hup.log'" 15
HPORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/hup.log" | grep -o '[0-9]*$')
check "hup: old's rounds run" wait_for "grep -q 'service round finished.*service=old' '$T/hup.log'" 20
curl -s "http://127.0.0.1:$HPORT/metrics" >"$T/hup.metrics1"
check "hup: old in /metrics before" grep -q 'service="old"' "$T/hup.metrics1"
check "hup: a round of keep under way or done" wait_for "grep -q 'service round finished.*service=keep' '$T/hup.log'" 20
# keep moves to another repository (another target); old goes, new comes
KEEP_REPO=-moved hup_cfg keep new >"$T/hup.yaml"
new_before=$(( $(reqs plain "${PP[8]}") + $(reqs plain "${PP[9]}") ))
kill -HUP $D
check "hup: reloaded" wait_for "grep -q 'configuration reloaded' '$T/hup.log'" 10
check "hup: the added service's rounds run" \
  wait_for "grep -q 'service round finished.*service=new' '$T/hup.log'" 20
check "hup: the added service's instances are scraped" \
  [ $(( $(reqs plain "${PP[8]}") + $(reqs plain "${PP[9]}") )) -gt "$new_before" ]
n_keep=$(grep -c 'service round finished.*service=keep' "$T/hup.log")
check "hup: the kept service goes on" \
  wait_for "[ \$(grep -c 'service round finished.*service=keep' '$T/hup.log') -gt $n_keep ]" 20
old_after=$(( $(reqs plain "${PP[6]}") + $(reqs plain "${PP[7]}") ))
sleep 3
check "hup: the removed service is not scraped any more" \
  [ $(( $(reqs plain "${PP[6]}") + $(reqs plain "${PP[7]}") )) -eq "$old_after" ]
curl -s "http://127.0.0.1:$HPORT/metrics" >"$T/hup.metrics2"
curl -s "http://127.0.0.1:$HPORT/status" >"$T/hup.status"
check "hup: the removed service's series left /metrics ($(grep -c '"old"' "$T/hup.metrics2"))" \
  bash -c "! grep -q '=\"old\"' '$T/hup.metrics2'"
check "hup: the moved service's series left its old target" \
  bash -c "! grep -q 'target=\"github.com/acme/keep@' '$T/hup.metrics2'"
check "hup: the moved service's scrapes counted under its new target" \
  grep -q 'cpgo_scrapes_total{backend="keep",target="github.com/acme/keep-moved@main:default.pgo",class="ok"} [1-9]' "$T/hup.metrics2"
check "hup: the added service's series in /metrics" \
  grep -q 'cpgo_discovery_instances{service="new",source="static_configs\[0\]"} 2' "$T/hup.metrics2"
check "hup: /status lists keep and new, not old" python3 -c "
import json; d = json.load(open('$T/hup.status'))
assert sorted(s['name'] for s in d['services']) == ['keep', 'new'], d['services']"
kill -TERM $D
wait $D
check "hup: exit 0 on SIGTERM" [ $? -eq 0 ]
finish

#!/usr/bin/env bash
# services: with file_sd_configs (issue 11 §1, "Real components": real files edited, renamed
# into place and deleted while the daemon runs; "Bad input": invalid JSON/YAML and bad
# addresses keep the last good list, the error names the file and line). One service, a
# glob over two JSON files plus a YAML file, refresh_interval 1h so that every change is
# seen through the directory watch, not the timer. After each change the test waits until
# /status lists the new set, then for whole rounds after it, and reads which fake-fleet
# ports got profiles (new ones do, removed ones do not). Host names in the files resolve
# through a real dnsmasq (`dns.servers`): one resolves, one is NXDOMAIN, and one address is
# listed twice: `cpgo discover --all` shows the drops and why.
. "$(dirname "$0")/lib.sh"

DNSMASQ=$(command -v dnsmasq 2>/dev/null)
for p in /usr/sbin/dnsmasq /sbin/dnsmasq; do [ -z "$DNSMASQ" ] && [ -x "$p" ] && DNSMASQ=$p; done
if [ -z "$DNSMASQ" ]; then
  echo "SKIP: dnsmasq is not installed (Debian package dnsmasq-base); it resolves the files' host names"
  exit 77
fi

# ---- dnsmasq at a free port: fs.svc.test is 127.0.0.1, anything else under .test NXDOMAIN --
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
dns_up() { # dns_up PORT: dnsmasq answers (any rcode)
  python3 -c '
import socket, struct, sys
q = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x05probe\x04test\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.3)
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
try: s.recv(512)
except OSError: sys.exit(1)' "$1"
}
mkdir -p "$T/dns" && chmod 755 "$T/dns"
user=()
[ "$(id -u)" -eq 0 ] && user=(--user=root) # as root dnsmasq would drop to nobody
DNS_PID=
for attempt in 1 2 3 4 5 6 7 8; do
  DNS_PORT=$(free_dns_port)
  "$DNSMASQ" --keep-in-foreground --conf-file=/dev/null --port="$DNS_PORT" \
    --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --local=/test/ \
    --pid-file="$T/dns/pid" --log-facility="$T/dns/log" "${user[@]}" \
    --host-record=fs.svc.test,127.0.0.1 2>>"$T/dns/stderr" &
  DNS_PID=$!
  for _ in $(seq 1 50); do
    kill -0 "$DNS_PID" 2>/dev/null || break
    dns_up "$DNS_PORT" && break 2
  done
  kill -9 "$DNS_PID" 2>/dev/null; wait "$DNS_PID" 2>/dev/null; DNS_PID=
done
[ -n "$DNS_PID" ] || { fail "dnsmasq did not start: $(tail -3 "$T/dns/stderr")"; finish; }

P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 9 -samples 50 -locations 40 -functions 20
start_fleet "$T" --profile "$P" --count 8 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
cleanup() {
  [ -n "${D:-}" ] && kill "$D" 2>/dev/null
  kill "$DNS_PID" 2>/dev/null
  stop_fleet
}
trap cleanup EXIT

# ---- the daemon, started before any file exists --------------------------------------------
C="$T/cfg"
mkdir -p "$C"
cat >"$C/config.yaml" <<YAML
state_dir: $T/state
listen: 127.0.0.1:0
dns: {servers: ['127.0.0.1:$DNS_PORT']}
services:
- name: files
  schedule: '@every 2s'
  seconds: 1
  timeout: 1900ms
  max_instances: 0
  file_sd_configs:
  - files: ['targets/*.json', 'more.yaml']
    refresh_interval: 1h
  open_pull_request: {repository: 'https://github.com/acme/files', target_branch: main}
YAML
"$CPGO" run -c "$C/config.yaml" --output "$T/out" 2>"$T/daemon.log" &
D=$!
check "daemon: admin endpoint up" wait_for "grep -q 'admin endpoint listening' '$T/daemon.log'" 20
APORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/daemon.log" | grep -o '[0-9]*$')
check "no files yet: rounds skipped with a warning" \
  wait_for "grep -q 'level=warn.*service round skipped.*service=files.*no instances discovered' '$T/daemon.log'" 30

status() { curl -s --max-time 10 "http://127.0.0.1:$APORT/status" >"$T/status.json"; }
svc() { # svc EXPR : EXPR on the service's /status object `s` (its first source: `src`)
  status && python3 - "$T/status.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = [x for x in d["services"] if x["name"] == "files"][0]
src = s["sources"][0]
print(eval(sys.argv[2]))
PY
}
instances() { svc "' '.join(sorted(i['address'] for i in s['instances']))"; }
addrs() { # addrs INDEX... : the fleet addresses, sorted as instances() sorts them
  local i
  for i in "$@"; do echo "127.0.0.1:${PORTS[$i]}"; done | LC_ALL=C sort | xargs
}
rounds() { grep -c 'service round finished.*service=files' "$T/daemon.log"; }
counts() { # the fleet's ok per port, in index order
  python3 - "$T/stats.json" "${PORTS[@]}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
eps = {str(e["port"]): e["ok"] for e in d["endpoints"]}
print(" ".join(str(eps[p]) for p in sys.argv[2:]))
PY
}
# settle DESC INDEX... : /status lists exactly these fleet ports; then two rounds finish, so
# the next round began after the change
settle() {
  local d=$1; shift
  local want
  want=$(addrs "$@")
  if ! wait_for "[ \"\$(instances)\" = '$want' ]" 30; then
    fail "$d: /status lists $want (got '$(instances)')"
    return 1
  fi
  ok
  local r0
  r0=$(rounds)
  check "$d: rounds go on" wait_for "[ \$(rounds) -ge $((r0 + 2)) ]" 60
}
# scraped DESC "INDEX..." : over two more whole rounds exactly these ports get profiles
scraped() {
  local d=$1 want=" $2 "
  sleep 0.6 # the fleet writes its stats every 100 ms
  local before after r0 i
  before=($(counts))
  r0=$(rounds)
  if ! wait_for "[ \$(rounds) -ge $((r0 + 2)) ]" 60; then
    fail "$d: two more rounds did not finish"
    return
  fi
  sleep 0.6
  after=($(counts))
  local bad=""
  for i in "${!PORTS[@]}"; do
    local gained=$((after[i] - before[i]))
    case "$want" in
      *" $i "*) [ "$gained" -ge 1 ] || bad="$bad port[$i] not scraped;" ;;
      *) [ "$gained" -eq 0 ] || bad="$bad port[$i] scraped $gained times;" ;;
    esac
  done
  check "$d: scraped exactly ports [$2] (${bad:-ok})" [ -z "$bad" ]
}
# failing DESC NEEDLE : the source fails with NEEDLE in /status and in the log
failing() {
  export NEEDLE=$2 # through the environment: the needles hold quotes
  check "$1: /status last_error names it" \
    wait_for 'svc "src[\"ok\"] == False and __import__(\"os\").environ[\"NEEDLE\"] in (src.get(\"last_error\") or \"\")" | grep -q True' 30
  check "$1: the log names it" \
    wait_for 'grep -F "discovery source failed" "$T/daemon.log" | grep -q -F -- "$NEEDLE"' 10
}
J() { # J FILE TARGET... : a file_sd JSON file, one target per line
  local f=$1; shift
  {
    echo '[{"targets": ['
    local first=1 t
    for t in "$@"; do
      [ $first -eq 1 ] || echo ','
      printf '  "%s"' "$t"
      first=0
    done
    echo ''
    echo ']}]'
  } >"$f"
}
F() { echo "127.0.0.1:${PORTS[$1]}"; }

# created: the directory and two files under the glob, a YAML file beside them; a name that
# resolves through dnsmasq, one that does not, one address listed twice
mkdir -p "$C/targets"
J "$C/targets/a.json" "$(F 0)" "$(F 1)" "nosuch.svc.test:${PORTS[7]}"
J "$C/targets/b.json" "$(F 2)" "$(F 0)"
printf -- "- targets:\n  - '%s'\n  - 'fs.svc.test:%s'\n  labels: {env: test}\n" "$(F 3)" "${PORTS[4]}" >"$C/more.yaml"
settle "created" 0 1 2 3 4
scraped "created" "0 1 2 3 4"
check "created: fs.svc.test keeps its name" \
  [ "$(svc "[i['host'] for i in s['instances'] if i['address'].endswith(':${PORTS[4]}')]")" = "['fs.svc.test']" ]
check "created: the source is ok" [ "$(svc "src['ok']")" = True ]
"$CPGO" discover -c "$C/config.yaml" --all >"$T/discover1.txt" 2>&1
check "discover --all: exit 0 (drops are not failures)" [ $? -eq 0 ]
check "discover --all: 5 instances" grep -q 'service files: 5 instances (5 scraped per round)' "$T/discover1.txt"
check "discover --all: the NXDOMAIN name dropped, and why" \
  grep -q "^  - nosuch\.svc\.test:${PORTS[7]} (file_sd_configs\[0\]): does not resolve: no such name" "$T/discover1.txt"
check "discover --all: the duplicate dropped, and why" \
  grep -q "^  - 127\.0\.0\.1:${PORTS[0]} (file_sd_configs\[0\]): the same address as file_sd_configs\[0\]: .*targets/a\.json:0" "$T/discover1.txt"
check "discover --all: the YAML file's instance with its origin" \
  grep -q "^  127\.0\.0\.1:${PORTS[3]} .*(file_sd_configs\[0\]: .*more\.yaml:0)" "$T/discover1.txt"
"$CPGO" discover -c "$C/config.yaml" >"$T/discover1b.txt" 2>&1
check "discover without --all: says 2 dropped" grep -q '(2 dropped; --all shows them)' "$T/discover1b.txt"

# edited in place (the same inode): a.json now lists 0 and 5
ino=$(stat -c %i "$C/targets/a.json")
printf '[{"targets": ["%s", "%s"]}]\n' "$(F 0)" "$(F 5)" >"$C/targets/a.json"
check "edited in place: the same inode" [ "$(stat -c %i "$C/targets/a.json")" = "$ino" ]
settle "edited in place" 0 2 3 4 5
scraped "edited in place" "0 2 3 4 5"

# written to a temp file and renamed into place: b.json now lists 6
J "$C/targets/.b.json.tmp" "$(F 6)"
mv "$C/targets/.b.json.tmp" "$C/targets/b.json"
settle "renamed into place" 0 3 4 5 6
scraped "renamed into place" "0 3 4 5 6"

# deleted: a.json goes, and its instances with it
rm "$C/targets/a.json"
settle "deleted" 3 4 6
scraped "deleted" "3 4 6"

# invalid JSON (a trailing comma, line 3): b.json's last good list stays
printf '[\n  {"targets": ["%s",\n  ]}\n]\n' "$(F 7)" >"$C/targets/b.json"
failing "invalid JSON" "targets/b.json:3: invalid JSON"
check "invalid JSON: the last good instances stay" [ "$(instances)" = "$(addrs 3 4 6)" ]
scraped "invalid JSON" "3 4 6"
"$CPGO" discover -c "$C/config.yaml" --all >"$T/discover2.txt" 2>&1
check "discover --all with invalid JSON: exit 1" [ $? -eq 1 ]
check "discover --all with invalid JSON: FAILED naming the file and line" \
  grep -q 'source file_sd_configs\[0\]: FAILED: .*targets/b\.json:3: invalid JSON' "$T/discover2.txt"

# b.json fixed (7 replaces 6); more.yaml broken at line 3: its last good list stays
J "$C/targets/b.json" "$(F 7)"
printf -- "- targets:\n  - '%s'\n bad: [indent\n" "$(F 1)" >"$C/more.yaml"
failing "invalid YAML" "more.yaml:3: invalid YAML"
settle "invalid YAML: b.json's change is taken, more.yaml's last good list stays" 3 4 7
scraped "invalid YAML" "3 4 7"
check "invalid YAML: only the YAML file is in the error" \
  bash -c "! grep -q 'b\.json' <<<\"\$(python3 -c \"import json; d=json.load(open('$T/status.json')); print([x for x in d['services'] if x['name']=='files'][0]['sources'][0]['last_error'])\")\""

# more.yaml fixed; a bad address (no port) in a new file, line 3
printf -- "- targets:\n  - '%s'\n  - 'fs.svc.test:%s'\n" "$(F 3)" "${PORTS[4]}" >"$C/more.yaml"
printf '[\n  {"targets": [\n    "10.0.0.1"\n  ]}\n]\n' >"$C/targets/c.json"
failing "bad address" "targets/c.json:3: targets[0]: '10.0.0.1' has no port"
settle "bad address: the other files are taken" 3 4 7
scraped "bad address" "3 4 7"

# an unknown key (line 2) in c.json
printf '[{"targets": ["%s"],\n  "lables": {"env": "prod"}}]\n' "$(F 1)" >"$C/targets/c.json"
failing "unknown key" "targets/c.json:2: [0]: unknown key 'lables'"
scraped "unknown key" "3 4 7"
check "unknown key: the source still counts as failing" [ "$(svc "src['ok']")" = False ]

# fixed again: recovered
J "$C/targets/c.json" "$(F 1)"
check "fixed: the source is ok again" wait_for "svc \"src['ok'] and not src.get('last_error')\" | grep -q True" 30
settle "fixed" 1 3 4 7
scraped "fixed" "1 3 4 7"
check "fixed: the recovery is logged" grep -q 'discovery source recovered.*service=files.*source=file_sd_configs\[0\]' "$T/daemon.log"
check "failures counted in the metric" bash -c "curl -s 'http://127.0.0.1:$APORT/metrics' | grep -Eq 'cpgo_discovery_failures_total\{service=\"files\",source=\"file_sd_configs\[0\]\"\} [1-9]'"
"$CPGO" discover -c "$C/config.yaml" >"$T/discover3.txt" 2>&1
check "discover after the fix: exit 0" [ $? -eq 0 ]

# every file deleted: no instances; the rounds are skipped, the daemon keeps running
rm -f "$C/targets/"*.json "$C/more.yaml"
check "all deleted: /status lists nothing" wait_for "[ \"\$(svc 's[\"discovered\"]')\" = 0 ]" 30
sk=$(grep -c 'service round skipped.*service=files' "$T/daemon.log")
check "all deleted: rounds skipped" \
  wait_for "[ \$(grep -c 'service round skipped.*service=files' '$T/daemon.log') -gt $sk ]" 30
check "daemon: never logged an error" bash -c "! grep -q 'level=error' '$T/daemon.log'"
kill -TERM "$D"
wait "$D"
check "daemon: exit 0 on SIGTERM" [ $? -eq 0 ]
D=
finish

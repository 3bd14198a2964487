#!/usr/bin/env bash
# Discovery benchmark (issue 11): 100 services x 100 instances each, half found through
# file_sd (one JSON file per service), half through DNS SRV records served by a real
# dnsmasq on loopback, max_instances 10 -> 1,000 scrapes per round on the fake fleet
# (10,000 endpoints, each answering after 2 s). Beside it, in the same run, the same 1,000
# instances configured as static `backends:`. Each configuration runs one round
# (`cpgo run --once --output DIR`) REPEAT times, alternating; the report gives medians of
# the round's time (its start to the last merged scrape; for services the round starts
# once discovery's first answers are in, which is reported on its own), the process's wall
# time and CPU, the loop thread's own CPU and its largest lag, and peak RSS, and the ratios
# discovery / static.
#   bench/discovery.sh [--build DIR] [--repeat N]     (default build/, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=build repeat=3
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    *) echo "usage: bench/discovery.sh [--build DIR] [--repeat N]" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$build/cpgo" ] || scripts/build --dir "$build" >/dev/null
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || { echo "bench/discovery.sh: dnsmasq is needed (scripts/setup-deps)" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
out=$PWD/bench/out/discovery
rm -rf "$out" && mkdir -p "$out/sd"
NS=100 NI=100 PER=10
"$build/tests/cpgo-testgen" -o "$out/profile.pb.gz" -seed 7 -samples 2600 -locations 2200 \
  -functions 1100
"$build/tests/fakefleet/cpgo-fakefleet" --profile "$out/profile.pb.gz" --count $((NS * NI)) \
  --port-file "$out/ports" --delay-ms 2000 --duration 3600 2>"$out/fleet.log" &
fleet=$!
dns=
cleanup() { kill "$fleet" ${dns:+"$dns"} 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 400); do [ -s "$out/ports" ] && [ "$(wc -l <"$out/ports")" -eq $((NS * NI)) ] && break; sleep 0.05; done
mapfile -t PORTS < <(awk '{print $1}' "$out/ports")
# DNS: services NS/2..NS-1, one SRV name each, its 100 records on inst.bench.test
{
  echo "host-record=inst.bench.test,127.0.0.1"
  for s in $(seq $((NS / 2)) $((NS - 1))); do
    for i in $(seq 0 $((NI - 1))); do
      echo "srv-host=_pprof._tcp.svc$s.bench.test,inst.bench.test,${PORTS[$((s * NI + i))]}"
    done
  done
} >"$out/dnsmasq.conf"
chmod a+r "$out/dnsmasq.conf"
# a port free for both UDP and TCP (dnsmasq binds both); retried, as another process may
# take it between the check and dnsmasq's bind
for attempt in 1 2 3 4 5; do
  dport=$(python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass')
  "$DNSMASQ" --keep-in-foreground --port="$dport" --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --local=/bench.test/ --conf-file="$out/dnsmasq.conf" \
    --user="$(id -un)" --group="$(id -gn)" --pid-file= --log-facility="$out/dnsmasq.log" \
    2>>"$out/dnsmasq.err" &
  dns=$!
  sleep 1
  kill -0 "$dns" 2>/dev/null && break
  dns=
done
[ -n "$dns" ] || { echo "bench/discovery.sh: dnsmasq did not start: $(tail -2 "$out/dnsmasq.err")" >&2; exit 1; }
# file_sd: services 0..NS/2-1, one file each
for s in $(seq 0 $((NS / 2 - 1))); do
  python3 - "$s" "$NI" "${PORTS[@]:$((s * NI)):$NI}" >"$out/sd/svc$s.json" <<'PY'
import json, sys
print(json.dumps([{"targets": ["127.0.0.1:%s" % p for p in sys.argv[3:]], "labels": {"svc": sys.argv[1]}}]))
PY
done
common="limits: {max_concurrent_scrapes: 1100, max_queued_bodies: 256}"
{
  echo "state_dir: STATE"
  echo "$common"
  echo "dns: {servers: ['127.0.0.1:$dport']}"
  echo "services:"
  for s in $(seq 0 $((NS - 1))); do
    echo "- name: svc$s"
    echo "  schedule: '*/5 * * * *'"
    echo "  seconds: 2"
    echo "  max_instances: $PER"
    if [ "$s" -lt $((NS / 2)) ]; then
      echo "  file_sd_configs: [{files: ['$out/sd/svc$s.json']}]"
    else
      echo "  dns_sd_configs: [{names: ['_pprof._tcp.svc$s.bench.test']}]"
    fi
    echo "  open_pull_request: {repository: https://github.com/acme/svc$s, target_branch: main}"
  done
} >"$out/discovery.yaml"
# static: the instances a fresh rotation picks first are not known here; any 10 per
# service make the same 1,000 scrapes of the same fleet
{
  echo "state_dir: STATE"
  echo "$common"
  echo "backends:"
  for s in $(seq 0 $((NS - 1))); do
    for i in $(seq 0 $((PER - 1))); do
      echo "- url: http://127.0.0.1:${PORTS[$((s * NI + i))]}/debug/pprof/profile?seconds=2"
      echo "  schedule: '*/5 * * * *'"
      echo "  open_pull_request: {repository: https://github.com/acme/svc$s, target_branch: main}"
    done
  done
} >"$out/static.yaml"
"$build/cpgo" discover -c "$out/discovery.yaml" --timeout 20s >"$out/discover.txt" 2>&1 || {
  echo "bench/discovery.sh: discovery failed:" >&2; tail -5 "$out/discover.txt" >&2; exit 1; }
run() { # run KIND I -> "wall cpu loopcpu lagmax rss ok"
  local kind=$1 i=$2 d="$out/$1-$2"
  mkdir -p "$d"
  sed "s|STATE|$d/state|" "$out/$kind.yaml" >"$d/config.yaml"
  /usr/bin/time -f "%e %U %S %M" -o "$d/time" ${BENCH_WRAP:+$BENCH_WRAP -o $d/perf.data} "$build/cpgo" run --once -c "$d/config.yaml" \
    --output "$d/published" 2>"$d/cpgo.log" || true
  read -r wall user sys rss <"$d/time"
  local ok loop lag
  ok=$(grep -c 'msg="scrape merged"' "$d/cpgo.log" || true)
  loop=$(sed -n 's/.*loop_cpu_seconds=\([0-9.]*\).*/\1/p' "$d/cpgo.log" | tail -1)
  lag=$(sed -n 's/.*loop_lag_max_seconds=\([0-9.]*\).*/\1/p' "$d/cpgo.log" | tail -1)
  # the round: from its start (static: the process's start; services: the first service
  # round, after discovery's first answers) to the last merged scrape
  local times
  times=$(python3 - "$d/cpgo.log" <<'PY'
import re, sys
from datetime import datetime
def t(l): return datetime.strptime(re.search(r'time=(\S+)Z', l).group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
start = first = last = None
for l in open(sys.argv[1]):
    if 'msg=starting' in l and start is None: start = t(l)
    if 'msg="service round started"' in l and first is None: first = t(l)
    if 'msg="scrape merged"' in l: last = t(l)
first = first or start
print("%.3f %.3f" % (last - first, first - start))
PY
)
  echo "$kind $wall $(python3 -c "print($user + $sys)") ${loop:-0} ${lag:-0} $rss $ok $times"
}
: >"$out/runs"
for i in $(seq 1 "$repeat"); do
  run static "$i" >>"$out/runs"
  run discovery "$i" >>"$out/runs"
done
python3 - "$out/runs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for k, *v in rows:
    by.setdefault(k, []).append([float(x) for x in v])
def med(k, i): return statistics.median(r[i] for r in by[k])
print("1,000 scrapes per round (100 services x 10 of 100 instances); medians of %d runs each" % len(by["static"]))
print("%-10s %9s %9s %8s %8s %10s %10s %8s %5s" % ("config", "round s", "discov. s", "wall s", "cpu s", "loop cpu s", "loop lag s", "RSS MiB", "ok"))
for k in ("static", "discovery"):
    print("%-10s %9.2f %9.2f %8.2f %8.2f %10.3f %10.4f %8.1f %5d" % (k, med(k, 6), med(k, 7), med(k, 0), med(k, 1), med(k, 2), med(k, 3), med(k, 4) / 1024, med(k, 5)))
print("ratio discovery/static: round %.3f (beyond the 2 s profile %.3f), cpu %.3f, loop cpu %.3f, RSS %.3f" % (
    med("discovery", 6) / med("static", 6), (med("discovery", 6) - 2) / (med("static", 6) - 2),
    med("discovery", 1) / med("static", 1), med("discovery", 2) / max(med("static", 2), 1e-9),
    med("discovery", 4) / med("static", 4)))
PY

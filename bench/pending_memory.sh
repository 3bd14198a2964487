#!/usr/bin/env bash
# Pending-memory benchmark (limits.max_pending_memory, issue 14): a daemon (`cpgo run`, not
# --once) with N targets x 1 fake backend serving a heavy Go-like CPU profile (cpgo-testgen
# -heavy, five seeds: ~300 KB raw / ~170 KB gzip, labels on every sample), each target publishing into its own
# local git repository with min_interval 1h, so pending grows across rounds (round 1 pushes,
# rounds 2 and 3 stay pending). After the third round, with no scrape in flight and the work
# queue empty (read from /metrics), it prints the daemon's VmRSS against
# max_pending_memory + 150 MB, the pending memory cpgo counts and the spills; then the same
# with the budget raised to unlimited (1024GiB), for comparison.
#   bench/pending_memory.sh [-n N] [--budget SIZE] [--every SECONDS] [--rounds R]
#   defaults: N=1000, budget 256MiB, a round every max(20, N/20) s, 3 rounds
# Needs ~3 GB of memory for the unlimited run at N=1000; -n 100 runs in a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib-bench.sh
n=1000 budget=256MiB every= rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n=$2; shift ;;
    --budget) budget=$2; shift ;;
    --every) every=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    *) echo "usage: bench/pending_memory.sh [-n N] [--budget SIZE] [--every S] [--rounds R]" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$every" ] || every=$(( n / 20 > 20 ? n / 20 : 20 ))
bench_tools pending_memory
out=$PWD/bench/out/pending_memory
rm -rf "$out" && mkdir -p "$out"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
profiles=()
for s in 1 2 3 4 5; do
  "$CPGO_TESTGEN" -heavy -seed "$s" -o "$out/heavy$s.pb.gz"
  profiles+=(--profile "$out/heavy$s.pb.gz")
done
export HOME=$out GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git init -q -b main "$out/template"
mkdir -p "$out/template/cmd/app" && echo 'package main' >"$out/template/cmd/app/main.go"
git -C "$out/template" add -A
git -C "$out/template" -c user.name=b -c user.email=b@example.com commit -q -m init

metric() { # metric PORT NAME: the sum of a metric's series
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d\n", s }'
}

run() { # run LABEL BUDGET
  local label=$1 b=$2 dir=$out/$1
  mkdir -p "$dir"
  for i in $(seq 1 "$n"); do rm -rf "$dir/repo$i"; cp -r "$out/template" "$dir/repo$i"; done
  "$CPGO_FAKEFLEET" "${profiles[@]}" --count "$n" --port-file "$dir/ports" \
    --delay-ms 200 --stats "$dir/stats.json" --duration 3600 2>"$dir/fleet.log" &
  local fleet=$!
  for _ in $(seq 1 400); do [ -s "$dir/ports" ] && break; sleep 0.05; done
  {
    echo "state_dir: $dir/state"
    echo "listen: 127.0.0.1:0"
    echo "limits: {max_concurrent_scrapes: 256, max_queued_bodies: 256, max_pending_memory: $b}"
    echo "backends:"
    local i=0 port
    while read -r port _; do
      i=$((i + 1))
      echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
      echo "  schedule: '@every ${every}s'"
      echo "  timeout: 10s"
      echo "  open_pull_request: {repository: $dir/repo$i, min_interval: 1h}"
    done <"$dir/ports"
  } >"$dir/config.yaml"
  "$CPGO" run -c "$dir/config.yaml" 2>"$dir/cpgo.log" &
  local pid=$! port=
  for _ in $(seq 1 600); do
    port=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$dir/cpgo.log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "$label: cpgo exited: $(tail -2 "$dir/cpgo.log")" >&2; kill "$fleet"; return 1; }
    sleep 0.1
  done
  local want=$((n * rounds)) merged=0 start=$SECONDS
  while :; do
    merged=$(metric "$port" cpgo_profiles_merged_total)
    if [ "$merged" -ge "$want" ] && [ "$(metric "$port" cpgo_scrape_connections_open)" -eq 0 ] &&
      [ "$(metric "$port" cpgo_workqueue_depth)" -eq 0 ] &&
      [ "$(metric "$port" cpgo_publish_queue_length)" -eq 0 ]; then break; fi
    kill -0 "$pid" 2>/dev/null || { echo "$label: cpgo exited: $(tail -2 "$dir/cpgo.log")" >&2; kill "$fleet"; return 1; }
    if [ $((SECONDS - start)) -gt $((every * (rounds + 3) + 600)) ]; then
      echo "$label: timed out with $merged of $want scrapes merged" >&2
      break
    fi
    sleep 1
  done
  local rss pend spills
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
  pend=$(metric "$port" cpgo_pending_memory_bytes)
  spills=$(metric "$port" cpgo_pending_spills_total)
  kill -TERM "$pid"; wait "$pid" || true
  kill "$fleet" 2>/dev/null || true; wait "$fleet" 2>/dev/null || true
  python3 - "$label" "$b" "$rss" "$pend" "$spills" "$merged" <<'PY'
import sys
label, b, rss, pend, spills, merged = sys.argv[1:]
units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
bb = next((int(b[:-3]) * v for k, v in units.items() if b.endswith(k)), None) or int(b)
rss, pend = int(rss) * 1024, int(pend)
limit = bb + 150 * 1000 * 1000
verdict = ("within" if rss <= limit else "OVER") if bb < 1 << 40 else "(unlimited)"
print(f"{label:<10} budget {b:>8}  RSS {rss/2**20:8.1f} MiB  limit {limit/2**20:8.1f} MiB {verdict:<11}"
      f"  counted pending {pend/2**20:8.1f} MiB  spills {int(spills):6}  merged {merged}")
PY
  rm -rf "$dir"/repo*
}
echo "N=$n targets, a round every ${every}s, after $rounds rounds (the machine may be shared: RSS is not timing, but run it quiet for final numbers)"
run budget "$budget"
run unlimited 1024GiB

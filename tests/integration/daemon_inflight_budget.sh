#!/usr/bin/env bash
# Endless response bodies from many backends cost at most limits.max_inflight_bytes
# (reliability.md T16): 24 backends stream chunked bodies that never end, each allowed
# 64 MiB (max_body_bytes, so 1.5 GiB together), under a 24 MiB budget. The daemon's peak
# RSS (VmHWM) stays under its base + the budget + a fixed margin, the scrapes fail with
# class inflight_limit (in /metrics and /status; a slow build may also see some reach
# their timeout first), and a normal backend scraped in the same rounds still gets its
# profiles merged. The workload is counted, not timed: the endless scrapes' timeout is far
# longer than filling the budget takes, and the test waits until N of them have given way.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 6 -samples 200 -locations 100 -functions 50
N=24
BUDGET_MIB=24
mkdir -p "$T/endless" "$T/normal"
# the first bodies start after 2 s, so the base RSS can be read before them
start_fleet "$T/endless" --profile "$P" --count $N --behaviour endless --delay-ms 2000 || finish
ENDLESS_PID=$FLEET_PID
start_fleet "$T/normal" --profile "$P" --count 1 --delay-ms 2000 || finish
NORMAL_PID=$FLEET_PID
{
  echo "state_dir: $T/state"
  echo "listen: 127.0.0.1:0"
  echo "limits: {max_inflight_bytes: ${BUDGET_MIB}MiB, max_body_bytes: 64MiB}"
  echo "backends:"
  while read -r port _; do
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  name: endless-$port"
    echo "  schedule: '@every 30s'"
    echo "  timeout: 25s"
    echo "  retries: 0"
    echo "  open_pull_request: {repository: https://github.com/acme/hostile, target_branch: main}"
  done <"$T/endless/ports"
  echo "- url: http://127.0.0.1:$(awk '{print $1}' "$T/normal/ports")/debug/pprof/profile?seconds=1"
  echo "  name: normal"
  echo "  schedule: '@every 5s'"
  echo "  timeout: 4500ms"
  echo "  open_pull_request: {repository: https://github.com/acme/app, target_branch: main}"
} >"$T/config.yaml"
# ASan keeps freed memory in a quarantine (256 MiB by default) that would count as RSS
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=4" \
  "$CPGO" run -c "$T/config.yaml" --output "$T/out" 2>"$T/log" &
pid=$!
trap 'kill $pid $ENDLESS_PID $NORMAL_PID 2>/dev/null' EXIT
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
check "listening logged" wait_for "grep -q 'admin endpoint listening' '$T/log'" 10
PORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/log" | grep -o '[0-9]*$')
A="http://127.0.0.1:$PORT"
base=$(kb VmRSS)
check "normal profiles merged meanwhile" wait_for "[ \$(grep -c 'msg=\"scrape merged\" backend=normal' '$T/log') -ge 2 ]" 60
# every endless scrape of a round gives way (the largest first) long before its timeout
gave_way() {
  curl -s "$A/metrics" | python3 -c "
import re, sys
n = sum(float(v) for v in re.findall(r'^cpgo_scrapes_total\{backend=\"endless-\d+\",[^}]*class=\"inflight_limit\"\} (\S+)', sys.stdin.read(), re.M))
sys.exit(0 if n >= $1 else 1)"
}
check "$N endless scrapes gave way" wait_for "gave_way $N" 120
curl -s "$A/metrics" >"$T/metrics"
curl -s "$A/status" >"$T/status.json"
hwm=$(kb VmHWM)
grown=$(( (hwm - base) / 1024 ))
limit=$(( BUDGET_MIB + BUDGET_MIB / 8 + 16 )) # curl, metrics, ASan shadow memory
echo "base ${base} kB, peak ${hwm} kB: grew ${grown} MiB (budget ${BUDGET_MIB} MiB, limit ${limit} MiB)"
# ThreadSanitizer's shadow memory and 5-15x slowdown make RSS and per-round counts
# meaningless there: that build checks races, the normal and ASan builds check the bound
TSAN=0
ldd "$CPGO" 2>/dev/null | grep -q libtsan && TSAN=1
if [ "$TSAN" = 1 ]; then
  echo "note: ThreadSanitizer build: the RSS bound and per-round counts are not judged"
else
  check "peak RSS grew by ${grown} MiB, at most budget + margin (${limit} MiB)" [ "$grown" -le "$limit" ]
fi
check "the budget was used: cpgo_scrape_inflight_peak_bytes near ${BUDGET_MIB} MiB" python3 -c "
import re,sys; t=open('$T/metrics').read()
peak=float(re.search(r'^cpgo_scrape_inflight_peak_bytes (\S+)', t, re.M).group(1))
budget=float(re.search(r'^cpgo_scrape_inflight_budget_bytes (\S+)', t, re.M).group(1))
print(peak, budget, file=sys.stderr); sys.exit(0 if budget == $BUDGET_MIB * 2**20 and budget / 2 < peak <= budget else 1)"
# every attempt (retries too) of the endless backends; the classes at zero are the series
# every configured backend has from the start
check "the endless scrapes failed with class inflight_limit in /metrics (or timeout, never another)" python3 -c "
import re,sys; t=open('$T/metrics').read()
c={}
for cls, v in re.findall(r'^cpgo_scrape_attempts_total\{backend=\"endless-\d+\",target=\"[^\"]*\",class=\"(\w+)\"\} (\S+)', t, re.M):
    if float(v): c[cls] = c.get(cls, 0) + float(v)
print(c, file=sys.stderr)
sys.exit(0 if c.get('inflight_limit', 0) >= ($N if $TSAN == 0 else 1) and set(c) <= {'inflight_limit', 'timeout'} else 1)"
check "/status shows the class and the budget" python3 -c "
import json; d=json.load(open('$T/status.json'))
e=[b for b in d['backends'] if b['last_result']=='inflight_limit']
assert e and all(b['name'].startswith('endless-') for b in e), e[:2]
assert 'limits.max_inflight_bytes' in e[0]['last_error'], e[0]
assert 'inflight_bytes' in d"
check "logged as transient" grep -q 'msg="scrape failed" backend=endless-.*class=inflight_limit transient=true' "$T/log"
check "daemon still running" kill -0 "$pid"
kill "$pid"
wait "$pid"
check "clean exit after SIGTERM" [ $? -eq 0 ]
finish

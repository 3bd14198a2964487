#!/usr/bin/env bash
# No CPU work on the loop thread (L3): while ten ~1 MB profiles arrive every 2 s and are
# decoded and merged on the pool, the loop still runs its 1 s lag probe on time. Read from
# the daemon's own /metrics: every lag observation stays under 100 ms, and /healthz answers.
. "$(dirname "$0")/lib.sh"
P="$T/big.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 21 -samples 20000 -locations 16000 -functions 8000
start_fleet "$T" --profile "$P" --count 10 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
{
  echo "state_dir: $T/state"
  echo "listen: 127.0.0.1:0"
  echo "backends:"
  for port in "${PORTS[@]}"; do
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  schedule: '@every 2s'"
    echo "  timeout: 1900ms"
    echo "  open_pull_request: {repository: 'https://github.com/acme/big', target_branch: main}"
  done
} >"$T/config.yaml"
"$CPGO" run -c "$T/config.yaml" --output "$T/out" 2>"$T/log" &
pid=$!
trap 'kill $pid 2>/dev/null; stop_fleet' EXIT
wait_for "grep -q 'admin endpoint listening' '$T/log'" 10
PORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/log" | grep -o '[0-9]*$')
sleep 12
merged=$(grep -c 'scrape merged' "$T/log")
check "big profiles were merged meanwhile ($merged)" [ "$merged" -ge 20 ]
check "healthz answers under load" [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 200 ]
curl -s "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
n=$(awk '/^cpgo_loop_lag_distribution_seconds_count/{print $2}' "$T/metrics")
under=$(awk '/^cpgo_loop_lag_distribution_seconds_bucket\{le="0.1"\}/{print $2}' "$T/metrics")
check "loop lag probes ran ($n)" [ "${n:-0}" -ge 8 ]
check "every loop-lag observation under 100 ms ($under of $n)" [ "$under" = "$n" ]
kill -TERM $pid; wait $pid
check "exit 0" [ $? -eq 0 ]
finish

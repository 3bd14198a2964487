#!/usr/bin/env bash
# Scrape-scaling benchmark: one round (`cpgo run --once --output DIR`) over N fake backends
# (each waits 2 s, then sends a ~130 KB Go-like CPU profile; 5 backends per target).
# Prints wall time beyond the 2 s, cpgo's CPU seconds, peak RSS, CPU per scrape and the
# loop thread's own CPU per scrape, for each N.
# --heavy: the backends of a target send five different heavy profiles (cpgo-testgen -heavy:
# ~300 KB raw / ~170 KB gzip, six mappings, labels on every sample, deep inlining).
#   bench/scrape.sh [--build DIR] [--heavy] [N...]   default: 100 1000 5000 (5000 only if the fd limit allows)
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
heavy=0
sizes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) [ $# -ge 2 ] || { echo "usage: bench/scrape.sh [--build DIR] [--heavy] [N...]" >&2; exit 2; }; build=$2; shift ;;
    --heavy) heavy=1 ;;
    [1-9]*) sizes+=("$1") ;;
    *) echo "usage: bench/scrape.sh [--build DIR] [N...]" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$build/cpgo" ] || scripts/build --dir "$build" >/dev/null
out=bench/out/scrape
[ "$heavy" = 1 ] && out=bench/out/scrape-heavy
mkdir -p "$out"
if [ ${#sizes[@]} -eq 0 ]; then
  sizes=(100 1000)
  hard=$(ulimit -Hn)
  if [ "$hard" = unlimited ] || [ "$hard" -ge 12000 ]; then sizes+=(5000); fi
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
profiles=()
if [ "$heavy" = 1 ]; then
  for s in 1 2 3 4 5; do
    [ -s "$out/heavy$s.pb.gz" ] || "$build/tests/cpgo-testgen" -heavy -seed "$s" -o "$out/heavy$s.pb.gz"
    profiles+=(--profile "$out/heavy$s.pb.gz")
  done
else
  [ -s "$out/profile.pb.gz" ] || "$build/tests/cpgo-testgen" -o "$out/profile.pb.gz" -seed 7 \
    -samples 2600 -locations 2200 -functions 1100
  profiles=(--profile "$out/profile.pb.gz")
fi
printf '%-6s %9s %10s %9s %10s %13s %14s %6s\n' backends "wall s" "beyond 2s" "cpu s" \
  "RSS MiB" "cpu/scrape ms" "loop/scrape ms" "ok"
for n in "${sizes[@]}"; do
  rm -rf "$out/run$n" && mkdir -p "$out/run$n"
  "$build/tests/fakefleet/cpgo-fakefleet" "${profiles[@]}" --count "$n" \
    --port-file "$out/run$n/ports" --delay-ms 2000 --stats "$out/run$n/stats.json" \
    --duration 300 2>"$out/run$n/fleet.log" &
  fleet=$!
  for _ in $(seq 1 200); do [ -s "$out/run$n/ports" ] && break; sleep 0.05; done
  {
    echo "state_dir: ${CPGO_BENCH_STATE:-$PWD/$out/run$n}/state"
    echo "limits: {max_concurrent_scrapes: $((n + 16)), max_queued_bodies: 256}"
    echo "backends:"
    i=0
    while read -r port _; do
      echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=2"
      echo "  schedule: '*/5 * * * *'"
      echo "  open_pull_request: {repository: https://github.com/acme/svc$((i / 5)), target_file: default.pgo, target_branch: main}"
      i=$((i + 1))
    done < "$out/run$n/ports"
  } > "$out/run$n/config.yaml"
  /usr/bin/time -f "%e %U %S %M" -o "$out/run$n/time" "$build/cpgo" run --once \
    -c "$out/run$n/config.yaml" --output "$out/run$n/published" 2>"$out/run$n/cpgo.log" || true
  kill "$fleet" 2>/dev/null || true
  wait "$fleet" 2>/dev/null || true
  read -r wall user sys rss < "$out/run$n/time"
  ok=$(grep -c 'msg="scrape merged"' "$out/run$n/cpgo.log" || true)
  loop=$(sed -n 's/.*loop_cpu_seconds=\([0-9.]*\).*/\1/p' "$out/run$n/cpgo.log" | tail -1)
  python3 - "$n" "$wall" "$user" "$sys" "$rss" "$ok" "${loop:-0}" <<'PY'
import sys
n, wall, user, sys_, rss, ok, loop = sys.argv[1:]
n, wall, cpu, rss, ok, loop = int(n), float(wall), float(user) + float(sys_), int(rss), int(ok), float(loop)
print(f"{n:<6} {wall:9.2f} {wall-2:10.2f} {cpu:9.2f} {rss/1024:10.1f} {1000*cpu/max(ok,1):13.3f} {1000*loop/max(ok,1):14.3f} {ok:6}")
PY
done

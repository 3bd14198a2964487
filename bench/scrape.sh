#!/usr/bin/env bash
# Scrape-scaling benchmark: one round (`cpgo run --once --output DIR`) over N fake backends
# (each waits 2 s, then sends a ~130 KB Go-like CPU profile; 5 backends per target).
# Prints, for each N: wall time beyond the 2 s, cpgo's CPU seconds, peak RSS, CPU per
# scrape, the loop thread's own CPU per scrape, the floor per scrape (gunzip of the input
# plus gzip level 1 of the published outputs, measured with zlib in the same run: the CPU
# no implementation can avoid), the scrapes merged, and the machine's steal during the round
# (the share of its CPU time the hypervisor gave to other guests: wall times of runs with
# different steal do not compare); then writes
# bench/out/scrape/cpu-per-scrape.png (gnuplot) of CPU/scrape against N.
# --heavy: the backends of a target send five different heavy profiles (cpgo-testgen -heavy:
# ~300 KB raw / ~170 KB gzip, six mappings, labels on every sample, deep inlining); the
# results go to bench/out/scrape-heavy. --heavy-profiles K: K different heavy profiles (seeds
# 1..K, backend i sends profile i mod K; --heavy is 5). With 1, every backend sends the same
# profile: the workload issue 14's numbers were measured on (the fleet of its day served one
# file); merges then collapse each target's five inputs into one input's samples.
#   bench/scrape.sh [--build DIR] [--heavy | --heavy-profiles K] [N...]
#                                          default: 100 1000 5000, and 10000 when the hard
#                                          fd limit allows (cpgo needs N + 384 fds)
# Each size's previous results are removed before the first round, then the bench waits 31 s
# (see below). The fleets keep no stats file: the bench does not read one, and writing
# 4,000 endpoints' counters every 100 ms took a fleet 4 s of CPU beside the round.
# The fake fleet needs two fds per backend (listener + connection), so it runs as one
# process per 4,000 backends; each raises its own soft limit to the hard one.
# CPGO_BENCH_PERF=1 records `perf record -F 499 -g` of cpgo into runN/perf.data;
# CPGO_BENCH_STRACE=1 counts its fsync and fdatasync calls into runN/fsyncs.txt.
# CPGO_BENCH_LIMITS adds keys to the config's limits (e.g. "max_queued_bodies: 256", what
# the bench set before that limit counted the scrapes in flight: for builds older than it).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
heavy=0
nheavy=5
sizes=()
usage() { echo "usage: bench/scrape.sh [--build DIR] [--heavy | --heavy-profiles K] [N...]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build) [ $# -ge 2 ] || usage; build=$2; shift ;;
    --heavy) heavy=1 ;;
    --heavy-profiles)
      [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]?$ ]] || usage
      heavy=1 nheavy=$2; shift ;;
    [1-9]*) sizes+=("$1") ;;
    *) usage ;;
  esac
  shift
done
[ -x "$build/cpgo" ] || scripts/build --dir "$build" >/dev/null
out=bench/out/scrape
[ "$heavy" = 1 ] && out=bench/out/scrape-heavy
mkdir -p "$out"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
soft=$(ulimit -n)
fits() { [ "$soft" = unlimited ] || [ "$soft" -ge $(($1 + 384)) ]; }
if [ ${#sizes[@]} -eq 0 ]; then
  sizes=(100 1000)
  for n in 5000 10000; do fits $n && sizes+=($n); done
fi
for n in "${sizes[@]}"; do
  fits "$n" || { echo "bench/scrape.sh: $n backends need $((n + 384)) fds, the limit is $soft (raise ulimit -Hn)" >&2; exit 2; }
done
profiles=()
if [ "$heavy" = 1 ]; then
  for s in $(seq 1 "$nheavy"); do
    [ -s "$out/heavy$s.pb.gz" ] || "$build/tests/cpgo-testgen" -heavy -seed "$s" -o "$out/heavy$s.pb.gz"
    profiles+=(--profile "$out/heavy$s.pb.gz")
  done
  floor_prof=$out/heavy1.pb.gz
else
  [ -s "$out/profile.pb.gz" ] || "$build/tests/cpgo-testgen" -o "$out/profile.pb.gz" -seed 7 \
    -samples 2600 -locations 2200 -functions 1100
  profiles=(--profile "$out/profile.pb.gz")
  floor_prof=$out/profile.pb.gz
fi
# The previous results of these sizes go first, all at once, and the rounds wait until ext4
# will reuse their inodes: for 30 s after a deletion ext4's allocator skips a freed inode
# (recently_deleted) and scans on past it, so each file a round creates right after the
# ~14,000 of the last 10,000-backend round were removed cost a walk over them. That was 18%
# of cpgo's CPU at 10,000 (58.8 s against 48.2 s, medians of three) and is no cost of
# cpgo's: a daemon does not delete a fleet's worth of files before a round.
old=()
for n in "${sizes[@]}"; do [ -e "$out/run$n" ] && old+=("$out/run$n"); done
if [ ${#old[@]} -gt 0 ]; then
  rm -rf "${old[@]}"
  sync
  echo "bench/scrape.sh: removed the previous results; waiting 31 s until ext4 reuses their inodes" >&2
  sleep 31
fi
per_fleet=4000
printf '%-6s %9s %10s %9s %10s %13s %14s %15s %6s %8s\n' backends "wall s" "beyond 2s" "cpu s" \
  "RSS MiB" "cpu/scrape ms" "loop/scrape ms" "floor/scrape ms" "ok" "steal %"
: > "$out/table.dat"
for n in "${sizes[@]}"; do
  d=$out/run$n
  rm -rf "$d" && mkdir -p "$d"
  fleets=()
  k=0
  for ((left = n; left > 0; left -= per_fleet)); do
    c=$((left < per_fleet ? left : per_fleet))
    "$build/tests/fakefleet/cpgo-fakefleet" "${profiles[@]}" --count "$c" \
      --port-file "$d/ports.$k" --delay-ms 2000 \
      --duration 300 2>"$d/fleet.$k.log" &
    fleets+=($!)
    k=$((k + 1))
  done
  for ((i = 0; i < k; i++)); do
    for _ in $(seq 1 400); do [ -s "$d/ports.$i" ] && break; sleep 0.05; done
    [ -s "$d/ports.$i" ] || { echo "fake fleet $i did not start: $(tail -2 "$d/fleet.$i.log")" >&2; kill "${fleets[@]}"; exit 1; }
  done
  cat "$d"/ports.* > "$d/ports"
  {
    echo "state_dir: ${CPGO_BENCH_STATE:-$PWD/$d}/state"
    echo "limits: {max_concurrent_scrapes: $((n + 16))${CPGO_BENCH_LIMITS:+, $CPGO_BENCH_LIMITS}}"
    echo "backends:"
    i=0
    while read -r port _; do
      echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=2"
      echo "  schedule: '*/5 * * * *'"
      echo "  open_pull_request: {repository: https://github.com/acme/svc$((i / 5)), target_file: default.pgo, target_branch: main}"
      i=$((i + 1))
    done < "$d/ports"
  } > "$d/config.yaml"
  wrap=()
  [ "${CPGO_BENCH_PERF:-0}" = 1 ] && wrap=(perf record ${CPGO_PERF_EVENT:-} -F 499 -g -q -o "$d/perf.data" --)
  [ "${CPGO_BENCH_STRACE:-0}" = 1 ] && wrap=(strace -f --seccomp-bpf -c -e trace=fsync,fdatasync -o "$d/fsyncs.txt")
  # the machine's CPU lines around the round: steal (time the hypervisor gave to other
  # guests) makes wall times of one run incomparable with another's, so it is printed
  head -1 /proc/stat > "$d/stat.before" 2>/dev/null || : > "$d/stat.before"
  /usr/bin/time -f "%e %U %S %M" -o "$d/time" "${wrap[@]}" "$build/cpgo" run --once \
    -c "$d/config.yaml" --output "$d/published" 2>"$d/cpgo.log" || true
  head -1 /proc/stat > "$d/stat.after" 2>/dev/null || : > "$d/stat.after"
  kill "${fleets[@]}" 2>/dev/null || true
  wait "${fleets[@]}" 2>/dev/null || true
  read -r wall user sys rss < "$d/time"
  ok=$(grep -c 'msg="scrape merged"' "$d/cpgo.log" || true)
  # a retried scrape waits out its timeout and a backoff: say so, or a slow round looks like
  # a slow machine
  retried=$(grep -c 'msg="scrape failed, retrying"' "$d/cpgo.log" || true)
  [ "${retried:-0}" -gt 0 ] && echo "note: $n backends: $retried scrape attempts failed and were retried ($(grep -m1 'msg="scrape failed, retrying"' "$d/cpgo.log" | grep -o 'class=[a-z_]*')); see $d/cpgo.log" >&2
  loop=$(sed -n 's/.*loop_cpu_seconds=\([0-9.]*\).*/\1/p' "$d/cpgo.log" | tail -1)
  python3 - "$n" "$wall" "$user" "$sys" "$rss" "$ok" "${loop:-0}" "$floor_prof" \
    "$d/published" "$out/table.dat" "$d/stat.before" "$d/stat.after" <<'PY'
import glob, sys, time, zlib
n, wall, user, sys_, rss, ok, loop, prof, pub, dat, st0, st1 = sys.argv[1:]
def cpu_line(path):
    f = open(path).read().split()
    return [int(x) for x in f[1:]] if f[:1] == ["cpu"] else None
a, b = cpu_line(st0), cpu_line(st1)
# /proc/stat: user nice system idle iowait irq softirq steal ...; guest time is inside user
steal = "-"
if a and b and len(a) >= 8 and len(b) >= 8:
    d = [y - x for x, y in zip(a[:8], b[:8])]
    steal = f"{100 * d[7] / max(sum(d), 1):.1f}"
n, wall, cpu, rss, ok, loop = int(n), float(wall), float(user) + float(sys_), int(rss), int(ok), float(loop)
# the floor: gunzip of one input (every scrape pays it) + gzip -1 of the published outputs
# (paid once per target), per scrape; CPU time of this process, best of a few repeats
raw = zlib.decompress(open(prof, "rb").read(), 31)
gz = open(prof, "rb").read()
def cpu_of(f, reps):
    best = None
    for _ in range(3):
        t = time.process_time()
        for _ in range(reps):
            f()
        e = (time.process_time() - t) / reps
        best = e if best is None else min(best, e)
    return best
gunzip = cpu_of(lambda: zlib.decompress(gz, 31), 20)
outs = [zlib.decompress(open(p, "rb").read(), 31) for p in glob.glob(pub + "/**/*.pgo", recursive=True)]
def gzip_all():
    for o in outs:
        c = zlib.compressobj(1, zlib.DEFLATED, 31)
        c.compress(o)
        c.flush()
gzip_s = cpu_of(gzip_all, 1) if outs else 0.0
floor = gunzip + gzip_s / max(ok, 1)
print(f"{n:<6} {wall:9.2f} {wall-2:10.2f} {cpu:9.2f} {rss/1024:10.1f} {1000*cpu/max(ok,1):13.3f} {1000*loop/max(ok,1):14.3f} {1000*floor:15.3f} {ok:6} {steal:>8}")
with open(dat, "a") as f:
    f.write(f"{n} {1000*cpu/max(ok,1):.4f} {1000*loop/max(ok,1):.4f} {1000*floor:.4f}\n")
PY
done
if command -v gnuplot >/dev/null 2>&1; then
  gnuplot <<GP || echo "bench/scrape.sh: gnuplot failed; the table is in $out/table.dat" >&2
set terminal pngcairo size 900,500 font "sans,10" noenhanced
set output "$out/cpu-per-scrape.png"
set title "cpgo: CPU per scrape against backends in one round"
set key top left
set grid
set logscale x
set xlabel "backends (log scale)"
set ylabel "ms per scrape"
set yrange [0:*]
plot "$out/table.dat" using 1:2 with linespoints pt 7 lw 2 title "CPU per scrape (user + sys)", \
     "" using 1:3 with linespoints pt 5 lw 2 title "loop thread CPU per scrape", \
     "" using 1:4 with linespoints pt 9 lw 1 dt 2 title "floor: gunzip input + gzip outputs"
GP
  echo "plot: $out/cpu-per-scrape.png"
else
  echo "plot skipped: gnuplot is not installed (scripts/setup-deps installs gnuplot-nox)"
fi

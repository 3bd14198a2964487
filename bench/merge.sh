#!/usr/bin/env bash
# Merge benchmark: ten ~1 MB Go-like CPU profiles (about 20k samples, 16k locations, 8k
# functions each), merged by `cpgo merge` and by `go tool pprof -proto` in the same run.
# Prints wall time, CPU time and peak RSS of each (median of N runs) and the ratios, plus
# the floor: gunzip of the inputs and gzip -1 of the output, measured in the same run, with
# gzip(1) (zlib's family, as before) and, when libdeflate-tools is installed, with
# libdeflate-gzip (the family cpgo's own gzip uses since profile/gz.c moved to libdeflate),
# so the floor is not one cpgo could beat only by using a faster library than the floor.
#   bench/merge.sh [--runs N] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    --build) build=$2; shift ;;
    *) echo "usage: bench/merge.sh [--runs N] [--build DIR]" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$build/cpgo" ] || scripts/build --dir "$build" >/dev/null
command -v go >/dev/null || { echo "bench/merge.sh: needs Go on PATH for the peer (go tool pprof)"; exit 2; }
out=bench/out/merge
mkdir -p "$out"
for i in $(seq 1 10); do
  [ -s "$out/in$i.pb.gz" ] || "$build/tests/cpgo-testgen" -o "$out/in$i.pb.gz" -seed "$i" \
    -samples 20000 -locations 16000 -functions 8000 -labels
done
inputs=("$out"/in{1..10}.pb.gz)
go tool pprof -h >/dev/null 2>&1 || true # warm the go tool cache outside the timings

measure() { # measure LABEL CMD... -> appends "label wall user+sys rss" per run
  local label=$1; shift
  for _ in $(seq 1 "$runs"); do
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$@" >/dev/null 2>"$out/stderr" ||
      { echo "$label failed: $(cat "$out/stderr")"; exit 1; }
    read -r wall user sys rss < "$out/time"
    echo "$label $wall $(python3 -c "print($user+$sys)") $rss" >> "$out/samples"
  done
}
: > "$out/samples"
measure cpgo "$build/cpgo" merge -o "$out/cpgo.pb.gz" "${inputs[@]}"
measure go go tool pprof -proto -symbolize=none -output "$out/go.pb.gz" "${inputs[@]}"
"$build/cpgo" merge --raw -o "$out/merged.raw" "${inputs[@]}"
measure gunzip sh -c "for f in ${inputs[*]}; do gzip -dc \$f; done > /dev/null"
measure gzip-out gzip -1 -c "$out/merged.raw"
if command -v libdeflate-gzip >/dev/null; then
  measure ld-gunzip sh -c "for f in ${inputs[*]}; do libdeflate-gzip -dc \$f; done > /dev/null"
  measure ld-gzip-out libdeflate-gzip -1 -c "$out/merged.raw"
fi

python3 - "$out/samples" "$runs" "$(stat -c %s "${inputs[0]}")" "$(stat -c %s "$out/cpgo.pb.gz")" "$(stat -c %s "$out/go.pb.gz")" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, wall, cpu, rss = line.split()
    rows.setdefault(label, []).append((float(wall), float(cpu), int(rss)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
runs, insz, csz, gsz = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"merge of 10 profiles (~{insz/1e6:.2f} MB each), median of {runs} runs")
print(f"{'':22} {'wall s':>8} {'cpu s':>8} {'peak RSS MiB':>13}")
for k, label in (("cpgo", "cpgo merge"), ("go", "go tool pprof -proto")):
    w, c, r = med[k]
    print(f"{label:22} {w:8.3f} {c:8.3f} {r/1024:13.1f}")
g, cp = med["go"], med["cpgo"]
print(f"{'ratio go/cpgo':22} {g[0]/cp[0]:7.1f}x {g[1]/cp[1]:7.1f}x {g[2]/cp[2]:12.1f}x")
floor = med["gunzip"][0] + med["gzip-out"][0]
print(f"floor: gunzip of the inputs {med['gunzip'][0]:.3f} s + gzip of the output "
      f"{med['gzip-out'][0]:.3f} s = {floor:.3f} s; cpgo merge takes {cp[0]/floor:.2f}x the floor")
if "ld-gunzip" in med:
    lf = med["ld-gunzip"][0] + med["ld-gzip-out"][0]
    print(f"floor (libdeflate-gzip): gunzip of the inputs {med['ld-gunzip'][0]:.3f} s + gzip -1 of "
          f"the output {med['ld-gzip-out'][0]:.3f} s = {lf:.3f} s; cpgo merge takes "
          f"{cp[0]/lf:.2f}x that floor")
else:
    print("floor (libdeflate-gzip): not measured (install libdeflate-tools)")
print(f"output size: cpgo {csz} bytes, go {gsz} bytes")
PY

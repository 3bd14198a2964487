#!/usr/bin/env bash
# cpgo's PGO edge graph (src/profile/pgograph) against the Go toolchain's own:
# `cpgo inspect --edges FILE` must write byte for byte what `go tool preprofile -i FILE`
# writes, and fail with Go's message where Go fails, on many profiles: the fixtures, the
# demo's embedded profiles, profiles scraped from a real Go service (net/http/pprof) and
# recorded with runtime/pprof, `cpgo merge` outputs (plain and trimmed) and random profiles
# (cpgo-pgogen: inline frames, recursion, shared locations, addresses, missing start lines,
# negative and wrapping weights...). `--edges --hot` must be the prefix of that list that
# cmd/compile's hotNodesFromCDF computes (recomputed here from Go's output).
. "$(dirname "$0")/lib.sh"
need_go
PRE=$(go tool -n preprofile 2>/dev/null)
if [ -z "$PRE" ] || [ ! -x "$PRE" ]; then
  if go tool preprofile -h >/dev/null 2>&1; then PRE="go tool preprofile"
  else echo "SKIP: this Go has no 'go tool preprofile' (Go 1.23+)"; exit 77; fi
fi
: "${CPGO_PGOGEN:?run through ctest}"
P="$T/profiles"
mkdir -p "$P"

# 1. fixtures and the demo's embedded profiles (cmake/embed.cmake bundles examples/profiles)
while IFS= read -r f; do
  cp "$CPGO_SRC/$f" "$P/fixture-$(echo "$f" | tr / _)"
done < <(cd "$CPGO_SRC" && find tests/fixtures examples/profiles -type f \( -name '*.pprof' -o -name '*.pb.gz' -o -name '*.pgo' \) | sort)

# 2. a real Go service with net/http/pprof doing work, scraped as cpgo scrapes it
if (cd "$CPGO_SRC/tests/go" && go build -o "$T/pprofsvc" ./pprofsvc) 2>"$T/build.err"; then
  pids=()
  for i in 1 2; do
    "$T/pprofsvc" -port-file "$T/port$i" -lifetime 120s &
    pids+=($!)
  done
  for i in 1 2; do wait_for "[ -s '$T/port$i' ]" 10 || fail "service $i did not start"; done
  for round in 1 2; do
    curls=()
    for i in 1 2; do
      curl -s -f -o "$P/scraped-$i-$round.pprof" --max-time 30 \
        "http://127.0.0.1:$(cat "$T/port$i")/debug/pprof/profile?seconds=1" &
      curls+=($!)
    done
    for c in "${curls[@]}"; do wait "$c" || fail "a scrape of round $round failed"; done
  done
  kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
else
  fail "cannot build the Go service: $(tail -3 "$T/build.err")"
fi
# recorded with runtime/pprof: four mixes of work, labels on some
PG=$(build_profgen) || fail "cannot build the Go test program"
if [ -n "$PG" ]; then
  for v in 0 1 2 3; do
    lab=""; [ $((v % 2)) -eq 0 ] && lab=-labels
    "$PG" -o "$P/profgen-$v.pprof" -ms 400 -variant "$v" $lab &
  done
  wait
fi
"$CPGO_TESTGEN" -o "$P/testgen-1.pb.gz" -seed 5 -samples 20000 -locations 16000 -functions 8000 -labels
"$CPGO_TESTGEN" -o "$P/testgen-2.pb.gz" -seed 6 -samples 3000 -locations 2000 -functions 900
"$CPGO_TESTGEN" -o "$P/testgen-neg.pb.gz" -seed 7 -samples 3000 -locations 2000 -functions 900 -kind negative
"$CPGO_TESTGEN" -o "$P/testgen-rev.pb.gz" -seed 8 -samples 3000 -locations 2000 -functions 900 -kind reversed

# 3. random profiles
"$CPGO_PGOGEN" -dir "$P" -n 300 -seed "${PGOGRAPH_SEED:-12}" || fail "cpgo-pgogen failed"

# 4. cpgo merge outputs, plain and trimmed, of real and random inputs
real=("$P"/scraped-*.pprof "$P"/profgen-*.pprof "$P"/fixture-*checkout*)
n=0
for flags in "" "--drop-labels --strip-addresses --keep-frames 5" "--keep-frames 2" "--strip-addresses"; do
  n=$((n + 1))
  # shellcheck disable=SC2086
  "$CPGO" merge $flags -o "$P/merged-real-$n.pb.gz" "${real[@]}" 2>>"$T/merge.err" ||
    fail "cpgo merge $flags of the real profiles: $(tail -1 "$T/merge.err")"
  # shellcheck disable=SC2086
  "$CPGO" merge $flags -o "$P/merged-gen-$n.pb.gz" "$P/testgen-1.pb.gz" "$P/testgen-2.pb.gz" \
    2>>"$T/merge.err" || fail "cpgo merge $flags of generated profiles: $(tail -1 "$T/merge.err")"
done
# random pairs: those that pprof's merge accepts (same sample types)
merged_rand=0
for i in $(seq 0 2 78); do
  a=$(ls "$P"/rand-"$(printf %04d "$i")".* 2>/dev/null); b=$(ls "$P"/rand-"$(printf %04d $((i + 1)))".* 2>/dev/null)
  for flags in "" "--drop-labels --strip-addresses --keep-frames 2"; do
    # shellcheck disable=SC2086
    if "$CPGO" merge $flags -o "$P/merged-rand-$i-${#flags}.pb.gz" "$a" "$b" 2>/dev/null; then
      merged_rand=$((merged_rand + 1))
    fi
  done
done
echo "merged $merged_rand random pairs"

# The comparison. hot.py: Go's hotNodesFromCDF over Go's own output (int64 sums wrapping,
# float64 cum/total*100 > 99), printed as --edges --hot prints it.
cat >"$T/hot.py" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read().split(b'\n')
assert data[0] == b'GO PREPROFILE V1'
edges = []
for k in range(1, len(data) - 1, 3):
    off, w = data[k + 2].split(b' ')
    edges.append((data[k], data[k + 1], data[k + 2], int(w)))
def wrap(x):
    x &= (1 << 64) - 1
    return x - (1 << 64) if x >= 1 << 63 else x
total = 0
for e in edges:
    total = wrap(total + e[3])
hot, cum = len(edges), 0
for i, e in enumerate(edges):
    cum = wrap(cum + e[3])
    if float(cum) / float(total) * 100 > 99:
        hot = i + 1
        break
out = sys.stdout.buffer
for e in edges[:hot]:
    out.write(e[0] + b'\n' + e[1] + b'\n' + e[2] + b'\n')
EOF
compared=0 failed_both=0 with_edges=0
for f in "$P"/*; do
  b=$(basename "$f")
  $PRE -i "$f" >"$T/go.out" 2>"$T/go.err"; grc=$?
  "$CPGO" inspect --edges "$f" >"$T/cpgo.out" 2>"$T/cpgo.err"; crc=$?
  compared=$((compared + 1))
  if [ $grc -ne 0 ]; then
    gmsg=$(sed 's/^preprofile: error parsing profile: //' "$T/go.err")
    cmsg=$(sed "s|^cpgo inspect: [^:]*: ||" "$T/cpgo.err")
    if [ $crc -eq 2 ] && [ "$gmsg" = "$cmsg" ]; then ok; failed_both=$((failed_both + 1))
    else fail "$b: go failed ($gmsg), cpgo exit $crc: $(head -c 300 "$T/cpgo.err")"; fi
    continue
  fi
  if [ $crc -ne 0 ]; then fail "$b: cpgo failed where go did not: $(head -c 300 "$T/cpgo.err")"; continue; fi
  if cmp -s "$T/go.out" "$T/cpgo.out"; then ok; else
    fail "$b: edge lists differ: $(diff "$T/go.out" "$T/cpgo.out" | head -6)"
    cp "$f" "$T/differs-$b"
    continue
  fi
  [ "$(wc -l <"$T/go.out")" -gt 1 ] && with_edges=$((with_edges + 1))
  python3 "$T/hot.py" "$T/go.out" >"$T/hot.want" || { fail "$b: hot.py failed"; continue; }
  "$CPGO" inspect --edges --hot "$f" >"$T/hot.got" 2>"$T/cpgo.err"
  if cmp -s "$T/hot.want" "$T/hot.got"; then ok; else
    fail "$b: hot prefix differs: $(wc -l <"$T/hot.want") vs $(wc -l <"$T/hot.got") lines"
  fi
done
echo "compared $compared profiles with go tool preprofile: $with_edges with edges," \
  "$failed_both refused by both with the same message"
check "at least 200 profiles compared (got $compared)" [ "$compared" -ge 200 ]
check "at least 150 with edges (got $with_edges)" [ "$with_edges" -ge 150 ]
check "some refused by both (got $failed_both)" [ "$failed_both" -ge 5 ]
# an empty file is an empty profile for both
: >"$T/empty.pprof"
if $PRE -i "$T/empty.pprof" >"$T/go.out" 2>/dev/null && "$CPGO" inspect --edges "$T/empty.pprof" >"$T/cpgo.out" &&
  cmp -s "$T/go.out" "$T/cpgo.out"; then ok; else fail "empty file: outputs differ"; fi
finish

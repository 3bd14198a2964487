#!/usr/bin/env bash
# The Go toolchain as outside judge of the merge: `cpgo merge` and `go tool pprof -proto`
# must agree on stacks, labels, values and headers (ids may differ), on real profiles from a
# Go program built and run here and on generated large ones; `go tool pprof` must read every
# file cpgo writes; `go build -pgo` must accept a merged profile.
. "$(dirname "$0")/lib.sh"
need_go

PG=$(build_profgen) || { fail "cannot build the Go test program"; finish; }
# Real CPU profiles: different work mixes, one with pprof labels.
"$PG" -o "$T/real1.pprof" -ms 700 -variant 0 -labels &
"$PG" -o "$T/real2.pprof" -ms 700 -variant 1
wait
"$PG" -o "$T/real3.pprof" -ms 500 -variant 2 -labels
"$CPGO_TESTGEN" -o "$T/big1.pb.gz" -seed 11 -samples 20000 -locations 16000 -functions 8000 -labels
"$CPGO_TESTGEN" -o "$T/big2.pb.gz" -seed 12 -samples 20000 -locations 16000 -functions 8000
"$CPGO_TESTGEN" -o "$T/wall.pb.gz" -seed 13 -samples 3000 -locations 2000 -functions 900 -kind wall

compare() { # compare NAME [cpgo flags] -- FILES...
  local name=$1; shift
  local flags=()
  while [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  if ! "$CPGO" merge "${flags[@]}" -o "$T/$name.cpgo.pb.gz" "$@" 2>"$T/err"; then
    fail "$name: cpgo merge failed: $(cat "$T/err")"; return
  fi
  if ! go tool pprof -proto -symbolize=none "$@" > "$T/$name.go.pb.gz" 2>"$T/err"; then
    fail "$name: go tool pprof failed: $(cat "$T/err")"; return
  fi
  "$CPGO_CANON" "$T/$name.cpgo.pb.gz" > "$T/$name.cpgo.canon"
  "$CPGO_CANON" "$T/$name.go.pb.gz" > "$T/$name.go.canon"
  if cmp -s "$T/$name.cpgo.canon" "$T/$name.go.canon"; then ok; else
    fail "$name: canonical forms differ: $(diff "$T/$name.go.canon" "$T/$name.cpgo.canon" | head -5)"
  fi
  go_traces "$T/$name.cpgo.pb.gz" > "$T/$name.cpgo.traces"
  go_traces "$T/$name.go.pb.gz" > "$T/$name.go.traces"
  if [ -s "$T/$name.go.traces" ] && cmp -s "$T/$name.cpgo.traces" "$T/$name.go.traces"; then ok; else
    fail "$name: go tool pprof -traces differ"
  fi
  # go tool pprof reads what we wrote, with the same sample count
  if go tool pprof -raw -symbolize=none "$T/$name.cpgo.pb.gz" >/dev/null 2>"$T/err"; then ok; else
    fail "$name: go tool pprof cannot read cpgo's output: $(cat "$T/err")"
  fi
}

compare real-two -- "$T/real1.pprof" "$T/real2.pprof"
compare real-three -- "$T/real1.pprof" "$T/real2.pprof" "$T/real3.pprof"
compare real-reversed -- "$T/real3.pprof" "$T/real2.pprof" "$T/real1.pprof"
compare real-self -- "$T/real1.pprof" "$T/real1.pprof"
compare big -- "$T/big1.pb.gz" "$T/big2.pb.gz"
compare mixed -- "$T/big1.pb.gz" "$T/real1.pprof"
compare compat --compat -- "$T/wall.pb.gz" "$T/big2.pb.gz"

# order independence, judged by Go: the merged profiles print the same traces
check "order independence (real)" cmp -s "$T/real-three.cpgo.traces" "$T/real-reversed.cpgo.traces"

# raw and trimmed outputs are readable by go tool pprof too
"$CPGO" merge --raw "$T/real1.pprof" > "$T/raw.pb"
check "go reads raw output" go tool pprof -raw -symbolize=none "$T/raw.pb" >/dev/null 2>&1
"$CPGO" merge --drop-labels --strip-addresses --keep-frames 5 "$T/real1.pprof" "$T/big1.pb.gz" > "$T/trim.pb.gz"
check "go reads trimmed output" go tool pprof -raw -symbolize=none "$T/trim.pb.gz" >/dev/null 2>&1

# the compiler accepts our file as default.pgo
"$CPGO" merge --drop-labels --strip-addresses --keep-frames 5 -o "$T/merged.pgo" \
  "$T/real1.pprof" "$T/real2.pprof" "$T/real3.pprof"
if (cd "$CPGO_SRC/tests/go" && go build -pgo="$T/merged.pgo" -o "$T/profgen-pgo" ./profgen) 2>"$T/err"; then
  ok
else
  fail "go build -pgo rejected cpgo's profile: $(cat "$T/err")"
fi
finish

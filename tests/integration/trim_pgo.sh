#!/usr/bin/env bash
# PGO-lossless trimming, judged by the compiler's own reader: `go tool preprofile` prints
# the same edge list for a merged profile and for its trimmed form. Reports the sizes.
. "$(dirname "$0")/lib.sh"
need_go
if ! go tool preprofile -h >/dev/null 2>&1 && ! go tool -n preprofile >/dev/null 2>&1; then
  echo "SKIP: this Go has no 'go tool preprofile' (Go 1.23+)"; exit 77
fi
PG=$(build_profgen) || { fail "cannot build the Go test program"; finish; }
"$PG" -o "$T/r1.pprof" -ms 800 -variant 0 -labels &
"$PG" -o "$T/r2.pprof" -ms 800 -variant 3
wait
"$CPGO_TESTGEN" -o "$T/g1.pb.gz" -seed 21 -samples 20000 -locations 16000 -functions 8000 -labels
"$CPGO_TESTGEN" -o "$T/g2.pb.gz" -seed 22 -samples 20000 -locations 16000 -functions 8000

pre() { go tool preprofile -i "$1" -o "$2" 2>"$T/err" || fail "preprofile $1: $(cat "$T/err")"; }

run() { # run NAME FILES...
  local name=$1; shift
  "$CPGO" merge -o "$T/$name.full.pb.gz" "$@"
  pre "$T/$name.full.pb.gz" "$T/$name.full.pre"
  for flags in "--drop-labels" "--strip-addresses" "--keep-frames 2" "--keep-frames 5" \
               "--drop-labels --strip-addresses --keep-frames 5" \
               "--drop-labels --strip-addresses --keep-frames 2"; do
    # shellcheck disable=SC2086
    "$CPGO" merge $flags -o "$T/$name.trim.pb.gz" "$@"
    pre "$T/$name.trim.pb.gz" "$T/$name.trim.pre"
    if cmp -s "$T/$name.full.pre" "$T/$name.trim.pre"; then ok; else
      fail "$name $flags: preprofile differs: $(diff "$T/$name.full.pre" "$T/$name.trim.pre" | head -6)"
    fi
    printf '%-10s %-50s %9d -> %9d bytes (%5.1f%%), %s edges\n' "$name" "$flags" \
      "$(stat -c %s "$T/$name.full.pb.gz")" "$(stat -c %s "$T/$name.trim.pb.gz")" \
      "$(python3 -c "print(100*$(stat -c %s "$T/$name.trim.pb.gz")/$(stat -c %s "$T/$name.full.pb.gz"))")" \
      "$(($(wc -l < "$T/$name.trim.pre") / 3))"
  done
  # the preprofile of the trimmed file must not be empty: the proof would be vacuous
  check "$name: preprofile has edges" [ "$(wc -l < "$T/$name.full.pre")" -gt 4 ]
}
run real "$T/r1.pprof" "$T/r2.pprof"
run generated "$T/g1.pb.gz" "$T/g2.pb.gz"
finish

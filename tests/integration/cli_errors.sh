#!/usr/bin/env bash
# Command-line contract: exit 0/1/2, one stderr line naming the file, bad inputs refused
# (truncated gzip, a 2 GiB gzip bomb, random bytes, HTML, empty file, dangling ids, string
# index out of range, wrong value count, incompatible sample types, sums overflowing int64),
# atomic -o; negative values are merged but not called usable for PGO.
. "$(dirname "$0")/lib.sh"

G="$T/good.pb.gz"
"$CPGO_TESTGEN" -o "$G" -seed 1 -samples 2000 -locations 500 -functions 200 -labels
"$CPGO_TESTGEN" -o "$T/good2.pb.gz" -seed 2 -samples 2000 -locations 500 -functions 200

expect() { # expect STATUS NAME_IN_STDERR DESCRIPTION -- COMMAND...
  local want=$1 needle=$2 d=$3; shift 4
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$d: exit $rc, want $want ($(head -c 300 "$T/err"))"; return; fi
  if [ -n "$needle" ] && ! grep -qF -- "$needle" "$T/err"; then
    fail "$d: stderr lacks '$needle': $(cat "$T/err")"; return
  fi
  if [ "$want" -ne 0 ] && [ "$(grep -c . "$T/err")" -lt 1 ]; then fail "$d: no message"; return; fi
  ok
}

# usage
expect 2 "cpgo help" "no arguments" -- "$CPGO"
expect 2 "cpgo frobnicate: unknown command" "unknown command" -- "$CPGO" frobnicate
expect 2 "no input files" "merge without files" -- "$CPGO" merge
expect 2 "cpgo help merge" "merge bad option" -- "$CPGO" merge --bogus "$G"
expect 2 "--keep-frames" "keep-frames 1" -- "$CPGO" merge --keep-frames 1 "$G"
expect 2 "--keep-frames" "keep-frames junk" -- "$CPGO" merge --keep-frames x "$G"
expect 2 "exactly one FILE" "inspect two files" -- "$CPGO" inspect "$G" "$G"
expect 2 "unknown limit" "bad limit name" -- "$CPGO" merge --limit bogus=1 "$G"
expect 0 "" "version" -- "$CPGO" --version
check "version text" grep -q '^cpgo [0-9]' "$T/out"
expect 0 "" "help merge" -- "$CPGO" help merge
check "help merge text" grep -q 'keep-frames' "$T/out"
expect 2 "cpgo help nope: unknown help topic" "help unknown" -- "$CPGO" help nope
expect 1 "missing.pb.gz" "missing file is an operational failure" -- "$CPGO" merge "$T/missing.pb.gz"
expect 1 "is a directory" "directory input" -- "$CPGO" inspect "$T"

# bad inputs: every one exits 2 with the file named
head -c 300 "$G" > "$T/truncated.pb.gz"
expect 2 "truncated.pb.gz: gunzip" "truncated gzip" -- "$CPGO" merge "$T/truncated.pb.gz"
head -c 65536 /dev/urandom > "$T/random.bin"
expect 2 "random.bin" "random bytes" -- "$CPGO" inspect "$T/random.bin"
printf '<!DOCTYPE html><html><body>Sign in</body></html>\n' > "$T/login.html"
expect 2 "login.html: not a pprof profile" "HTML" -- "$CPGO" merge "$G" "$T/login.html"
: > "$T/empty.pb"
expect 2 "empty.pb: empty profile" "empty file" -- "$CPGO" merge "$T/empty.pb"
for c in dangling-location string-index value-count zero-id; do
  "$CPGO_TESTGEN" -o "$T/$c.pb.gz" -samples 100 -locations 50 -functions 20 -corrupt $c
done
expect 2 "dangling-location.pb.gz: sample 17 references location 149, which does not exist" \
  "dangling location" -- "$CPGO" merge "$T/dangling-location.pb.gz"
expect 2 "string-index.pb.gz: function 4 references string" "string index" -- \
  "$CPGO" inspect "$T/string-index.pb.gz"
expect 2 "value-count.pb.gz: sample 17 has 1 values, but the profile has 2 sample types" \
  "value count" -- "$CPGO" merge "$T/value-count.pb.gz"
expect 2 "zero-id.pb.gz: location 2 has the reserved id 0" "zero id" -- "$CPGO" merge "$T/zero-id.pb.gz"
"$CPGO_TESTGEN" -o "$T/heap.pb.gz" -samples 100 -locations 50 -functions 20 -kind heap
expect 2 "heap.pb.gz: incompatible period types" "incompatible types" -- \
  "$CPGO" merge "$G" "$T/heap.pb.gz"
expect 2 "heap.pb.gz: incompatible period types" "incompatible with --compat" -- \
  "$CPGO" merge --compat "$G" "$T/heap.pb.gz"

# sums that overflow int64: refused (exit 2, the file named), never wrapped or saturated
"$CPGO_TESTGEN" -o "$T/big.pb.gz" -samples 100 -locations 50 -functions 20 -kind bigvalues
expect 0 "" "one profile with big values merges" -- "$CPGO" merge -o "$T/big1.pb.gz" "$T/big.pb.gz"
expect 2 "big.pb.gz: sample 1's cpu/nanoseconds value (4611686018427387904) added to the 4611686018427387904 merged so far overflows int64" \
  "merge whose sums overflow" -- "$CPGO" merge -o "$T/bigbig.pb.gz" "$T/big.pb.gz" "$T/big.pb.gz"
check "nothing written on overflow" [ ! -e "$T/bigbig.pb.gz" ]
# negative values (a diff profile): cpgo merge keeps pprof's acceptance; inspect does not
# call the result usable for PGO
"$CPGO_TESTGEN" -o "$T/neg.pb.gz" -samples 100 -locations 50 -functions 20 -kind negative
expect 0 "" "merge keeps negative values" -- "$CPGO" merge -o "$T/negm.pb.gz" "$T/neg.pb.gz" "$G"
expect 0 "" "inspect negative" -- "$CPGO" inspect "$T/negm.pb.gz"
check "inspect: negative values are not usable for PGO" grep -q "Go PGO:        NOT usable (negative sample values" "$T/out"
expect 0 "" "inspect --json negative" -- "$CPGO" inspect --json "$T/neg.pb.gz"
check "inspect json: not usable, negative" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert not d["pgo"]["usable"] and d["pgo"]["has_negative_values"]' "$T/out"
# totals that overflow int64: inspect refuses rather than print a wrapped or saturated sum
"$CPGO" merge --raw -o "$T/big3.pb" "$T/big.pb.gz" "$T/good2.pb.gz"
python3 - "$T/big3.pb" "$T/bigtotal.pb" <<'PY'
import sys
# in the raw protobuf, find the varint INT64_MAX/2+1 and make it INT64_MAX: that one value
# still fits, the total (plus the other samples) no longer does
data = open(sys.argv[1], "rb").read()
def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7f; v >>= 7
        if v: out.append(b | 0x80)
        else: out.append(b); return bytes(out)
old, new = varint(2**62), varint(2**63 - 1)
assert data.count(old) == 1 and len(old) == len(new)
open(sys.argv[2], "wb").write(data.replace(old, new))
PY
expect 2 "bigtotal.pb: the sum of its cpu/nanoseconds values overflows int64" \
  "inspect whose totals overflow" -- "$CPGO" inspect "$T/bigtotal.pb"

# a 2 GiB gzip bomb: refused, quickly, with bounded memory
if [ ! -s "$CPGO_TMP/bomb.gz" ]; then
  head -c 2G /dev/zero | gzip -1 > "$CPGO_TMP/bomb.gz.tmp" && mv "$CPGO_TMP/bomb.gz.tmp" "$CPGO_TMP/bomb.gz"
fi
start=$(date +%s%N)
/usr/bin/time -f '%M' -o "$T/rss" "$CPGO" merge "$CPGO_TMP/bomb.gz" >/dev/null 2>"$T/err"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
rss_kb=$(tail -n1 "$T/rss")
check "bomb exits 2 (got $rc)" [ "$rc" -eq 2 ]
check "bomb message names the limit: $(cat "$T/err")" grep -q "bomb.gz: decompressed profile exceeds the limit" "$T/err"
echo "gzip bomb (2 GiB of zeros, $(stat -c %s "$CPGO_TMP/bomb.gz") bytes gzip): refused in ${ms} ms, peak RSS ${rss_kb} KiB"
# the default decompressed limit is 256 MiB: memory stays near it (sanitizers add overhead)
check "bomb peak RSS ${rss_kb} KiB within 600 MiB" [ "$rss_kb" -lt 614400 ]
/usr/bin/time -f '%M' -o "$T/rss" "$CPGO" merge --limit decompressed=8388608 "$CPGO_TMP/bomb.gz" >/dev/null 2>&1
check "bomb with an 8 MiB limit stays under 120 MiB RSS ($(tail -n1 "$T/rss") KiB)" [ "$(tail -n1 "$T/rss")" -lt 122880 ]

# atomic -o: a failed merge leaves an existing output untouched and no temp file
echo "previous" > "$T/out.pb.gz"
expect 2 "login.html" "failed merge" -- "$CPGO" merge -o "$T/out.pb.gz" "$G" "$T/login.html"
check "output untouched" grep -q previous "$T/out.pb.gz"
check "no temp files left" [ -z "$(ls "$T" | grep '\.tmp\.')" ]
expect 0 "" "merge to -o" -- "$CPGO" merge -o "$T/out.pb.gz" "$G" "$T/good2.pb.gz"
check "output is gzip" [ "$(head -c2 "$T/out.pb.gz" | od -An -tx1 | tr -d ' ')" = "1f8b" ]

# standard input, raw output, deterministic bytes
expect 0 "" "merge from stdin" -- sh -c "'$CPGO' merge - '$T/good2.pb.gz' < '$G' > '$T/stdin.pb.gz'"
check "stdin result equals file result" cmp -s "$T/stdin.pb.gz" "$T/out.pb.gz"
"$CPGO" merge --raw "$G" > "$T/raw.pb"
check "--raw is not gzip" [ "$(head -c2 "$T/raw.pb" | od -An -tx1 | tr -d ' ')" != "1f8b" ]
expect 0 "" "raw input accepted" -- "$CPGO" inspect "$T/raw.pb"
expect 2 "" "stdin twice" -- "$CPGO" merge - -

# inspect
expect 0 "" "inspect" -- "$CPGO" inspect "$G"
check "inspect says usable" grep -q "Go PGO:        usable" "$T/out"
check "inspect counts" grep -q "counts:        2000 samples" "$T/out"
expect 0 "" "inspect --json" -- "$CPGO" inspect --json "$G"
check "inspect json parses" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["pgo"]["usable"] and d["counts"]["samples"]==2000 and d["top_flat"]' "$T/out"
finish

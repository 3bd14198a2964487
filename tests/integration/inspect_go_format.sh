#!/usr/bin/env bash
# inspect_go_format.sh - `cpgo inspect` prints a profile's time as RFC 3339 with its zone and
# its duration as Go's time.Duration does; Go itself (time.Unix(0, n).Format(RFC3339Nano),
# time.Duration(n).String()) is the judge, in UTC and in zones with odd offsets.
. "$(dirname "$0")/lib.sh"
need_go

# profiles whose header holds exactly the (time_nanos, duration_nanos) pairs below: the
# pprof wire format written by hand (string table, one sample type, fields 9 to 12)
CASES="1764684184000000000:30000000000
1764684184123456789:90000000000
0:1500000000
1764684184500000000:250000000
1700000000000000001:1
951782400000000000:3723000000001
1764684184000000000:0
4102444799999999999:1100"
python3 - "$T" $CASES <<'EOF'
import sys
def varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def field(n, wire, payload):
    return varint(n << 3 | wire) + payload
def ld(n, data):
    return field(n, 2, varint(len(data)) + data)
d = sys.argv[1]
for i, case in enumerate(sys.argv[2:]):
    t, dur = (int(x) for x in case.split(":"))
    msg = ld(1, field(1, 0, varint(1)) + field(2, 0, varint(2)))
    for s in (b"", b"samples", b"count", b"cpu", b"nanoseconds"):
        msg += ld(6, s)
    msg += field(9, 0, varint(t)) + field(10, 0, varint(dur))
    # period type cpu/nanoseconds and a period, as Go writes them
    msg += ld(11, field(1, 0, varint(3)) + field(2, 0, varint(4))) + field(12, 0, varint(10000000))
    open(f"{d}/p{i}.pb", "wb").write(msg)
EOF

cat >"$T/judge.go" <<'EOF'
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	for _, c := range os.Args[1:] {
		p := strings.SplitN(c, ":", 2)
		t, _ := strconv.ParseInt(p[0], 10, 64)
		d, _ := strconv.ParseInt(p[1], 10, 64)
		fmt.Printf("%s %s\n", time.Unix(0, t).Format(time.RFC3339Nano), time.Duration(d).String())
	}
}
EOF
mkdir -p "$T/gocache"
(cd "$T" && GOTOOLCHAIN=local GOFLAGS= GO111MODULE=off GOCACHE="$T/gocache" go build -o judge judge.go) ||
  { fail "cannot build the Go judge"; finish; }

for tz in UTC Asia/Kolkata America/St_Johns; do
  z=${tz//\//_}
  # shellcheck disable=SC2086
  TZ=$tz "$T/judge" $CASES >"$T/go.$z" || fail "judge in $tz"
  : >"$T/cpgo.$z"
  i=0
  for _ in $CASES; do
    TZ=$tz "$CPGO" inspect "$T/p$i.pb" >"$T/out" || fail "inspect p$i in $tz"
    w=$(sed -n 's/^time: *//p' "$T/out")
    d=$(sed -n 's/^duration: *//p' "$T/out")
    TZ=$tz "$CPGO" inspect --json "$T/p$i.pb" >"$T/out.json" || fail "inspect --json p$i in $tz"
    jw=$(json_get "$T/out.json" 'd["time"]')
    jd=$(json_get "$T/out.json" 'd["duration"]')
    check "json time = text time ($tz, p$i)" [ "$jw" = "$w" ]
    check "json duration = text duration ($tz, p$i)" [ "$jd" = "$d" ]
    echo "$w $d" >>"$T/cpgo.$z"
    i=$((i + 1))
  done
  if diff -u "$T/go.$z" "$T/cpgo.$z"; then ok; else fail "inspect's times and durations differ from Go's in $tz"; fi
done
# the zone is always written: Z in UTC, the offset elsewhere
check "UTC has Z" grep -q '^2025-12-02T14:03:04Z 30s$' "$T/cpgo.UTC"
check "Kolkata has +05:30" grep -q '^2025-12-02T19:33:04.123456789+05:30 1m30s$' "$T/cpgo.Asia_Kolkata"
check "St John's has -03:30" grep -q -- '-03:30 ' "$T/cpgo.America_St_Johns"
finish

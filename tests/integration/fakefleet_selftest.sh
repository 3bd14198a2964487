#!/usr/bin/env bash
# The fake fleet checked on its own, with curl as the client, so the scraper's tests can
# trust it: every behaviour's observable result (status, body bytes, curl's error for reset,
# short and hang, trickle speed, bomb size and gzip validity), Go's "already in use" on a
# concurrent second request, keep-alive and pipelining, 404 for other paths, request bounds
# (431, strict parsing), loopback-only listeners, the stats file's exactly-once counts,
# exit 0 on SIGTERM and after --duration, usage errors (exit 2), 2000 endpoints under a
# low soft fd limit. Ports are ephemeral (--port-file), so runs never collide.
. "$(dirname "$0")/lib.sh"
: "${CPGO_FAKEFLEET:?run through ctest}" "${CPGO_TESTGEN:?run through ctest}"
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
FF=$CPGO_FAKEFLEET

PROF="$T/prof.pb.gz"
"$CPGO_TESTGEN" -o "$PROF" -samples 2000 -locations 500 -functions 200 || { fail "testgen"; finish; }
PSIZE=$(stat -c %s "$PROF")

# start_fleet NAME ARGS...: starts a fleet writing $T/NAME.ports; sets FPID; waits for it.
# try_fleet NAME ARGS...: the same without counting a failure (for a retry loop).
try_fleet() {
  local name=$1; shift
  rm -f "$T/$name.ports"
  "$FF" --profile "$PROF" --port-file "$T/$name.ports" "$@" 2>"$T/$name.err" &
  FPID=$!
  for _ in $(seq 1 100); do
    [ -s "$T/$name.ports" ] && return 0
    kill -0 "$FPID" 2>/dev/null || break
    sleep 0.1
  done
  kill "$FPID" 2>/dev/null
  wait "$FPID" 2>/dev/null
  return 1
}
start_fleet() {
  try_fleet "$@" && return 0
  fail "$1: no port file ($(cat "$T/$1.err"))"
  return 1
}
# stop_fleet NAME: SIGTERM, which must exit 0 with nothing on stderr but its own lines.
stop_fleet() {
  kill -TERM "$FPID"
  wait "$FPID"
  local rc=$?
  check "$1: SIGTERM exits 0 (got $rc)" [ "$rc" -eq 0 ]
  check "$1: clean stderr: $(grep -v '^cpgo-fakefleet: ' "$T/$1.err" | head -5)" \
    test -z "$(grep -v '^cpgo-fakefleet: ' "$T/$1.err")"
}
port_of() { awk -v b="$1" -v n="${2:-1}" '$2 == b && ++k == n { print $1 }' "$T/main.ports"; }
url() { echo "http://127.0.0.1:$(port_of "$1" "${3:-1}")/debug/pprof/profile?seconds=${2:-1}"; }
# get URL [curl options]: sets CODE SIZE TIME (s) RC (curl's exit status) and R (all four);
# body in $T/body, headers in $T/hdr
get() {
  local u=$1; shift
  local w
  w=$(curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code} %{size_download} %{time_total}' "$@" "$u")
  R="$w $?"
  read -r CODE SIZE TIME RC <<<"$R"
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; } # float a >= b
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }  # float a < b
json() { python3 -c "import json,sys; d=json.load(open('$T/stats.json')); print($1)"; }

# ---- usage -------------------------------------------------------------------------------
usage_case() { # usage_case DESCRIPTION ARGS...
  local d=$1; shift
  "$FF" "$@" >/dev/null 2>"$T/usage.err"
  local rc=$?
  check "usage: $d exits 2 (got $rc: $(head -1 "$T/usage.err"))" [ "$rc" -eq 2 ]
}
usage_case "unknown behaviour" --profile "$PROF" --port-file "$T/x" --behaviour frobnicate
usage_case "unknown behaviour in mix" --profile "$PROF" --port-file "$T/x" --mix normal=9,slow=1
usage_case "mix without weight" --profile "$PROF" --port-file "$T/x" --mix normal
usage_case "mix all zero" --profile "$PROF" --port-file "$T/x" --mix normal=0
usage_case "no profile" --port-file "$T/x"
usage_case "no port choice" --profile "$PROF"
usage_case "unknown option" --profile "$PROF" --port-file "$T/x" --frob 1
usage_case "count 0" --profile "$PROF" --port-file "$T/x" --count 0
usage_case "ports past 65535" --profile "$PROF" --base-port 65530 --count 10
"$FF" --profile "$T/missing" --port-file "$T/x" 2>/dev/null
check "missing profile file exits 1" [ $? -eq 1 ]

# ---- the main fleet: every behaviour twice -----------------------------------------------
ALL=normal=1,hang=1,reset=1,trickle=1,huge=1,bomb=1,html=1,notfound=1,busy=1,badrequest=1,short=1,slowheaders=1
start_fleet main --count 24 --mix "$ALL" --delay-ms 300 --trickle-ms 100 --huge-bytes 8MiB \
  --bomb-bytes 100000000 --stats "$T/stats.json" --duration 120 || finish
MAIN=$FPID
check "port file: 24 lines" [ "$(wc -l <"$T/main.ports")" -eq 24 ]
check "port file: distinct ports" [ "$(cut -d' ' -f1 "$T/main.ports" | sort -u | wc -l)" -eq 24 ]
check "mix: weighted round-robin order" [ "$(head -12 "$T/main.ports" | cut -d' ' -f2 | paste -sd,)" = \
  "normal,hang,reset,trickle,huge,bomb,html,notfound,busy,badrequest,short,slowheaders" ]
# loopback only: every listener of this process is bound to 127.0.0.1
if ss -Htlnp >/dev/null 2>&1; then
  addrs=$(ss -Htlnp | grep "pid=$MAIN," | awk '{print $4}' | sed 's/:[0-9]*$//' | sort -u)
  check "listeners on 127.0.0.1 only (got: $addrs)" [ "$addrs" = "127.0.0.1" ]
fi

# slowheaders answers normally, but only after S + 5 s: #2 waits for it, #1 gives up after
# 3 s; both run in the background meanwhile
curl -s -o "$T/slow.body" -w '%{http_code} %{time_total}' "$(url slowheaders 1 2)" >"$T/slow.code" &
SLOW=$!
(curl -s -m 3 -o /dev/null -w '%{http_code} %{time_total}' "$(url slowheaders)"; echo " $?") >"$T/slow1.code" &
SLOW1=$!

get "$(url normal)"
check "normal: 200 (got $R)" eval '[ "$CODE" = 200 ] && [ "$RC" = 0 ]'
check "normal: body is the profile" cmp -s "$T/body" "$PROF"
check "normal: waits --delay-ms (took $TIME s)" ge "$TIME" 0.29
check "normal: Content-Type" grep -qi '^content-type: application/octet-stream' "$T/hdr"
check "normal: Content-Length" grep -qi "^content-length: $PSIZE" "$T/hdr"
# keep-alive: two requests on one connection
w=$(curl -s -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' "$(url normal)" "$(url normal)")
check "keep-alive: both 200, one connection (got $(echo $w))" [ "$(echo $w)" = "200 1 200 0" ]

# a second profile while one runs: 500 "already in use", as from Go. The first request is on
# a hang endpoint (it holds the profiler until its client goes), seen in the stats before
# the second is sent, so the two overlap whatever the machine's load.
ep_field() { # ep_field PORT FIELD: the endpoint's counter in the stats file
  json "[e['$2'] for e in d['endpoints'] if e['port'] == $1][0]"
}
wait_requests() { # wait_requests PORT N: until the stats show N requests on PORT (5 s)
  for _ in $(seq 1 50); do
    [ "$(ep_field "$1" requests 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
PH=$(port_of hang 2)
curl -s -m 20 -o /dev/null "$(url hang 1 2)" &
FIRST=$!
check "concurrent: first request seen" wait_requests "$PH" 1
get "$(url hang 1 2)"
check "concurrent: second gets 500 (got $R)" [ "$CODE" = 500 ]
check "concurrent: body" grep -qx 'Could not enable CPU profiling: cpu profiling already in use' "$T/body"
check "concurrent: Go's X-Go-Pprof header" grep -qi '^x-go-pprof: 1' "$T/hdr"
kill "$FIRST" 2>/dev/null
wait "$FIRST" 2>/dev/null
# the client went away: its profile ended, so the next request is not busy (it hangs)
sleep 0.2
get "$(url hang 1 2)" -m 0.5
check "concurrent: a disconnect frees the profiler (got $R)" eval '[ "$RC" = 28 ] && [ "$CODE" = 000 ]'
P2=$(port_of normal 2)
for path in /debug/pprof/heap /; do
  get "http://127.0.0.1:$P2$path"
  check "other path $path: 404 (got $R)" [ "$CODE" = 404 ]
done
# pipelined requests are answered in order; oversized headers get 431; LF-only lines 400
python3 - "$P2" >"$T/pipe.out" 2>&1 <<'EOF'
import re, socket, sys
port = int(sys.argv[1])
def talk(req):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(req)
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            return data
        data += d
r = b"GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\nHost: x\r\n\r\n"
data = talk(r + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + r.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
heads = re.findall(rb"HTTP/1\.1 \d\d\d", data)
assert heads == [b"HTTP/1.1 200", b"HTTP/1.1 404", b"HTTP/1.1 200"], heads
big = talk(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
assert big.startswith(b"HTTP/1.1 431 "), big[:100]
lf = talk(b"GET /debug/pprof/profile HTTP/1.1\nHost: x\n\n")
assert lf.startswith(b"HTTP/1.1 400 "), lf[:100]
print("ok")
EOF
check "pipelining, 431, strict parsing: $(tail -1 "$T/pipe.out")" grep -qx ok "$T/pipe.out"

get "$(url hang)" -m 1
check "hang: curl times out with nothing (got $R)" eval '[ "$RC" = 28 ] && [ "$SIZE" = 0 ]'
get "$(url reset)"
check "reset: curl error 56 or 18 (got $R)" eval '[ "$RC" = 56 ] || [ "$RC" = 18 ]'
check "reset: less than the whole body ($SIZE of $PSIZE)" [ "$SIZE" -lt "$PSIZE" ]
check "reset: Content-Length is the full size" grep -qi "^content-length: $PSIZE" "$T/hdr"
get "$(url short)"
check "short: curl error 18, partial file (got $R)" [ "$RC" = 18 ]
check "short: the body was sent ($SIZE of $PSIZE)" [ "$SIZE" -eq "$PSIZE" ]
check "short: Content-Length is 1000 more" grep -qi "^content-length: $((PSIZE + 1000))" "$T/hdr"
# trickle: after the 0.3 s window, 1 byte per 100 ms: about 12 bytes by 1.5 s
get "$(url trickle)" -m 1.5
check "trickle: curl times out after some bytes (got $R)" eval '[ "$RC" = 28 ] && [ "$CODE" = 200 ]'
check "trickle: 1 byte per --trickle-ms (got $SIZE bytes)" eval '[ "$SIZE" -ge 4 ] && [ "$SIZE" -le 14 ]'
get "$(url huge)" -o /dev/null
check "huge: 200 with --huge-bytes (got $R)" eval '[ "$CODE" = 200 ] && [ "$SIZE" = 8388608 ] && [ "$RC" = 0 ]'
get "$(url bomb)"
check "bomb: 200 (got $R)" eval '[ "$CODE" = 200 ] && [ "$RC" = 0 ]'
check "bomb: compressed about 1000:1 ($SIZE bytes)" [ "$SIZE" -lt 110000 ]
check "bomb: valid gzip" gzip -t "$T/body"
check "bomb: exactly --bomb-bytes zeros" eval 'gzip -dc "$T/body" | cmp -s - <(head -c 100000000 /dev/zero)'
get "$(url html)"
check "html: 200 (got $R)" [ "$CODE" = 200 ]
check "html: text/html" grep -qi '^content-type: text/html' "$T/hdr"
check "html: login form" grep -q '<form' "$T/body"
get "$(url notfound)"
check "notfound: 404 (got $R)" [ "$CODE" = 404 ]
get "$(url busy)"
check "busy: 500 at once (got $R)" eval '[ "$CODE" = 500 ] && lt "$TIME" 0.3'
check "busy: body" grep -q 'cpu profiling already in use' "$T/body"
get "$(url badrequest)"
check "badrequest: 400 (got $R)" [ "$CODE" = 400 ]
check "badrequest: body" grep -qx "profile duration exceeds server's WriteTimeout" "$T/body"
wait $SLOW1
read -r CODE TIME RC <"$T/slow1.code"
check "slowheaders: no headers within 3 s (got $CODE $TIME $RC)" eval '[ "$RC" = 28 ] && [ "$CODE" = 000 ]'
wait $SLOW
read -r CODE TIME <"$T/slow.code"
check "slowheaders: 200 after S + 5 s (got $CODE after $TIME s)" \
  eval '[ "$CODE" = 200 ] && ge "$TIME" 5.95 && lt "$TIME" 7.5'
check "slowheaders: body is the profile" cmp -s "$T/slow.body" "$PROF"

# stats: exactly-once accounting per endpoint (requests completed ok busy)
sleep 0.3
expect_ep() { # expect_ep BEHAVIOUR N "requests completed ok busy"
  local p
  p=$(port_of "$1" "$2")
  local got
  got=$(json "' '.join(str(e[k]) for e in d['endpoints'] if e['port'] == $p for k in ('requests','completed','ok','busy'))")
  check "stats $1#$2: want '$3', got '$got'" [ "$got" = "$3" ]
}
expect_ep normal 1 "3 3 3 0"
expect_ep normal 2 "5 5 2 0"
expect_ep hang 1 "1 0 0 0"
expect_ep reset 1 "1 0 0 0"
expect_ep short 1 "1 0 0 0"
expect_ep trickle 1 "1 0 0 0"
expect_ep huge 1 "1 1 1 0"
expect_ep bomb 1 "1 1 1 0"
expect_ep html 1 "1 1 1 0"
expect_ep notfound 1 "1 1 0 0"
expect_ep busy 1 "1 1 0 1"
expect_ep badrequest 1 "1 1 0 0"
expect_ep slowheaders 1 "1 0 0 0"
expect_ep slowheaders 2 "1 1 1 0"
expect_ep hang 2 "3 1 0 1"
check "stats totals: $(json "d['requests'], d['completed'], d['ok'], d['busy']")" \
  [ "$(json "d['requests'], d['completed'], d['ok'], d['busy']")" = "23 16 9 2" ]
check "stats: every client connection closed (connections $(json "d['connections']"))" \
  [ "$(json "d['connections']")" = 0 ]
p=$(port_of html 1)
check "stats: the Host header of the endpoint's last request (curl's: 127.0.0.1:$p)" \
  [ "$(json "[e['host'] for e in d['endpoints'] if e['port'] == $p][0]")" = "127.0.0.1:$p" ]
stop_fleet main

# ---- endless: a chunked body that never ends ---------------------------------------------
start_fleet endless --behaviour endless --delay-ms 100 && {
  get "http://127.0.0.1:$(awk '{print $1}' "$T/endless.ports")/debug/pprof/profile" -m 1.5
  check "endless: 200, chunked, still sending at curl's timeout (got $R)" \
    eval '[ "$CODE" = 200 ] && [ "$RC" = 28 ] && grep -qi "^transfer-encoding: chunked" "$T/hdr"'
  check "endless: many MB in a second ($SIZE bytes)" [ "$SIZE" -gt $((8 << 20)) ]
  stop_fleet endless
}
check "stats after exit: endpoints listed" [ "$(json "len(d['endpoints'])")" = 24 ]

# ---- 2000 endpoints under a soft fd limit of 1024: the limit is raised to the hard one ----
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 2200 ]; then
  (ulimit -Sn 1024 && exec "$FF" --profile "$PROF" --port-file "$T/big.ports" --count 2000 \
    --mix normal=98,busy=2 --duration 60) 2>"$T/big.err" &
  FPID=$!
  for _ in $(seq 1 100); do [ -s "$T/big.ports" ] && break; sleep 0.1; done
  check "2000 endpoints: port file" [ "$(wc -l <"$T/big.ports" 2>/dev/null)" = 2000 ]
  pids=()
  for n in 1 1000 2000; do # in parallel
    p=$(sed -n "${n}p" "$T/big.ports" | cut -d' ' -f1)
    curl -s -o /dev/null -w '%{http_code} %{time_total}' \
      "http://127.0.0.1:$p/debug/pprof/profile?seconds=1" >"$T/big.$n" &
    pids+=($!)
  done
  wait "${pids[@]}"
  for n in 1 1000 2000; do
    # no --delay-ms: normal waits the request's seconds (1 s)
    read -r CODE TIME <"$T/big.$n"
    check "2000 endpoints: #$n answers 200 after 1 s (got $CODE $TIME)" \
      eval '[ "$CODE" = 200 ] && ge "$TIME" 0.95 && lt "$TIME" 3'
  done
  stop_fleet big
else
  echo "note: hard fd limit $(ulimit -Hn) < 2200, 2000-endpoint check skipped"
fi

# ---- --profile given twice: endpoint i serves file i mod 2 --------------------------------
PROF2="$T/prof2.pb.gz"
"$CPGO_TESTGEN" -o "$PROF2" -heavy -seed 5 || fail "testgen -heavy"
rm -f "$T/two.ports"
"$FF" --profile "$PROF" --profile "$PROF2" --count 3 --delay-ms 50 --port-file "$T/two.ports" \
  2>"$T/two.err" &
FPID=$!
for _ in $(seq 1 100); do [ -s "$T/two.ports" ] && break; sleep 0.1; done
for i in 1 2 3; do
  p=$(sed -n "${i}p" "$T/two.ports" | cut -d' ' -f1)
  get "http://127.0.0.1:$p/debug/pprof/profile?seconds=1"
  want=$PROF; [ "$i" = 2 ] && want=$PROF2
  check "two profiles: endpoint $i serves $(basename "$want") (got $R)" cmp -s "$T/body" "$want"
done
stop_fleet two

# ---- --duration: exits 0 by itself; --base-port: consecutive ports -----------------------
start_fleet dur --count 3 --duration 1 && {
  wait "$FPID"
  check "--duration: exits 0 by itself" [ $? -eq 0 ]
}
# A random base may be taken by other work on the machine: retry elsewhere, quietly, and
# count a failure only when every try fails or one fails for another reason.
based=0
for _ in $(seq 1 10); do
  base=$((20000 + RANDOM % 20000))
  try_fleet base --base-port "$base" --count 3 --behaviour notfound && { based=1; break; }
  grep -q 'address already in use' "$T/base.err" || break
done
if [ "$based" = 1 ]; then
  check "--base-port: ports P..P+2" [ "$(cut -d' ' -f1 "$T/base.ports" | paste -sd,)" = "$base,$((base + 1)),$((base + 2))" ]
  get "http://127.0.0.1:$((base + 2))/debug/pprof/profile"
  check "--base-port: last port answers (got $R)" [ "$CODE" = 404 ]
  stop_fleet base
else
  fail "base: no port file after 10 bases ($(cat "$T/base.err"))"
fi

# ---- the default 1 GiB bomb: about 1 MiB of gzip, whose trailer holds the CRC-32 and size of
# 1 GiB of zeros (inflating all of it takes seconds: the 100 MB bomb above was inflated
# whole, through the same segments; here the first 64 MiB are)
start_fleet bomb --behaviour bomb && {
  get "http://127.0.0.1:$(cut -d' ' -f1 "$T/bomb.ports")/debug/pprof/profile?seconds=1"
  check "default bomb: 200, under 1.1 MiB (got $R)" eval '[ "$CODE" = 200 ] && [ "$SIZE" -lt 1153434 ]'
  python3 - "$T/body" >"$T/bomb.out" 2>&1 <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
crc, isize = struct.unpack("<II", data[-8:])
z, want = bytes(1 << 24), 0
for _ in range(64):
    want = zlib.crc32(z, want)
assert (crc, isize) == (want, 1 << 30), ("trailer", crc, isize, want)
out = zlib.decompressobj(31).decompress(data, 1 << 26)
assert len(out) == 1 << 26 and out.count(0) == len(out), "first 64 MiB are not zeros"
print("ok")
EOF
  check "default bomb: trailer and first 64 MiB: $(tail -1 "$T/bomb.out")" grep -qx ok "$T/bomb.out"
  stop_fleet bomb
}
finish

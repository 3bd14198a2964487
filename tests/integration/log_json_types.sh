#!/usr/bin/env bash
# log_json_types.sh - a real daemon's JSON log lines carry typed values, as Go's slog
# JSONHandler writes them: counts, sizes, status codes and attempts are JSON numbers,
# `transient` a boolean, seconds numbers; names stay strings even when they look like
# numbers (a backend named "123"). The logfmt lines of the same run are unchanged: the
# same keys and texts.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 3 -samples 300 -locations 150 -functions 80
# one endpoint answers normally, one with 404 (permanent), one resets (transient); the
# port file says which is which
start_fleet "$T" --profile "$P" --count 3 --mix normal=1,notfound=1,reset=1 --delay-ms 50 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
# backend names 123, 124, 125 in the port file's order
name_of() { awk -v b="$1" '$2 == b { print 123 + NR - 1 }' "$T/ports"; }
NF404=$(name_of notfound)
RESET=$(name_of reset)
mkcfg() { # mkcfg FORMAT STATE
  echo "state_dir: $2"
  echo "log: {format: $1, level: debug}"
  echo "backends:"
  local i=0 name
  for port in "${PORTS[@]}"; do
    name=$((123 + i))
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  name: '$name'"
    echo "  schedule: '@hourly'"
    echo "  retries: 1"
    echo "  open_pull_request: {repository: https://github.com/acme/svc, target_file: default.pgo, target_branch: main}"
    i=$((i + 1))
  done
}
mkcfg json "$T/sj" >"$T/json.yaml"
mkcfg logfmt "$T/sl" >"$T/logfmt.yaml"
"$CPGO" run --once -c "$T/json.yaml" --output "$T/outj" >/dev/null 2>"$T/json.log"
rc=$?
check "json run ended (rc $rc: 0 or 1, a backend fails on purpose)" [ "$rc" -le 1 ]
"$CPGO" run --once -c "$T/logfmt.yaml" --output "$T/outl" >/dev/null 2>"$T/logfmt.log"
rc=$?
check "logfmt run ended (rc $rc)" [ "$rc" -le 1 ]
stop_fleet

python3 - "$T/json.log" "$NF404" "$RESET" <<'EOF' >"$T/verdict" 2>&1
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
recs = [json.loads(l) for l in lines]  # every line is JSON
bad = []
def typed(msg, key, want):
    got = [r[key] for r in recs if r.get("msg") == msg and key in r]
    if not got:
        bad.append(f"no '{msg}' line with {key}")
    for v in got:
        if want is int and (not isinstance(v, int) or isinstance(v, bool)):
            bad.append(f"{msg}: {key}={v!r} is not an integer")
        if want is float and (not isinstance(v, (int, float)) or isinstance(v, bool)):
            bad.append(f"{msg}: {key}={v!r} is not a number")
        if want is bool and not isinstance(v, bool):
            bad.append(f"{msg}: {key}={v!r} is not a boolean")
        if want is str and not isinstance(v, str):
            bad.append(f"{msg}: {key}={v!r} is not a string")
typed("starting", "backends", int)
typed("starting", "targets", str)  # "N of M" when sharded: always text
typed("scrape merged", "pending_scrapes", int)
typed("scrape merged", "backend", str)  # named '12x': a name, not a number
typed("scrape failed", "transient", bool)
typed("scrape failed", "backend", str)
typed("scrape failed, retrying", "attempt", int)
typed("published", "scrapes", int)
typed("published", "bytes_before", int)
typed("published", "bytes_after", int)
typed("stopped", "loop_cpu_seconds", float)
typed("stopped", "loop_lag_max_seconds", float)
names = {r["backend"] for r in recs if "backend" in r}
if "123" not in names:
    bad.append(f"backend '123' not logged as the string '123': {names}")
for r in recs:
    for k in r:
        if k and ord(k[0]) < 32:
            bad.append(f"a type marker reached the output: {k!r}")
trans = {r["backend"]: r["transient"] for r in recs if r.get("msg") == "scrape failed"}
if trans.get(sys.argv[2]) is not False or trans.get(sys.argv[3]) is not True:
    bad.append(f"transient per backend: {trans}")
print("\n".join(bad) if bad else "ok")
EOF
check "JSON values typed ($(cat "$T/verdict"))" [ "$(cat "$T/verdict")" = ok ]

# logfmt: the same keys, the values as text, no marker
check "logfmt: counts as text" grep -q "msg=\"scrape merged\" backend=$(name_of normal) target=[^ ]* pending_scrapes=1$" "$T/logfmt.log"
check "logfmt: transient as text" grep -q "msg=\"scrape failed\" backend=$RESET .* transient=true " "$T/logfmt.log"
check "logfmt: permanent as text" grep -q "msg=\"scrape failed\" backend=$NF404 .* transient=false " "$T/logfmt.log"
check "logfmt: attempt as text" grep -q 'attempt=1$' "$T/logfmt.log"
check "logfmt: no control byte" bash -c "! LC_ALL=C grep -q \$'[\\x01-\\x03]' '$T/logfmt.log'"
finish

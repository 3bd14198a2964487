#!/usr/bin/env bash
# One bad instance cannot poison a target. Instances of one target serve: the Go CPU shape
# (honest), the same types in the other order (reordered: accepted, merged exactly), another
# set of types (rejected alone, class incompatible, named), a negative value (rejected alone),
# and values whose sum overflows int64 (the second such scrape rejected alone). The bad
# instance is scraped first and the daemon restarted in between: honest scrapes keep being
# accepted, and the published file is exactly the merge of the accepted scrapes. An existing
# file in the other order (--output, and a local git forge) is normalised; one of another set
# is refused, named.
. "$(dirname "$0")/lib.sh"
gen() { "$CPGO_TESTGEN" -o "$T/$1.pb.gz" -seed 3 -samples 600 -locations 300 -functions 150 -kind "$2"; }
gen honest cpu
gen rev reversed
gen wall wall
gen neg negative
gen big bigvalues
S=$(samples_in "$T/honest.pb.gz")
for f in honest rev wall neg big; do
  mkdir -p "$T/fleet-$f"
  n=1
  case $f in honest | big) n=2 ;; esac
  start_fleet "$T/fleet-$f" --profile "$T/$f.pb.gz" --count $n --delay-ms 100 || finish
  eval "pid_$f=\$FLEET_PID"
done
mkcfg() { # mkcfg FILE SCHEDULE KIND...
  local file=$1 sched=$2; shift 2
  {
    echo "state_dir: $T/state"
    echo "shutdown_timeout: 10s"
    echo "backends:"
    local k port i
    for k in "$@"; do
      i=0
      while read -r port _; do
        echo "- name: $k-$i"
        echo "  url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
        echo "  schedule: '$sched'"
        echo "  timeout: 2s"
        echo "  open_pull_request: {repository: https://github.com/acme/$([ "$k" = big ] && echo big || echo svc), target_file: default.pgo, target_branch: main}"
        i=$((i + 1))
      done < "$T/fleet-$k/ports"
    done
  } > "$file"
}

# 1. The bad instance alone, first; then the reordered one alone. Nothing can be published
#    (the output directory is blocked), so what was accepted stays pending across restarts.
mkdir -p "$T/blocked" && : > "$T/blocked/github.com"
mkcfg "$T/c1.yaml" '* * * * *' wall
"$CPGO" run --once -c "$T/c1.yaml" --output "$T/blocked" 2>"$T/log1"
check "phase 1: the bad instance fails the run" [ $? -eq 1 ]
check "the other set is rejected as incompatible, the backend named" \
  grep -q 'msg="scrape rejected" backend=wall-0 target=github.com/acme/svc.* class=incompatible error="sample types \[samples/count cpu/nanoseconds wall/nanoseconds\], expected \[samples/count cpu/nanoseconds\]' "$T/log1"
mkcfg "$T/c1b.yaml" '* * * * *' rev
"$CPGO" run --once -c "$T/c1b.yaml" --output "$T/blocked" 2>>"$T/log1"
check "the reordered instance is accepted after it (the bad one is no reference)" \
  grep -q 'msg="scrape merged" backend=rev-0' "$T/log1"
check "its publish failed (blocked), so it stays pending" grep -q 'msg="publish failed"' "$T/log1"
K=$(grep -c 'msg="scrape merged" backend=rev-0' "$T/log1")

# 2. Everyone, after the restart: honest x2, reordered, other set, negative; another target
#    with two instances whose values overflow int64 when merged.
mkcfg "$T/c2.yaml" '* * * * *' honest rev wall neg big
"$CPGO" run --once -c "$T/c2.yaml" --output "$T/out" 2>"$T/log2"
rc=$?
# both targets are published: the rejected scrapes are warnings, not failures (--strict's)
check "exit 0: published, some scrapes rejected (got $rc)" [ "$rc" -eq 0 ]
check "recovered the reordered scrapes of phase 1" grep -q 'msg="recovered pending scrapes" target=github.com/acme/svc' "$T/log2"
for b in honest-0 honest-1 rev-0; do
  check "$b merged" grep -q "msg=\"scrape merged\" backend=$b " "$T/log2"
done
check "other set rejected again, alone" grep -q 'msg="scrape rejected" backend=wall-0 .*class=incompatible' "$T/log2"
check "negative value rejected, named" \
  grep -q 'msg="scrape rejected" backend=neg-0 .*class=bad_payload error="sample [0-9]* has a negative cpu value' "$T/log2"
check "exactly one overflowing scrape rejected" [ "$(grep -c 'msg="scrape rejected" backend=big-.*overflows int64; input refused' "$T/log2")" -eq 1 ]
check "and one merged" [ "$(grep -c 'msg="scrape merged" backend=big-' "$T/log2")" -eq 1 ]
check "no other rejection" [ "$(grep -c 'msg="scrape rejected"' "$T/log2")" -eq 3 ]

# The published file is exactly the merge of the accepted scrapes: 2 honest + 1 + K
# reordered (the same profile), with the target's default trimming.
O="$T/out/github.com/acme/svc/main/default.pgo"
n=$((3 + K))
files=()
for _ in $(seq 1 $n); do files+=("$T/honest.pb.gz"); done
"$CPGO" merge --drop-labels --strip-addresses -o "$T/want.pb.gz" "${files[@]}"
check "svc published" [ -s "$O" ]
check "svc holds $n scrapes" [ "$(samples_in "$O")" -eq $((n * S)) ]
"$CPGO_CANON" "$O" > "$T/got.canon" 2>&1
"$CPGO_CANON" "$T/want.pb.gz" > "$T/want.canon" 2>&1
check "svc equals the merge of the accepted scrapes, in the Go CPU order" cmp -s "$T/got.canon" "$T/want.canon"
check "sample types in the Go CPU order" \
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert [t["type"] for t in d["sample_types"]]==["samples","cpu"]' < <("$CPGO" inspect --json "$O")
"$CPGO" inspect "$O" > "$T/inspect"
check "usable for PGO" grep -q "Go PGO:        usable" "$T/inspect"
check "big published with one scrape" [ "$(samples_in "$T/out/github.com/acme/big/main/default.pgo")" -eq "$S" ]

# 3. An existing file in the reordered order is normalised the same way.
cp "$T/rev.pb.gz" "$O"
mkcfg "$T/c3.yaml" '* * * * *' honest
"$CPGO" run --once -c "$T/c3.yaml" --output "$T/out" 2>"$T/log3"
check "existing reordered file merged (exit 0)" [ $? -eq 0 ]
"$CPGO" merge --drop-labels --strip-addresses -o "$T/want3.pb.gz" "$T/honest.pb.gz" "$T/honest.pb.gz" "$T/honest.pb.gz"
"$CPGO_CANON" "$O" > "$T/got3.canon" 2>&1
"$CPGO_CANON" "$T/want3.pb.gz" > "$T/want3.canon" 2>&1
check "existing (reordered) + 2 honest equals 3 honest" cmp -s "$T/got3.canon" "$T/want3.canon"
# ... and an existing file of another set is refused, naming the file
cp "$T/wall.pb.gz" "$O"
"$CPGO" run --once -c "$T/c3.yaml" --output "$T/out" 2>"$T/log4"
check "existing file of another set: exit 1" [ $? -eq 1 ]
check "existing file of another set is named" grep -q "existing profile $O: sample types" "$T/log4"
check "existing file left alone" cmp -s "$O" "$T/wall.pb.gz"

# 4. The same through a forge (a local git repository): an existing default.pgo in the other
#    order is normalised; one of another set is refused and nothing is pushed.
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
R="$T/repo"
git init -q -b main "$R"
mkdir -p "$R/cmd/app"
echo 'package main' >"$R/cmd/app/main.go"
cp "$T/rev.pb.gz" "$R/cmd/app/default.pgo"
git -C "$R" add -A
git -C "$R" -c user.name=Human -c user.email=human@example.com commit -q -m init
{
  echo "state_dir: $T/state-forge"
  echo "backends:"
  i=0
  while read -r port _; do
    echo "- name: honest-$i"
    echo "  url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  schedule: '* * * * *'"
    echo "  timeout: 2s"
    echo "  open_pull_request: {repository: $R, target_file: default.pgo, target_branch: main}"
    i=$((i + 1))
  done < "$T/fleet-honest/ports"
} > "$T/c4.yaml"
"$CPGO" run --once -c "$T/c4.yaml" 2>"$T/log5"
check "forge: existing reordered file merged (exit 0)" [ $? -eq 0 ]
git -C "$R" show "cpgo/main/cmd/app/default.pgo:cmd/app/default.pgo" > "$T/forge.pgo" 2>/dev/null
"$CPGO_CANON" "$T/forge.pgo" > "$T/got5.canon" 2>&1
check "forge: existing (reordered) + 2 honest equals 3 honest" cmp -s "$T/got5.canon" "$T/want3.canon"
git -C "$R" checkout -q main
cp "$T/wall.pb.gz" "$R/cmd/app/default.pgo"
git -C "$R" -c user.name=Human -c user.email=human@example.com commit -q -am "other set"
git -C "$R" branch -q -D cpgo/main/cmd/app/default.pgo
"$CPGO" run --once -c "$T/c4.yaml" 2>"$T/log6"
check "forge: existing file of another set: exit 1" [ $? -eq 1 ]
check "forge: the existing file is named" \
  grep -q "the existing cmd/app/default.pgo on branch 'main': sample types \[samples/count cpu/nanoseconds wall/nanoseconds\]" "$T/log6"
check "forge: nothing pushed" bash -c "! git -C '$R' rev-parse -q --verify cpgo/main/cmd/app/default.pgo"

for f in honest rev wall neg big; do eval "FLEET_PID=\$pid_$f"; stop_fleet; done
finish

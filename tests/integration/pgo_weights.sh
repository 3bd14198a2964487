#!/usr/bin/env bash
# pgo.weight (issue 12) end to end: two backends of one target serve the same real Go CPU
# profile, one with weight 1 and one with weight 0.1 (a canary).
# 1. `cpgo run --once` publishes v + v x 0.1 for every value of every sample (the count
#    rounded down or up without bias, the others to the nearest), a tenth in all
#    (Go's `go tool pprof -raw` read by pgo_raw.py; halves rounded up: the profile has
#    counts that are multiples of 5);
# 2. the weight is journaled with the scrape: the daemon scrapes (its publish fails: the
#    repository does not exist yet), the fleet goes away, it is killed with SIGKILL; a
#    restart with other weights in the configuration (1 and 1) publishes the journaled
#    scrapes with the weights they were accepted with, and, when each backend was scraped
#    once, byte for byte the file of step 1.
. "$(dirname "$0")/lib.sh"
need_go
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
export GOCACHE GOMODCACHE GOPATH HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
RAW="$CPGO_SRC/tests/integration/pgo_raw.py"
BR=cpgo/main/default.pgo
export CPGO_TEST_NOW=1893456000

PG=$(build_profgen) || { fail "cannot build the Go test program"; finish; }
"$PG" -o "$T/v0.pprof" -ms 1200 -variant 0 &
"$PG" -o "$T/v1.pprof" -ms 1200 -variant 1 -labels
wait
"$CPGO" merge --drop-labels --strip-addresses -o "$T/v0.pgo" "$T/v0.pprof"
"$CPGO" merge --drop-labels --strip-addresses -o "$T/v1.pgo" "$T/v1.pprof"
# counts that are multiples of 5 (x 0.1 = k + 0.5 for odd k: the rounding shows) and others
"$CPGO" merge -o "$T/in.pgo" "$T/v0.pgo" "$T/v0.pgo" "$T/v0.pgo" "$T/v0.pgo" "$T/v0.pgo" "$T/v1.pgo"

mkrepo() {
  git init -q -b main "$1"
  echo 'package main' >"$1/main.go"
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
mkcfg() { # mkcfg REPO STATE W_A W_B PORT_A PORT_B [SCHEDULE]
  cat <<EOF
state_dir: $2
defaults:
  schedule: '${7:-@every 1h}'
  timeout: 1500ms
  open_pull_request: {repository: $1, target_branch: main}
backends:
- url: http://127.0.0.1:$5/debug/pprof/profile?seconds=1
  name: main-0
  pgo: {weight: $3, no_inline: []} # no renames: the values are what this test judges
- url: http://127.0.0.1:$6/debug/pprof/profile?seconds=1
  name: canary
  pgo: {weight: $4, no_inline: []}
EOF
}
mkdir -p "$T/f1"
start_fleet "$T/f1" --profile "$T/in.pgo" --count 2 --delay-ms 100 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/f1/ports")

# 1. one round: v + v x 0.1
mkrepo "$T/ref"
mkcfg "$T/ref" "$T/ref-state" 1 0.1 "${PORTS[@]}" >"$T/ref.yaml"
"$CPGO" run -c "$T/ref.yaml" --once >"$T/ref.log" 2>&1
rc=$?
check "one round exits 0 (rc $rc: $(grep -m1 level=error "$T/ref.log"))" [ "$rc" -eq 0 ]
git -C "$T/ref" show "$BR:default.pgo" >"$T/ref.pgo" 2>/dev/null || fail "nothing published"
if python3 "$RAW" expect "$T/ref.pgo" "$T/in.pgo" "?100000/1000000:$T/in.pgo" >"$T/diff"; then ok; else
  fail "the file is not v + v x 0.1 (counts rounded down or up): $(head -5 "$T/diff")"
fi
# (unbiasedness on many samples: unit.test_state_state/test_weights; here each sample's
# count is bounded by the expectation above)

# 2. scraped by the daemon, journaled, killed, restarted with other weights
R="$T/repo" # does not exist yet: the daemon's publishes fail, the scrapes stay pending
mkcfg "$R" "$T/state" 1 0.1 "${PORTS[@]}" '@every 2s' >"$T/d.yaml"
"$CPGO" run -c "$T/d.yaml" >"$T/d.log" 2>&1 &
DPID=$!
merged() { grep 'msg="scrape merged"' "$T/d.log" | grep -c "backend=$1"; }
wait_for '[ "$(merged main-0)" -ge 1 ] && [ "$(merged canary)" -ge 1 ]' 60 ||
  fail "the daemon did not scrape both backends: $(tail -3 "$T/d.log")"
stop_fleet # no more scrapes: the counts in the log are final
sleep 3
na=$(merged main-0)
nb=$(merged canary)
"$CPGO" state -c "$T/d.yaml" >"$T/state.out" 2>&1
check "cpgo state shows the $((na + nb)) journaled scrapes ($(grep pending "$T/state.out"))" \
  grep -q "pending scrapes: $((na + nb)) " "$T/state.out"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
check "no publish happened before the kill" [ ! -e "$R" ]
mkrepo "$R"
# the configuration now says 1 and 1: the journal must keep 0.1 for the canary's scrapes;
# the fleet is gone, so nothing fresh is added (the backends fail: exit 1)
mkcfg "$R" "$T/state" 1 1 "${PORTS[@]}" >"$T/r.yaml"
"$CPGO" run -c "$T/r.yaml" --once >"$T/r.log" 2>&1
rc=$?
check "the restart publishes the journaled scrapes ($(grep -m1 'level=error' "$T/r.log"))" \
  git -C "$R" rev-parse -q --verify "refs/heads/$BR"
git -C "$R" show "$BR:default.pgo" >"$T/r.pgo" 2>/dev/null
specs=()
for _ in $(seq 1 "$na"); do specs+=("$T/in.pgo"); done
for _ in $(seq 1 "$nb"); do specs+=("?100000/1000000:$T/in.pgo"); done
if python3 "$RAW" expect "$T/r.pgo" "${specs[@]}" >"$T/diff"; then ok; else
  fail "after kill -9 the file is not $na x v + $nb x v x 0.1: $(head -5 "$T/diff")"
fi
if [ "$na" -eq 1 ] && [ "$nb" -eq 1 ]; then
  check "one scrape each: byte for byte the file of one clean round" cmp -s "$T/ref.pgo" "$T/r.pgo"
else
  echo "note: the daemon scraped $na + $nb times before the kill: the byte comparison is skipped"
fi
echo "rc of the restart (its backends are gone): $rc"
finish

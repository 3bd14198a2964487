#!/usr/bin/env bash
# pgo.min_change (issue 12, item 4) with a local repository and `cpgo run --once`, real Go
# CPU profiles (tests/go/profgen: variant 0 burns in sha256 and mathLoop, variant 1 in sort
# and fib), judged by `go tool preprofile`:
# 1. the first round publishes;
# 2. two more rounds of the same profile change the normalised edge weights by 0: nothing
#    is pushed (the head branch's commit is unchanged), the log says "below min_change",
#    --once exits 0, and the scrapes stay pending (`cpgo state` counts them);
# 3. a round of the other profile (another stack dominates) publishes, and the file holds
#    every scrape (exactly 3 x A + B, sample by sample), its edges are those of Go's own
#    merge of them, and the commit message lists exactly the hot edges (cmd/compile's 99%
#    cut, recomputed from Go's preprofile output) that merging it changes in the build:
#    compared with the target branch's file (none here, so every hot edge is added), while
#    min_change compared with the file proposed before.
. "$(dirname "$0")/lib.sh"
need_go
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
export GOCACHE GOMODCACHE GOPATH HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
RAW="$CPGO_SRC/tests/integration/pgo_raw.py"
BR=cpgo/main/default.pgo

PG=$(build_profgen) || { fail "cannot build the Go test program"; finish; }
"$PG" -o "$T/a.pprof" -ms 1200 -variant 0 &
"$PG" -o "$T/b.pprof" -ms 1200 -variant 1
wait
"$CPGO" merge --drop-labels --strip-addresses -o "$T/a.pgo" "$T/a.pprof"
"$CPGO" merge --drop-labels --strip-addresses -o "$T/b.pgo" "$T/b.pprof"
mkdir -p "$T/fa" "$T/fb"
start_fleet "$T/fa" --profile "$T/a.pgo" --delay-ms 100 || finish
PA=$FLEET_PID
start_fleet "$T/fb" --profile "$T/b.pgo" --delay-ms 100 || finish
PB=$FLEET_PID
trap 'kill $PA $PB 2>/dev/null' EXIT

R="$T/repo"
git init -q -b main "$R"
echo 'package main' >"$R/main.go"
git -C "$R" add -A
git -C "$R" -c user.name=Human -c user.email=human@example.com commit -q -m init
mkcfg() { # mkcfg FLEET_DIR
  cat <<EOF
state_dir: $T/state
backends:
- url: http://127.0.0.1:$(awk '{print $1; exit}' "$1/ports")/debug/pprof/profile?seconds=1
  name: app
  schedule: '@every 1h'
  timeout: 20s
  open_pull_request: {repository: $R}
  pgo: {min_change: 5%, no_inline: []}
EOF
}
mkcfg "$T/fa" >"$T/a.yaml"
mkcfg "$T/fb" >"$T/b.yaml"
run_once() { # run_once CONFIG -> $T/out, $rc
  "$CPGO" run -c "$1" --once >"$T/out" 2>&1
  rc=$?
  cat "$T/out" >>"$T/all.log"
}
pending() { "$CPGO" state -c "$T/a.yaml" 2>&1 | sed -n 's/^ *pending scrapes: \([0-9]*\).*/\1/p'; }

# 1. the first round publishes
run_once "$T/a.yaml"
check "round 1 exits 0 (rc $rc: $(grep -m1 level=error "$T/out"))" [ "$rc" -eq 0 ]
c1=$(git -C "$R" rev-parse -q --verify "refs/heads/$BR")
check "round 1 publishes" [ -n "$c1" ]
p1=$(pending)

# 2. the same profile again, twice: below min_change
for round in 2 3; do
  run_once "$T/a.yaml"
  check "round $round exits 0 (rc $rc: $(grep -m1 level=error "$T/out"))" [ "$rc" -eq 0 ]
  check "round $round: the log says below min_change" grep -q 'below min_change' "$T/out"
  check "round $round: the head branch is unchanged" \
    [ "$(git -C "$R" rev-parse "refs/heads/$BR")" = "$c1" ]
  check "round $round: the scrape stays pending ($(pending) after $p1)" \
    [ "$(pending)" -eq $((p1 + round - 1)) ]
done
check "the log line gives the change (0.00%)" grep -q 'change="edge weights moved 0.00%' "$T/out"

# 3. another stack dominates: published, nothing lost
git -C "$R" show "$BR:default.pgo" >"$T/proposed.pgo"
run_once "$T/b.yaml"
check "round 4 exits 0 (rc $rc: $(grep -m1 level=error "$T/out"))" [ "$rc" -eq 0 ]
check "round 4 publishes" [ "$(git -C "$R" rev-parse "refs/heads/$BR")" != "$c1" ]
check "round 4: still one commit on main" [ "$(git -C "$R" rev-list --count "main..$BR")" = 1 ]
git -C "$R" show "$BR:default.pgo" >"$T/pub.pgo"
if python3 "$RAW" expect "$T/pub.pgo" "$T/a.pgo" "$T/a.pgo" "$T/a.pgo" "$T/b.pgo" >"$T/diff"; then ok; else
  fail "the file is not every scrape (3 x A + B): $(head -5 "$T/diff")"
fi
go tool pprof -proto "$T/a.pgo" "$T/a.pgo" "$T/a.pgo" "$T/b.pgo" >"$T/want.pgo" 2>/dev/null
check "its edges are those of Go's merge of the four scrapes" \
  cmp -s <(python3 "$RAW" edges "$T/pub.pgo") <(python3 "$RAW" edges "$T/want.pgo")
git -C "$R" log -1 --format=%B "$BR" >"$T/msg"
check "the commit message has the hot edges section" grep -q '^### Hot call edges that change' "$T/msg"
if python3 "$RAW" hotdiff - "$T/pub.pgo" "$T/msg" >"$T/hot.out"; then ok; else
  fail "the hot edges listed are not Go's: $(cat "$T/hot.out")"
fi
echo "$(head -1 "$T/hot.out")"
check "some hot edge was added (the new stacks)" grep -q '^\*\*Added\*\*' "$T/msg"
finish

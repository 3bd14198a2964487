#!/usr/bin/env bash
# Decay by half-life (issue 12, pgo.half_life), end to end through `cpgo run --once` and a
# local forge repository, judged by Go's own tools: `go tool pprof -raw` (every sample's
# values, compared exactly by pgo_raw.py), `go tool preprofile` (the edges the compiler
# reads), `go tool pprof -comments` (the stamp) and `go build -pgo`. The clock is
# CPGO_TEST_NOW; the fleet serves real Go CPU profiles (recorded from tests/go/profgen,
# trimmed as cpgo trims them so sample identities are stable).
# (a) a file without cpgo's stamp, last changed by a commit 48h old (authored 24h ago, and
#     a later commit that does not touch it): the old samples are scaled by exactly 0.25;
#     the preprofile equals Go's own merge of old/4 and the new scrape; the file carries
#     `cpgo-written: <now>`;
# (b) the file cpgo wrote, merged: 24h later it decays by 0.5, the age read from the stamp
#     (cpgo's commit has a wall-clock date years away from the test clock);
# (c) squash-merged and rebased with other committer dates: still the stamp's age;
# (d) a clock that went back: factor 1, no failure;
# (e) two runs from identical copies give byte-identical files;
# (f) `go build -pgo=<published file>` accepts it;
# (g) the file stops growing: many rounds over a changing set of stacks (every round new
#     stacks, as every deploy moves line numbers) stay bounded, as the README promises
#     ("old traffic fades and the file stops growing").
. "$(dirname "$0")/lib.sh"
need_go
# Go keeps its caches where it did (a fresh cache rebuilds `go tool pprof` for a minute)
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
export GOCACHE GOMODCACHE GOPATH HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
RAW="$CPGO_SRC/tests/integration/pgo_raw.py"
BR=cpgo/main/default.pgo
NOW=1893456000 # 2030-01-01T00:00:00Z: years from the wall clock cpgo's own commits carry
H=3600
D=86400
rfc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

PG=$(build_profgen) || { fail "cannot build the Go test program"; finish; }
# real Go CPU profiles, trimmed as the daemon trims (labels dropped, addresses zeroed)
for v in 0 1 2 3; do "$PG" -o "$T/v$v.pprof" -ms 1500 -variant "$v" -labels & done
wait
for v in 0 1 2 3; do
  "$CPGO" merge --drop-labels --strip-addresses -o "$T/v$v.pgo" "$T/v$v.pprof" ||
    fail "cannot trim v$v"
done
# the old file: v0 four times, so that a quarter of it is exactly v0
"$CPGO" merge -o "$T/old.pgo" "$T/v0.pgo" "$T/v0.pgo" "$T/v0.pgo" "$T/v0.pgo"

# one fake fleet endpoint per profile (real Go profiles, served in 100 ms)
declare -A PORT
FLEETS=()
for v in 1 2 3; do
  mkdir -p "$T/fleet$v"
  start_fleet "$T/fleet$v" --profile "$T/v$v.pgo" --delay-ms 100 || finish
  FLEETS+=("$FLEET_PID")
  PORT[$v]=$(awk '{print $1; exit}' "$T/fleet$v/ports")
done
trap 'kill "${FLEETS[@]}" 2>/dev/null' EXIT

mkcfg() { # mkcfg REPO STATE FLEET HALF_LIFE
  cat <<EOF
state_dir: $2
backends:
- url: http://127.0.0.1:$3/debug/pprof/profile?seconds=1
  name: app
  schedule: '@every 1h'
  timeout: 20s
  open_pull_request: {repository: $1}
  pgo: {half_life: $4, no_inline: []}
EOF
}
run_once() { # run_once CONFIG NOW -> $T/out, $rc
  CPGO_TEST_NOW=$2 "$CPGO" run -c "$1" --once >"$T/out" 2>&1
  rc=$?
  cat "$T/out" >>"$T/all.log"
}
git_at() { # git_at WHEN REPO ARGS...: git with author and committer date WHEN
  local when=$1; shift
  GIT_AUTHOR_DATE="@$when +0000" GIT_COMMITTER_DATE="@$when +0000" \
    git -C "$1" -c user.name=Human -c user.email=human@example.com "${@:2}"
}
pre() { go tool preprofile -i "$1" -o "$2" 2>"$T/pre.err" || fail "preprofile $1: $(cat "$T/pre.err")"; }
stamps() { go tool pprof -comments "$1" 2>/dev/null | grep '^cpgo-written: '; }

R="$T/repo"
git init -q -b main "$R"
printf 'module example.com/app\n\ngo 1.21\n' >"$R/go.mod"
printf 'package main\n\nfunc main() {}\n' >"$R/main.go"
cp "$T/old.pgo" "$R/default.pgo"
git -C "$R" add -A
# authored 24h before the clock, committed 48h before: the committer time decides
GIT_AUTHOR_DATE="@$((NOW - D)) +0000" GIT_COMMITTER_DATE="@$((NOW - 2 * D)) +0000" \
  git -C "$R" -c user.name=Human -c user.email=human@example.com commit -q -m "old profile"
echo hello >"$R/README.md"
git -C "$R" add README.md
git_at $((NOW - H)) "$R" commit -q -m "readme (does not touch the profile)"

# (a) no stamp: dated by the last commit that changed the file, 48h = two half-lives
mkcfg "$R" "$T/state" "${PORT[1]}" 24h >"$T/c1.yaml"
run_once "$T/c1.yaml" $NOW
check "(a) exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
git -C "$R" show "$BR:default.pgo" >"$T/a.pgo" 2>/dev/null || fail "(a) nothing published"
if python3 "$RAW" expect "$T/a.pgo" "~1/4:$T/old.pgo" "$T/v1.pgo" >"$T/diff"; then ok; else
  fail "(a) samples are not old x 0.25 + new: $(head -5 "$T/diff")"
fi
# the compiler's view: Go's own merge of v0 (= old / 4 exactly) and the scrape
go tool pprof -proto "$T/v0.pgo" "$T/v1.pgo" >"$T/a-want.pgo" 2>/dev/null
pre "$T/a.pgo" "$T/a.pre"
pre "$T/a-want.pgo" "$T/a-want.pre"
check "(a) preprofile = Go's merge of old/4 and the scrape ($(diff "$T/a-want.pre" "$T/a.pre" | head -4))" \
  cmp -s "$T/a-want.pre" "$T/a.pre"
check "(a) the preprofile has edges" [ "$(wc -l <"$T/a.pre")" -gt 4 ]
check "(a) stamped cpgo-written: $(rfc $NOW) (got: $(stamps "$T/a.pgo"))" \
  [ "$(stamps "$T/a.pgo")" = "cpgo-written: $(rfc $NOW)" ]

# (f) the Go toolchain builds a main package with it
(cd "$R" && go build -pgo="$T/a.pgo" -o "$T/app-pgo" .) >"$T/gobuild.out" 2>&1
check "(f) go build -pgo=<published file> succeeds ($(tail -2 "$T/gobuild.out"))" [ -x "$T/app-pgo" ]

# (b) merged (fast-forward): the file is cpgo's, stamped NOW; 24h later it halves. cpgo's
# commit carries today's wall clock, years from NOW: a git-dated age would wipe the file.
git -C "$R" merge -q --ff-only "$BR"
mkcfg "$R" "$T/state" "${PORT[2]}" 24h >"$T/c2.yaml"
run_once "$T/c2.yaml" $((NOW + D))
check "(b) exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
check "(b) the merge is noticed" grep -q 'branch merged: its scrapes are published' "$T/out"
git -C "$R" show "$BR:default.pgo" >"$T/b.pgo"
if python3 "$RAW" expect "$T/b.pgo" "~1/2:$T/a.pgo" "$T/v2.pgo" >"$T/diff"; then ok; else
  fail "(b) samples are not stamped file x 0.5 + new: $(head -5 "$T/diff")"
fi
check "(b) one stamp, the new time (got: $(stamps "$T/b.pgo" | tr '\n' ' '))" \
  [ "$(stamps "$T/b.pgo")" = "cpgo-written: $(rfc $((NOW + D)))" ]

# (c1) squash-merged by a person 12h after the stamp: the age is still the stamp's (24h)
git -C "$R" merge -q --squash "$BR"
git_at $((NOW + D + 12 * H)) "$R" commit -q -m "squash: profile"
check "(c1) the squash commit is a new commit" [ "$(git -C "$R" rev-parse main)" != "$(git -C "$R" rev-parse "$BR")" ]
mkcfg "$R" "$T/state" "${PORT[3]}" 24h >"$T/c3.yaml"
run_once "$T/c3.yaml" $((NOW + 2 * D))
check "(c1) exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
git -C "$R" show "$BR:default.pgo" >"$T/c1.pgo"
if python3 "$RAW" expect "$T/c1.pgo" "~1/2:$T/b.pgo" "$T/v3.pgo" >"$T/diff"; then ok; else
  fail "(c1) after a squash merge the age is not the stamp's: $(head -5 "$T/diff")"
fi

# (c2) rebased onto a moved main by a person (cherry-picked with another committer date,
# 6h after the stamp): the stamp's 24h again
echo more >>"$R/README.md"
git -C "$R" add README.md
git_at $((NOW + 2 * D + H)) "$R" commit -q -m "readme again"
git_at $((NOW + 2 * D + 6 * H)) "$R" cherry-pick "$BR" >/dev/null
check "(c2) rebased: main's file is the proposal" \
  [ "$(git -C "$R" rev-parse main:default.pgo)" = "$(git -C "$R" rev-parse "$BR:default.pgo")" ]
run_once "$T/c1.yaml" $((NOW + 3 * D))
check "(c2) exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
git -C "$R" show "$BR:default.pgo" >"$T/c2.pgo"
if python3 "$RAW" expect "$T/c2.pgo" "~1/2:$T/c1.pgo" "$T/v1.pgo" >"$T/diff"; then ok; else
  fail "(c2) after a rebase the age is not the stamp's: $(head -5 "$T/diff")"
fi

# (d) the clock went back 10 days: age 0, factor 1, no failure
git -C "$R" merge -q --ff-only "$BR"
run_once "$T/c2.yaml" $((NOW - 10 * D))
check "(d) a clock that went back: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
git -C "$R" show "$BR:default.pgo" >"$T/d.pgo"
if python3 "$RAW" expect "$T/d.pgo" "$T/c2.pgo" "$T/v2.pgo" >"$T/diff"; then ok; else
  fail "(d) the file was scaled although the clock went back: $(head -5 "$T/diff")"
fi

# (e) determinism: the same repository and state (copies restored in place: the target's
# identity follows the repository's path) and the same clock give the same bytes
git -C "$R" merge -q --ff-only "$BR"
rm -rf "$T/snap" && mkdir -p "$T/snap"
cp -a "$R" "$T/snap/repo" && cp -a "$T/state" "$T/snap/state"
for e in e1 e2; do
  rm -rf "$R" "$T/state"
  cp -a "$T/snap/repo" "$R" && cp -a "$T/snap/state" "$T/state"
  run_once "$T/c3.yaml" $((NOW + 5 * D + 17))
  check "(e) $e: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
  git -C "$R" show "$BR:default.pgo" >"$T/$e.pgo"
done
check "(e) byte-identical files from identical inputs and clock" cmp -s "$T/e1.pgo" "$T/e2.pgo"
# the factor of a 15-day age, as candidate.c computes it: round(2^40 x 0.5^(age/24h)) / 2^40
num=$(python3 -c "print(round(2 ** 40 * 2 ** (-(15 * 86400 + 17) / 86400)))")
if python3 "$RAW" expect "$T/e1.pgo" "~$num/$((2 ** 40)):$T/d.pgo" "$T/v3.pgo" >"$T/diff"; then ok; else
  fail "(e) not decayed by 15 days and 17 s: $(head -5 "$T/diff")"
fi

# (g) the file stops growing: half_life 1h, one round per hour (factor 0.5 each time),
# every round a new set of stacks. Steady state: at most twice a round's weight.
G="$T/grow"
git init -q -b main "$G"
echo 'package main' >"$G/main.go"
git -C "$G" add -A
git_at $((NOW - D)) "$G" commit -q -m init
mkdir -p "$T/gfleet"
gmax=0
totals=()
for i in $(seq 1 12); do
  "$CPGO_TESTGEN" -o "$T/g$i.pb.gz" -seed $((100 + i)) -samples 300 -locations 150 -functions 80
  "$CPGO" merge --drop-labels --strip-addresses -o "$T/g$i.pgo" "$T/g$i.pb.gz"
  s=$(python3 "$RAW" total "$T/g$i.pgo")
  [ "$s" -gt "$gmax" ] && gmax=$s
  start_fleet "$T/gfleet" --profile "$T/g$i.pgo" --delay-ms 50 || break
  mkcfg "$G" "$T/gstate" "$(awk '{print $1; exit}' "$T/gfleet/ports")" 1h >"$T/g.yaml"
  run_once "$T/g.yaml" $((NOW + i * H))
  stop_fleet
  [ "$rc" -eq 0 ] || { fail "(g) round $i: exit $rc: $(grep -m1 'level=error' "$T/out")"; break; }
  git -C "$G" merge -q --ff-only "$BR"
  git -C "$G" show "main:default.pgo" >"$T/gpub$i.pgo"
  # each round is exactly what the rule says: the last file halved, plus the scrape
  prev=(); [ "$i" -gt 1 ] && prev=("~1/2:$T/gpub$((i - 1)).pgo")
  python3 "$RAW" expect "$T/gpub$i.pgo" "${prev[@]}" "$T/g$i.pgo" >"$T/diff" ||
    fail "(g) round $i is not the last file x 0.5 + the scrape: $(head -3 "$T/diff")"
  totals+=("$(python3 "$RAW" total "$T/gpub$i.pgo")/$(python3 "$RAW" rows "$T/gpub$i.pgo")")
done
last=${totals[-1]%/*}
echo "(g) samples/count and rows after each round: ${totals[*]} (one round's weight at most $gmax)"
check "(g) the file stops growing: after 12 rounds $last samples, at most 3 x one round's $gmax" \
  [ "$last" -le $((3 * gmax)) ]
finish

#!/usr/bin/env bash
# `cpgo run --once --dry-run` (issue 12, item 6) with a local repository and --output DIR,
# a state directory holding pending scrapes (left by min_change skips), and the daemon
# running on the same configuration (it holds the state directory's lock):
# - it exits 0 and prints, per target, the path, the size before -> after, the scrapes,
#   the edge change and the pull request body;
# - it changes nothing: every file below the state directory, the repository (.git with
#   its refs included) and DIR has the same sha256 before and after, and nothing is left in
#   $TMPDIR (a private one);
# - what it announces is what a real `--once` publishes right after (with the same clock
#   and the same profiles): the same scrape count and the same size.
. "$(dirname "$0")/lib.sh"
need_go
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
export GOCACHE GOMODCACHE GOPATH HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export CPGO_TEST_NOW=1893456000
BR=cpgo/main/default.pgo

PG=$(build_profgen) || { fail "cannot build the Go test program"; finish; }
"$PG" -o "$T/a.pprof" -ms 1000 -variant 0 &
"$PG" -o "$T/b.pprof" -ms 1000 -variant 1
wait
"$CPGO" merge --drop-labels --strip-addresses -o "$T/a.pgo" "$T/a.pprof"
"$CPGO" merge --drop-labels --strip-addresses -o "$T/b.pgo" "$T/b.pprof"
mkdir -p "$T/fa" "$T/fb"
start_fleet "$T/fa" --profile "$T/a.pgo" --delay-ms 100 || finish
PA=$FLEET_PID
start_fleet "$T/fb" --profile "$T/b.pgo" --delay-ms 100 || finish
PB=$FLEET_PID
DPID=
trap 'kill $PA $PB $DPID 2>/dev/null' EXIT

R="$T/repo"
git init -q -b main "$R"
echo 'package main' >"$R/main.go"
git -C "$R" add -A
git -C "$R" -c user.name=Human -c user.email=human@example.com commit -q -m init
S="$T/state"
D="$T/out"
mkcfg() { # mkcfg FLEET_DIR
  cat <<EOF
state_dir: $S
backends:
- url: http://127.0.0.1:$(awk '{print $1; exit}' "$1/ports")/debug/pprof/profile?seconds=1
  name: app
  schedule: '@every 1h'
  timeout: 20s
  open_pull_request: {repository: $R}
  pgo: {min_change: 5%}
EOF
}
mkcfg "$T/fa" >"$T/a.yaml"
mkcfg "$T/fb" >"$T/b.yaml"
once() { "$CPGO" run -c "$@" --once >>"$T/setup.log" 2>&1 || fail "setup: cpgo run $* failed: $(tail -2 "$T/setup.log")"; }
# published once, then a min_change skip leaves a scrape pending: for the forge and for DIR
once "$T/a.yaml"
once "$T/a.yaml"
once "$T/a.yaml" --output "$D"
once "$T/a.yaml" --output "$D"
check "the setup left scrapes pending (min_change skips)" \
  [ "$(grep -c 'msg="not published: the change is below min_change"' "$T/setup.log")" -eq 2 ]
FILE="$D/local$R/main/default.pgo"
[ -f "$FILE" ] || FILE=$(find "$D" -name default.pgo | head -1)
check "DIR holds the published file" [ -s "$FILE" ]

# the daemon on the same configuration holds the lock
"$CPGO" run -c "$T/b.yaml" >"$T/daemon.log" 2>&1 &
DPID=$!
wait_for "grep -q msg=starting '$T/daemon.log'" 20 || fail "the daemon did not start: $(tail -2 "$T/daemon.log")"
sleep 1
"$CPGO" run -c "$T/b.yaml" --once >"$T/locked.log" 2>&1
check "the state directory is locked: a real --once exits 1" [ $? -eq 1 ]

snap() { (cd "$T" && find state repo out -type f -print0 | sort -z | xargs -0 sha256sum); }
snap >"$T/before.sha"
mkdir -p "$T/tmp"
TMPDIR="$T/tmp" "$CPGO" run -c "$T/b.yaml" --once --dry-run >"$T/report.forge" 2>"$T/dry.forge.log"
rc=$?
check "dry run (forge) exits 0 beside the daemon (rc $rc: $(grep -m1 level=error "$T/dry.forge.log"))" [ "$rc" -eq 0 ]
TMPDIR="$T/tmp" "$CPGO" run -c "$T/b.yaml" --once --dry-run --output "$D" >"$T/report.dir" 2>"$T/dry.dir.log"
rc=$?
check "dry run (--output) exits 0 beside the daemon (rc $rc: $(grep -m1 level=error "$T/dry.dir.log"))" [ "$rc" -eq 0 ]
snap >"$T/after.sha"
check "state, repository (.git included) and DIR unchanged ($(diff "$T/before.sha" "$T/after.sha" | head -3))" \
  cmp -s "$T/before.sha" "$T/after.sha"
check "nothing left in TMPDIR ($(ls -A "$T/tmp" | head -3))" [ -z "$(ls -A "$T/tmp")" ]
check "the refs are those of before" [ "$(git -C "$R" for-each-ref | wc -l)" -eq 2 ]

# the reports
for kind in forge dir; do
  f="$T/report.$kind"
  check "$kind report: names the target" grep -q "^target local$R@main:default.pgo" "$f"
  check "$kind report: says it would publish ($(grep verdict "$f"))" grep -Eq '^  verdict: would (publish|push)$' "$f"
  check "$kind report: size before -> after" grep -Eq '^  size: ([0-9]+ -> [0-9]+|new file, [0-9]+) bytes' "$f"
  check "$kind report: scrapes" grep -Eq '^  scrapes: [0-9]+ from 1 instance' "$f"
  check "$kind report: edge change" grep -q '^  edge change: \(edge weights moved\|a new file\)' "$f"
done
check "forge report: the file and the branch" \
  grep -q "^  would propose: default.pgo on branch $BR (base main)\$" "$T/report.forge"
check "dir report: the file below DIR" grep -q "^  would write: $FILE\$" "$T/report.dir"
check "forge report: the pull request body" bash -c "grep -q '^  pull request body:' '$T/report.forge' && grep -q '^### Hot call edges that change' '$T/report.forge'"

# what it announced is what a real run publishes now (the daemon stopped first)
kill -TERM "$DPID"
wait "$DPID" 2>/dev/null
DPID=
for kind in forge dir; do
  out=()
  [ "$kind" = dir ] && out=(--output "$D")
  "$CPGO" run -c "$T/b.yaml" --once "${out[@]}" >"$T/real.$kind.log" 2>&1
  rc=$?
  check "$kind: the real run exits 0 (rc $rc)" [ "$rc" -eq 0 ]
  line=$(grep -m1 -E 'msg="?published' "$T/real.$kind.log")
  sc=$(sed -n 's/.* scrapes=\([0-9]*\).*/\1/p' <<<"$line")
  ba=$(sed -n 's/.* bytes_after=\([0-9]*\).*/\1/p' <<<"$line")
  check "$kind: the dry run announced the $sc scrapes the real run published ($(grep '^  scrapes' "$T/report.$kind"))" \
    grep -q "^  scrapes: $sc from" "$T/report.$kind"
  check "$kind: the dry run announced the size the real run wrote, $ba bytes ($(grep '^  size' "$T/report.$kind"))" \
    grep -Eq "^  size: ([0-9]+ -> |new file, )$ba bytes" "$T/report.$kind"
done
finish

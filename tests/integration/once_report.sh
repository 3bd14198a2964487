#!/usr/bin/env bash
# What `cpgo run --once` says while it works and when it ends (issue 15), on local
# repositories fed by a fake fleet (two healthy instances, one that answers 404):
# - on a terminal (a real pseudo-terminal through script(1)) a progress line is drawn in
#   place on stderr (scrapes ok / in flight / failed per target); piped, there is none;
# - the summary table on stdout, terminal or not: per target the scrapes ok and failed and
#   where it was published (the branch and the commit the repository really has), or why
#   not; the failed scrapes of a published target as warnings; -v adds each backend's line
#   and the debug log;
# - exit status: 0 every target published (or had nothing to publish: below min_change),
#   0 with a failed backend in a published target (a warning), 1 with --strict, 1 when a
#   target failed, 2 for a missing or unreadable configuration file with every command that
#   takes -c (and --strict without --once).
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
if ! command -v script >/dev/null 2>&1; then
  echo "SKIP: script (util-linux) is not installed: no terminal to test the progress on"
  exit 77
fi
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 5 -samples 300 -locations 150 -functions 80
mkdir -p "$T/good" "$T/bad"
start_fleet "$T/good" --profile "$P" --count 2 || finish
GOOD=$FLEET_PID
start_fleet "$T/bad" --profile "$P" --count 1 --behaviour notfound || finish
BAD=$FLEET_PID
trap 'kill $GOOD $BAD 2>/dev/null' EXIT
mapfile -t GP < <(awk '{print $1}' "$T/good/ports")
BP=$(awk '{print $1; exit}' "$T/bad/ports")
BR=cpgo/main/default.pgo
ESC=$'\033'

mkrepo() { # mkrepo DIR: a repository with one commit on main
  git init -q -b main "$1"
  echo 'package main' >"$1/main.go"
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
backend() { # backend NAME PORT REPO [EXTRA]
  echo "- name: $1"
  echo "  url: http://127.0.0.1:$2/debug/pprof/profile?seconds=1"
  echo "  schedule: '@every 1m'"
  echo "  timeout: 1500ms"
  echo "  open_pull_request: {repository: $3}"
  [ -n "${4:-}" ] && echo "  $4"
  true
}
for r in a b c d e; do mkrepo "$T/$r"; done
{ echo "state_dir: $T/state-ok"; echo "backends:"
  backend app-1 "${GP[0]}" "$T/a"; backend app-2 "${GP[1]}" "$T/a"; } >"$T/ok.yaml"
{ echo "state_dir: $T/state-warn"; echo "backends:"
  backend app-1 "${GP[0]}" "$T/b"; backend bad-1 "$BP" "$T/b"; } >"$T/warn.yaml"
{ echo "state_dir: $T/state-fail"; echo "backends:"
  backend app-1 "${GP[0]}" "$T/c"; backend bad-1 "$BP" "$T/d"; } >"$T/fail.yaml"
{ echo "state_dir: $T/state-small"; echo "backends:"
  backend app-1 "${GP[0]}" "$T/e" "pgo: {min_change: 5%}"; } >"$T/small.yaml"
# row KEY OK FAILED RESULT-REGEX FILE: the summary has that row
row() { grep -Eq "^local$1@main:default.pgo +$2 +$3  $4\$" "$5"; }

# 1. piped: the summary, and no progress line anywhere
"$CPGO" run -c "$T/ok.yaml" --once >"$T/ok.out" 2>"$T/ok.err"
rc=$?
check "all published: exit 0 (rc $rc: $(tail -2 "$T/ok.err"))" [ "$rc" -eq 0 ]
commit=$(git -C "$T/a" rev-parse --short=12 "$BR" 2>/dev/null)
check "the summary's head line ($(head -1 "$T/ok.out"))" \
  grep -Eq '^cpgo run --once: 1 target, 1 published, 0 failed; 2 scrapes, 2 ok, 0 failed; [0-9.]+s$' "$T/ok.out"
check "the table's header" grep -Eq '^TARGET +OK +FAILED +RESULT$' "$T/ok.out"
check "the row names the branch and the commit the repository has ($(grep "^local" "$T/ok.out"))" \
  row "$T/a" 2 0 "published: branch $BR, commit $commit, file default.pgo" "$T/ok.out"
check "it ends with the exit status" \
  [ "$(tail -1 "$T/ok.out")" = "exit status 0: every target published or had nothing to publish" ]
check "piped: no escape sequence on stderr" bash -c "! grep -q '$ESC' '$T/ok.err'"
check "piped: no progress line on stderr" bash -c "! grep -Eq -- '--once [0-9.]+s \\|' '$T/ok.err'"
check "piped: no escape sequence on stdout" bash -c "! grep -q '$ESC' '$T/ok.out'"
check "without -v: no backend lines" bash -c "! grep -q '^    backend' '$T/ok.out'"
check "without -v: no debug log" bash -c "! grep -q 'level=debug' '$T/ok.err'"

# 2. on a terminal: the progress line, drawn in place, then the summary
script -q -e -c "stty cols 150 2>/dev/null; exec '$CPGO' run -c '$T/ok.yaml' --once" "$T/tty.log" \
  </dev/null >/dev/null 2>&1
rc=$?
check "terminal: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
# the line: carriage return, erase to the end of the line (ESC [ K), then the text
prog=$(grep -ao "${ESC}\[K--once [0-9.]*s | a@main:default.pgo: [0-9]* ok, [0-9]* in flight, [0-9]* failed" \
  "$T/tty.log" | wc -l)
check "terminal: the progress line is drawn, in place ($prog times)" [ "$prog" -ge 1 ]
check "terminal: the progress line counts scrapes in flight" \
  grep -aEq "a@main:default.pgo: 0 ok, [12] in flight, 0 failed" "$T/tty.log"
check "terminal: erased before each log line" grep -aq "${ESC}\[Ktime=.*level=info" "$T/tty.log"
check "terminal: the summary too" grep -aq "^exit status 0: every target published" "$T/tty.log"
commit=$(git -C "$T/a" rev-parse --short=12 "$BR")
check "terminal: the row (the new commit $commit)" \
  grep -aEq "^local$T/a@main:default.pgo +2 +0  published: branch $BR, commit $commit, file default.pgo" "$T/tty.log"

# 3. -v: every backend's line under its target, what the publish saw, and the debug log
"$CPGO" run -c "$T/ok.yaml" --once -v >"$T/v.out" 2>"$T/v.err"
rc=$?
check "-v: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "-v: a line per backend" bash -c "grep -q '^    backend app-1: ok$' '$T/v.out' && grep -q '^    backend app-2: ok$' '$T/v.out'"
check "-v: the edge change and what stays pending" \
  bash -c "grep -q '^    edge change: ' '$T/v.out' && grep -Eq '^    pending after: [0-9]+ scrapes$' '$T/v.out'"
check "-v: the debug log" grep -q 'level=debug msg="scrape started" backend=app-1' "$T/v.err"

# 4. a failed backend in a published target: a warning, exit 0; --strict: exit 1
"$CPGO" run -c "$T/warn.yaml" --once >"$T/warn.out" 2>"$T/warn.err"
rc=$?
check "a failed backend in a published target: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "its row counts 1 ok and 1 failed ($(grep "^local" "$T/warn.out"))" \
  row "$T/b" 1 1 "published: branch $BR, commit [0-9a-f]{12}, file default.pgo" "$T/warn.out"
check "the warnings name the backend and why" \
  grep -q "^  local$T/b@main:default.pgo: bad-1: http_4xx: HTTP 404" "$T/warn.out"
check "the warnings say what --strict does" grep -q '^warnings (of published targets; --strict makes them fail the run):$' "$T/warn.out"
check "exit status 0 with warnings" \
  [ "$(tail -1 "$T/warn.out")" = "exit status 0: every target published or had nothing to publish (with warnings)" ]
"$CPGO" run -c "$T/warn.yaml" --once --strict >"$T/strict.out" 2>"$T/strict.err"
rc=$?
check "--strict: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "--strict: the target is still published" \
  row "$T/b" 1 1 "published: branch $BR, commit [0-9a-f]{12}, file default.pgo" "$T/strict.out"
check "--strict: the exit status says why" \
  [ "$(tail -1 "$T/strict.out")" = "exit status 1: --strict, and 1 target with warnings" ]

# 5. a target that failed: exit 1; the other target is still published
"$CPGO" run -c "$T/fail.yaml" --once >"$T/fail.out" 2>"$T/fail.err"
rc=$?
check "a target failed: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "the head line counts it" \
  grep -Eq '^cpgo run --once: 2 targets, 1 published, 1 failed; 2 scrapes, 1 ok, 1 failed; ' "$T/fail.out"
check "the failed target's row says why ($(grep "^local$T/d" "$T/fail.out"))" \
  row "$T/d" 0 1 "FAILED: no scrape succeeded, so nothing to publish" "$T/fail.out"
check "the other target's row: published" \
  row "$T/c" 1 0 "published: branch $BR, commit [0-9a-f]{12}, file default.pgo" "$T/fail.out"
check "the errors name the backend and why" \
  grep -q "^  local$T/d@main:default.pgo: bad-1: http_4xx: HTTP 404" "$T/fail.out"
check "nothing was pushed to the failed target's repository" \
  bash -c "! git -C '$T/d' rev-parse -q --verify refs/heads/$BR"
check "exit status 1, and why" [ "$(tail -1 "$T/fail.out")" = "exit status 1: 1 target not published" ]

# 6. nothing to publish (the change is below min_change): exit 0, and the row says so
"$CPGO" run -c "$T/small.yaml" --once >"$T/small1.out" 2>&1
"$CPGO" run -c "$T/small.yaml" --once >"$T/small.out" 2>"$T/small.err"
rc=$?
check "below min_change: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "below min_change: the row says so ($(grep "^local" "$T/small.out"))" \
  row "$T/e" 1 0 "not published: the change is below min_change \(.*\); scrapes kept" "$T/small.out"

# 7. a configuration file missing or unreadable: exit 2 for every command that takes -c
exit2() { # exit2 DESCRIPTION COMMAND...
  local d=$1; shift
  "$@" >"$T/e2.out" 2>"$T/e2.err"
  local rc=$?
  check "$d: exit 2 (rc $rc: $(head -1 "$T/e2.err"))" [ "$rc" -eq 2 ]
  check "$d: the error names the file" grep -q "$T/nope.yaml: cannot open\|$T/: cannot read: is a directory" "$T/e2.err"
}
exit2 "run --once, missing" "$CPGO" run --once -c "$T/nope.yaml"
exit2 "run (the daemon), missing" "$CPGO" run -c "$T/nope.yaml"
exit2 "the original's command line, missing" "$CPGO" -configPath "$T/nope.yaml"
exit2 "check-config, missing" "$CPGO" check-config -c "$T/nope.yaml"
exit2 "discover, missing" "$CPGO" discover -c "$T/nope.yaml"
exit2 "state, missing" "$CPGO" state -c "$T/nope.yaml"
exit2 "run --once, a directory" "$CPGO" run --once -c "$T/"
exit2 "check-config, a directory" "$CPGO" check-config -c "$T/"
"$CPGO" run --strict -c "$T/ok.yaml" >"$T/e2.out" 2>"$T/e2.err"
rc=$?
check "--strict without --once: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
check "--strict without --once: says why" grep -q -- '--strict needs --once' "$T/e2.err"
finish

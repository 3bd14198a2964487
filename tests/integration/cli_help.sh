#!/usr/bin/env bash
# cli_help.sh - help behaves as in the go command: `cpgo help` and `cpgo help CMD` on standard
# output, exit 0; an unknown topic (`help help` included, as `go help help`) or extra words
# exit 2 with Go's sentence; -h, -help and --help on every subcommand print its usage lines
# and "Run 'cpgo help CMD' for details." on standard error, exit 2 (as `go build -h`); an
# unknown command is Go's "unknown command". Where go is installed, its own answers are
# checked to have the same shape, so a change of Go's conventions shows here.
. "$(dirname "$0")/lib.sh"

CMDS="merge inspect check-config state discover demo run"

run() { # run ARGS... : status in $rc, output in $T/out and $T/err
  "$CPGO" "$@" >"$T/out" 2>"$T/err"
  rc=$?
}

run help
check "help: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "help: the list on stdout" grep -q '^  check-config ' "$T/out"
check "help: nothing on stderr" [ ! -s "$T/err" ]
check "help: how to ask about a command" grep -qF "Use 'cpgo help <command>' for more information about a command." "$T/out"

for c in $CMDS; do
  run help "$c"
  check "help $c: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
  check "help $c: usage on stdout" grep -q "^usage: cpgo $c" "$T/out"
  check "help $c: more than the usage lines" [ "$(wc -l <"$T/out")" -gt 3 ]
  check "help $c: nothing on stderr" [ ! -s "$T/err" ]
  for h in -h -help --help; do
    run "$c" "$h"
    check "$c $h: exit 2 as go build -h (rc $rc)" [ "$rc" -eq 2 ]
    check "$c $h: nothing on stdout" [ ! -s "$T/out" ]
    check "$c $h: usage lines on stderr" grep -q "^usage: cpgo $c" "$T/err"
    check "$c $h: then where the details are" [ "$(tail -n 1 "$T/err")" = "Run 'cpgo help $c' for details." ]
    check "$c $h: only the usage lines, not the whole text" [ "$(grep -c '^$' "$T/err")" -eq 0 ]
  done
  # -h before anything else that would be refused: help wins, nothing starts
  run "$c" -h "$T/none.yaml"
  check "$c -h FILE: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
  check "$c -h FILE: usage" grep -q "^usage: cpgo $c" "$T/err"
done

run help nosuch
check "help nosuch: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
check "help nosuch: Go's sentence" [ "$(cat "$T/err")" = "cpgo help nosuch: unknown help topic. Run 'cpgo help'." ]
check "help nosuch: nothing on stdout" [ ! -s "$T/out" ]
run help help
check "help help: exit 2 as go help help (rc $rc)" [ "$rc" -eq 2 ]
check "help help: Go's sentence" [ "$(cat "$T/err")" = "cpgo help help: unknown help topic. Run 'cpgo help'." ]
run help merge extra
check "help merge extra: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
check "help merge extra: Go's sentence" [ "$(cat "$T/err")" = "cpgo help merge extra: unknown help topic. Run 'cpgo help merge'." ]
run nosuch
check "nosuch: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
check "nosuch: Go's words" [ "$(cat "$T/err")" = "cpgo nosuch: unknown command
Run 'cpgo help' for usage." ]
for h in -h -help --help; do
  run "$h"
  check "cpgo $h: exit 2 as go -h (rc $rc)" [ "$rc" -eq 2 ]
  check "cpgo $h: the list on stderr" grep -q '^  check-config ' "$T/err"
  check "cpgo $h: nothing on stdout" [ ! -s "$T/out" ]
done

# the judge: go's answers to the same questions, with go replaced by cpgo, have the same
# exit status and the same words
if command -v go >/dev/null 2>&1; then
  same() { # same DESCRIPTION GO_ARGS -- CPGO_ARGS
    local d=$1; shift
    local ga=() ca=()
    while [ "$1" != -- ]; do ga+=("$1"); shift; done
    shift
    ca=("$@")
    (cd "$T" && GOTOOLCHAIN=local GOFLAGS= go "${ga[@]}" >"$T/go.out" 2>"$T/go.err")
    local grc=$?
    run "${ca[@]}"
    check "$d: exit as go's ($rc vs $grc)" [ "$rc" -eq "$grc" ]
    local want
    want=$(sed -e 's/\bgo\b/cpgo/g' -e 's/cpgo help build/cpgo help merge/g' \
      -e "s/cpgo help vet/cpgo help merge/g" "$T/go.err")
    case "$d" in
    *usage*) # the last line: where the details are
      check "$d: go's last line ($(tail -n 1 "$T/go.err"))" [ "$(tail -n 1 "$T/err")" = "$(echo "$want" | tail -n 1)" ] ;;
    *) check "$d: go's words ($(cat "$T/go.err"))" [ "$(cat "$T/err")" = "$want" ] ;;
    esac
    check "$d: stdout empty as go's" [ ! -s "$T/out" ] && [ ! -s "$T/go.out" ]
  }
  same "unknown help topic" help nosuch -- help nosuch
  same "help help" help help -- help help
  same "help with extra words" help build extra -- help merge extra
  same "unknown command" nosuch -- nosuch
  same "usage of a command (-h)" build -h -- merge -h
  same "usage of a command (--help)" build --help -- merge --help
  run help
  cpgo_rc=$rc
  (cd "$T" && GOTOOLCHAIN=local go help >/dev/null 2>&1)
  check "help: exit as go help's" [ "$cpgo_rc" -eq $? ]
  (cd "$T" && GOTOOLCHAIN=local go -h >/dev/null 2>"$T/go.err")
  grc=$?
  run -h
  check "-h: exit as go -h's ($rc vs $grc)" [ "$rc" -eq "$grc" ]
else
  echo "note: go is not on PATH; Go's own answers were not compared"
fi
finish

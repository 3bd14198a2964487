#!/usr/bin/env bash
# `cpgo demo` (the README's first command): exits 0 with nothing configured, leaves one
# commit on top of main that changes only cmd/checkout/default.pgo, holds the existing
# profile plus six scrapes, and prints the branch, the commit and the pull request body.
# With Go on PATH, `go build -pgo` accepts the file in the demo's main package.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
"$CPGO" demo --dir "$T/d" >"$T/out" 2>&1
rc=$?
check "demo exits 0 (rc $rc: $(tail -3 "$T/out"))" [ "$rc" -eq 0 ]
R="$T/d/service"
BR=cpgo/main/cmd/checkout/default.pgo
check "prints the branch" grep -q "branch      $BR" "$T/out"
check "prints the PR body with its table" grep -q '| Scrapes | 6 from 3 instances |' "$T/out"
check "prints where to look" grep -q 'Where to look' "$T/out"
check "one commit on top of main" [ "$(git -C "$R" rev-list --count "main..$BR")" = 1 ]
check "only the profile changed" [ "$(git -C "$R" diff --name-only main "$BR")" = cmd/checkout/default.pgo ]
commit=$(git -C "$R" rev-parse "$BR")
check "the printed commit is the branch" grep -q "commit      $commit" "$T/out"
git -C "$R" show "main:cmd/checkout/default.pgo" >"$T/before.pgo"
git -C "$R" show "$BR:cmd/checkout/default.pgo" >"$T/after.pgo"
check "the result is usable by Go PGO" bash -c "'$CPGO' inspect '$T/after.pgo' | grep -q 'Go PGO: *usable'"
check "more samples than before" [ "$(samples_in "$T/after.pgo")" -gt "$(samples_in "$T/before.pgo")" ]
check "the log names the target" grep -q 'msg="published: branch updated" target=local' "$T/d/cpgo.log"
"$CPGO" demo --dir "$T/d" >"$T/out2" 2>&1
check "a used directory is refused" [ $? -eq 2 ]
if command -v go >/dev/null 2>&1; then
  git -C "$R" checkout -q "$BR"
  (cd "$R" && GOFLAGS=-mod=mod go build -pgo=auto -o "$T/checkout" ./cmd/checkout) >"$T/go.out" 2>&1
  check "go build -pgo=auto accepts the demo's profile ($(tail -2 "$T/go.out"))" [ -x "$T/checkout" ]
else
  echo "note: go not on PATH: go build -pgo not checked"
fi
finish

#!/usr/bin/env bash
# A target_branch not written is the repository's default branch (issue 13, item 4),
# resolved through libgit2 as `git ls-remote --symref URL HEAD` does, before targets are
# built, and then used as if written:
# - a local repository whose HEAD is master: `cpgo run --once` publishes onto
#   cpgo/master/default.pgo on master's tip, logs the branch it chose; after master is
#   fast-forwarded to it (merged), the next run settles it and succeeds;
# - check-config does no network I/O: the target shows as @<default> and says it will be
#   resolved at run time;
# - a backend written `target_branch: master` and one resolved to master are one target;
# - an explicit target_branch still wins over the default branch;
# - an empty repository (no HEAD): the start fails (exit 2) naming the backend and the
#   repository, nothing is scraped;
# - --output: the resolved branch is in the path; `cpgo state` (no network) lists the state
#   under the branch it ran with as the unresolved target's;
# - the same through the smart-HTTP git server with basic auth (x-access-token:<token>,
#   HEAD on trunk): a dry run proposes cpgo/trunk/default.pgo; `run --once` pushes it to
#   the server and opens the pull request on trunk (the fake GitHub); a wrong token stops
#   the start with an authentication error, without the token in it;
# - SIGHUP after the repository's HEAD moved: the daemon resolves again and logs it.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 7 -samples 200 -locations 100 -functions 60
start_fleet "$T" --profile "$P" --count 2 || finish
FP=$FLEET_PID
trap 'kill "$FP" ${SERVER:-} 2>/dev/null; wait 2>/dev/null' EXIT # SERVER: pids, unquoted
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")

mkrepo() { # mkrepo DIR BRANCH: one commit on BRANCH, which is HEAD
  rm -rf "$1"
  git init -q -b "$2" "$1"
  echo 'package main' >"$1/main.go"
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
mkcfg() { # mkcfg STATE REPO [open_pull_request keys of backend 1] [of backend 2]
  echo "state_dir: $1"
  echo "backends:"
  echo "- {name: app-1, url: 'http://127.0.0.1:${PORTS[0]}/debug/pprof/profile?seconds=1', schedule: '@every 1h', timeout: 1500ms, open_pull_request: {repository: '$2'${3:+, $3}}}"
  echo "- {name: app-2, url: 'http://127.0.0.1:${PORTS[1]}/debug/pprof/profile?seconds=1', schedule: '@every 1h', timeout: 1500ms, open_pull_request: {repository: '$2'${4:+, $4}}}"
}

# 1. a local repository whose default branch is master
R="$T/repo"
mkrepo "$R" master
mkcfg "$T/state" "$R" >"$T/c1.yaml"
"$CPGO" check-config -c "$T/c1.yaml" >"$T/cc" 2>&1
rc=$?
check "check-config: valid without target_branch (rc $rc)" [ "$rc" -eq 0 ]
check "check-config: the target key says @<default>" grep -q "@<default>:default.pgo -> cpgo/<default>/default.pgo (local)" "$T/cc"
check "check-config: resolved at run time" grep -q "target_branch: will be resolved at run time (the repository's default branch)" "$T/cc"
check "check-config: asked nothing (no git cache)" [ ! -e "$T/state/git" ]
"$CPGO" run -c "$T/c1.yaml" --once >"$T/out1" 2>&1
rc=$?
check "run --once publishes (rc $rc: $(grep -m1 level=error "$T/out1"))" [ "$rc" -eq 0 ]
check "it logs the branch it chose" grep -q 'msg="default branch resolved".*branch=master' "$T/out1"
check "the head branch is cpgo/master/default.pgo" git -C "$R" show-ref -q --verify refs/heads/cpgo/master/default.pgo
check "no cpgo/main branch" sh -c "! git -C '$R' rev-parse -q --verify refs/heads/cpgo/main/default.pgo"
check "one commit on master's tip" [ "$(git -C "$R" rev-parse cpgo/master/default.pgo^)" = "$(git -C "$R" rev-parse master)" ]
check "the target key names master" grep -q "target=local/.*@master:default.pgo" "$T/out1"
# merged: master fast-forwarded to the proposal; the next run settles it
git -C "$R" merge -q --ff-only cpgo/master/default.pgo
"$CPGO" run -c "$T/c1.yaml" --once >"$T/out2" 2>&1
rc=$?
check "after the merge the next run succeeds (rc $rc: $(grep -m1 level=error "$T/out2"))" [ "$rc" -eq 0 ]
check "the merged push was settled" grep -q "branch merged: its scrapes are published.*scrapes=2" "$T/out2"
check "the new proposal sits on the merged master" [ "$(git -C "$R" rev-parse cpgo/master/default.pgo^)" = "$(git -C "$R" rev-parse master)" ]

# cpgo state asks no repository: the target's state is the one under the branch it ran with
"$CPGO" state -c "$T/c1.yaml" >"$T/state1" 2>&1
check "cpgo state: the unresolved target is named" grep -q "^target local/.*/repo@<default>:default.pgo" "$T/state1"
check "cpgo state: its id is decided at run time" grep -q "id: decided at run time (the repository's default branch)" "$T/state1"
check "cpgo state: master's state is listed as its own, not as unconfigured" \
  grep -q "^target local/.*/repo@master:default.pgo (local/.*/repo@<default>:default.pgo: the default branch when it ran)" "$T/state1"

# a person checked cpgo's branch out: HEAD names it, which is no branch to propose to
git -C "$R" checkout -q cpgo/master/default.pgo
"$CPGO" run -c "$T/c1.yaml" --once >"$T/outco" 2>&1
rc=$?
check "HEAD on cpgo's own branch: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
check "... said so" grep -q "its HEAD is 'cpgo/master/default.pgo', a cpgo head branch (checked out in its working tree?)" "$T/outco"
git -C "$R" checkout -q master

# 2. written master + resolved master: one target
mkcfg "$T/state2" "$R" "target_branch: master" >"$T/c2.yaml"
"$CPGO" run -c "$T/c2.yaml" --once >"$T/out3" 2>&1
rc=$?
check "written and resolved master: run ok (rc $rc)" [ "$rc" -eq 0 ]
check "... one target" grep -q 'msg=starting.* targets=1 ' "$T/out3"

# 3. an explicit target_branch wins
git -C "$R" branch release master
mkcfg "$T/state3" "$R" "target_branch: release" "target_branch: release" >"$T/c3.yaml"
"$CPGO" run -c "$T/c3.yaml" --once >"$T/out4" 2>&1
rc=$?
check "explicit target_branch: run ok (rc $rc)" [ "$rc" -eq 0 ]
check "... onto cpgo/release/default.pgo" git -C "$R" show-ref -q --verify refs/heads/cpgo/release/default.pgo
check "... nothing resolved" sh -c "! grep -q 'default branch resolved' '$T/out4'"

# 4. an empty repository: no HEAD to resolve
E="$T/empty"
git init -q -b master "$E"
mkcfg "$T/state4" "$E" >"$T/c4.yaml"
"$CPGO" run -c "$T/c4.yaml" --once >"$T/out5" 2>&1
rc=$?
check "empty repository: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
check "... the error names the backend and the repository" grep -q "c4.yaml:3:[0-9]*: backends\[0\] (app-1): open_pull_request.target_branch is not set, and the default branch of $E (its HEAD) could not be resolved: $E has no HEAD" "$T/out5"
check "... and says what to do" grep -q "set target_branch" "$T/out5"
check "... nothing was scraped" sh -c "! grep -q 'scrape' '$T/out5'"

# 5. --output: the resolved branch is in the path
mkcfg "$T/state5" "$R" >"$T/c5.yaml"
"$CPGO" run -c "$T/c5.yaml" --once --output "$T/outdir" >"$T/out6" 2>&1
rc=$?
check "--output: run ok (rc $rc: $(grep -m1 level=error "$T/out6"))" [ "$rc" -eq 0 ]
check "--output: the file is under master/" [ -f "$T/outdir/local/${R#/}/master/default.pgo" ]

# 6. smart HTTP with basic auth, HEAD on trunk
if command -v lighttpd >/dev/null; then
  TOKEN="ghs_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  start_git_http "$T/srv" "$TOKEN" git || finish
  SERVER=$GIT_HTTP_PID
  git -C "$GIT_HTTP_REPO" branch -m main trunk
  git -C "$GIT_HTTP_REPO" symbolic-ref HEAD refs/heads/trunk
  URL="http://127.0.0.1:$GIT_HTTP_PORT_USED/git/app.git"
  API_PORT=$(free_port) # nothing listens: a dry run makes no API call
  printf '%s\n' "$TOKEN" >"$T/token"
  chmod 600 "$T/token"
  { echo "github: {api_url: 'http://127.0.0.1:$API_PORT', token_file: $T/token}"
    mkcfg "$T/state6" "$URL" "forge: github" "forge: github"; } >"$T/c6.yaml"
  mkdir -p "$T/tmp"
  TMPDIR="$T/tmp" "$CPGO" run -c "$T/c6.yaml" --once --dry-run >"$T/report" 2>"$T/out7"
  rc=$?
  check "smart HTTP: dry run ok (rc $rc: $(grep -m1 level=error "$T/out7"))" [ "$rc" -eq 0 ]
  check "... resolved trunk" grep -q 'msg="default branch resolved".*branch=trunk' "$T/out7"
  check "... proposes onto cpgo/trunk/default.pgo" grep -q "would propose: default.pgo on branch cpgo/trunk/default.pgo" "$T/report"
  check "... the configured state directory was never created" [ ! -e "$T/state6" ]
  # a real round: the branch pushed to the server over basic auth, the pull request (the
  # fake GitHub) based on trunk
  FAKE_GITHUB_TOKEN="$TOKEN" python3 "$CPGO_SRC/tests/support/fake_github.py" \
    --port-file "$T/gh.port" --lifetime 600 >"$T/gh.out" 2>&1 &
  SERVER="$SERVER $!"
  wait_for "[ -s '$T/gh.port' ]" 10 || fail "the fake GitHub did not start"
  API="http://127.0.0.1:$(cat "$T/gh.port")"
  curl -s -X POST -d '{"action": "min_mutation_gap", "seconds": 0}' "$API/_control" >/dev/null
  { echo "github: {api_url: '$API', token_file: $T/token}"
    mkcfg "$T/state6b" "$URL" "forge: github" "forge: github"; } >"$T/c6b.yaml"
  "$CPGO" run -c "$T/c6b.yaml" --once >"$T/out6b" 2>&1
  rc=$?
  check "smart HTTP: run --once publishes (rc $rc: $(grep -m1 level=error "$T/out6b"))" [ "$rc" -eq 0 ]
  check "... pushed cpgo/trunk/default.pgo to the server" \
    git -C "$GIT_HTTP_REPO" show-ref -q --verify refs/heads/cpgo/trunk/default.pgo
  check "... on trunk's tip" [ "$(git -C "$GIT_HTTP_REPO" rev-parse cpgo/trunk/default.pgo^)" = "$(git -C "$GIT_HTTP_REPO" rev-parse trunk)" ]
  base=$(curl -s "$API/_prs?repo=git/app" | python3 -c 'import json,sys; p=json.load(sys.stdin); print(len(p), p[0]["base"]["ref"] if p else "")')
  check "... one pull request, based on trunk ($base)" [ "$base" = "1 trunk" ]
  printf 'wrong-%s\n' "$TOKEN" >"$T/token"
  TMPDIR="$T/tmp" "$CPGO" run -c "$T/c6.yaml" --once --dry-run >"$T/report2" 2>"$T/out8"
  rc=$?
  check "smart HTTP, wrong token: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
  check "... an authentication error naming the repository" grep -q "default branch of $URL (its HEAD) could not be resolved: authentication failed for $URL" "$T/out8"
  check "... the token never appears" sh -c "! grep -q '$TOKEN' '$T/out8' '$T/report2'"
else
  echo "lighttpd is not installed: the smart-HTTP cases are not run" >&2
fi

# 7. the daemon: SIGHUP resolves again (HEAD moved to release)
mkcfg "$T/state7" "$R" >"$T/c7.yaml"
"$CPGO" run -c "$T/c7.yaml" >"$T/out9" 2>&1 &
DP=$!
wait_for "grep -q 'msg=\"default branch resolved\".*branch=master' '$T/out9'" 20
check "daemon: resolved master at start" grep -q 'msg="default branch resolved".*branch=master' "$T/out9"
git -C "$R" symbolic-ref HEAD refs/heads/release
kill -HUP "$DP"
wait_for "grep -q 'configuration reloaded' '$T/out9'" 20
check "daemon: resolved release on reload" grep -q 'msg="default branch resolved".*branch=release' "$T/out9"
# an empty HEAD on reload: refused, the running configuration stays
git -C "$R" symbolic-ref HEAD refs/heads/nothing-here
kill -HUP "$DP"
wait_for "grep -q 'config reload refused' '$T/out9'" 20
check "daemon: an unresolvable HEAD refuses the reload" grep -q 'config reload refused.*has no HEAD' "$T/out9"
check "daemon: still running" kill -0 "$DP"
kill -TERM "$DP"
wait "$DP"
finish

#!/usr/bin/env bash
# The git layer against a real smart-HTTP server on loopback that requires basic auth:
# git http-backend behind lighttpd (tests/support/git-http/lighttpd.conf). Rounds are run
# by the unit-test binary's http-round mode (fetch, inspect, find, publish):
# - the right token: the branch is pushed (checked with git on the server's repository),
#   a repeated round pushes nothing, new content replaces the one commit;
# - a wrong token: "authentication failed for <url>" at once, after a bounded number of
#   requests (no retry storm); no token: "no token is configured";
# - neither token appears in any output, nor anywhere in the cache.
. "$(dirname "$0")/lib.sh"
BACKEND=/usr/lib/git-core/git-http-backend
if ! command -v lighttpd >/dev/null 2>&1 || [ ! -x "$BACKEND" ]; then
  echo "SKIP: needs lighttpd and git http-backend (scripts/setup-deps installs them)"
  exit 77
fi
ROUND="$(dirname "$CPGO")/tests/test_publish_gitrepo"
if [ ! -x "$ROUND" ]; then
  fail "missing $ROUND (build the test_publish_gitrepo target)"
  finish
fi
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
token() { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
TOKEN="ghs_$(token)"
WRONG="ghs_$(token)"

SRV="$T/srv"
start_git_http "$SRV" "$TOKEN" git || finish
SERVER=$GIT_HTTP_PID
REPO=$GIT_HTTP_REPO
PORT=$GIT_HTTP_PORT_USED
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null' EXIT
URL="http://127.0.0.1:$PORT/git/app.git"
BR=cpgo/main/default.pgo
STATE="$T/state"

# Requests between marks: a mark is a request for /mark-N (no auth there); lighttpd writes
# its access log in order but flushes it only every few seconds, so a mark that has reached
# the log means every request before it has too.
MARK=0
mark() {
  MARK=$((MARK + 1))
  curl -s -o /dev/null "http://127.0.0.1:$PORT/mark-$MARK"
  wait_for "grep -q '/mark-$MARK ' '$SRV/access.log' 2>/dev/null" 20 || fail "mark $MARK not logged"
}
since_mark() { # N: the requests logged after /mark-N (and before the next mark)
  sed -n "/\/mark-$1 /,\$p" "$SRV/access.log" | tail -n +2 | grep -v '/mark-'
}
round() { # TOKEN DATA [COMMAND] -> $T/out, status in $rc
  "$ROUND" http-round "$URL" "$1" "$STATE" "$2" ${3:+"$3"} >"$T/out" 2>&1
  rc=$?
  cat "$T/out" >>"$T/all-output"
}

# 1. the right token: fetched, pushed
round "$TOKEN" profile-1
check "first round pushes (rc $rc: $(head -1 "$T/out"))" grep -q '^pushed ' "$T/out"
commit=$(awk '/^pushed/{print $2}' "$T/out")
check "the server has the branch at the pushed commit" \
  [ "$(git -C "$REPO" rev-parse "refs/heads/$BR" 2>/dev/null)" = "$commit" ]
check "one commit on top of main" [ "$(git -C "$REPO" rev-list --count "main..$BR")" = 1 ]
check "the profile is on the branch" [ "$(git -C "$REPO" show "$BR:default.pgo")" = profile-1 ]
check "only the profile changed" [ "$(git -C "$REPO" diff --name-only main "$BR")" = default.pgo ]

# 2. the same content: nothing pushed
mark; m=$MARK
round "$TOKEN" profile-1
check "a repeated round pushes nothing ($(head -1 "$T/out"))" grep -q "^unchanged $commit" "$T/out"
mark
check "a repeated round does not fetch objects or push: $(since_mark $m | tr '\n' ';')" \
  [ -z "$(since_mark $m | grep -e receive-pack -e POST)" ]

# 3. new content replaces the one commit
round "$TOKEN" profile-2
check "new content is pushed ($(head -1 "$T/out"))" grep -q '^pushed ' "$T/out"
check "still one commit on top of main" [ "$(git -C "$REPO" rev-list --count "main..$BR")" = 1 ]
check "the new profile is on the branch" [ "$(git -C "$REPO" show "$BR:default.pgo")" = profile-2 ]
check "one cpgo branch on the server" [ "$(git -C "$REPO" for-each-ref refs/heads/cpgo | wc -l)" = 1 ]

# 4. a wrong token: a clear error, at once, after a bounded number of requests
tip=$(git -C "$REPO" rev-parse "refs/heads/$BR")
mark; m=$MARK
start=$(date +%s%N)
round "$WRONG" profile-3
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
mark
n=$(since_mark $m | wc -l)
check "wrong token: exit 3 for an authentication failure (rc $rc)" [ "$rc" -eq 3 ]
check "wrong token: clear message ($(head -1 "$T/out"))" \
  grep -q "^error auth authentication failed for $URL (the token was rejected)" "$T/out"
check "wrong token: quick (${took_ms} ms; lighttpd delays a failed login by about 1 s)" \
  [ "$took_ms" -lt 5000 ]
check "wrong token: no retry storm ($n requests: $(since_mark $m | tr '\n' ';'))" [ "$n" -le 2 ]
check "wrong token: the branch is untouched" [ "$(git -C "$REPO" rev-parse "refs/heads/$BR")" = "$tip" ]
check "the server saw the wrong password" grep -q "password doesn't match" "$SRV/error.log"

# 5. no token at all
mark; m=$MARK
round - profile-3
mark
n=$(since_mark $m | wc -l)
check "no token: exit 3 (rc $rc)" [ "$rc" -eq 3 ]
check "no token: clear message ($(head -1 "$T/out"))" grep -q "no token is configured" "$T/out"
check "no token: one request ($n)" [ "$n" -eq 1 ]

# 6. and the right token works again on the same cache
round "$TOKEN" profile-3
check "the right token after failures ($(head -1 "$T/out"))" grep -q '^pushed ' "$T/out"

# 7. the lease: the branch moved on the server after the fetch; it is not overwritten
moved=$(git -C "$REPO" rev-parse main)
round "$TOKEN" profile-4 "git -C '$REPO' update-ref refs/heads/$BR $moved"
check "lease: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "lease: a conflict ($(head -1 "$T/out"))" \
  grep -q "^error conflict branch '$BR' of $URL changed since it was fetched" "$T/out"
check "lease: the branch keeps what was pushed there" \
  [ "$(git -C "$REPO" rev-parse "refs/heads/$BR")" = "$moved" ]
# the next round sees a branch with nothing of cpgo's on it and regenerates it
round "$TOKEN" profile-4
check "after the lease ($(head -1 "$T/out"))" grep -q '^pushed ' "$T/out"
check "after the lease: one commit on main" [ "$(git -C "$REPO" rev-list --count "main..$BR")" = 1 ]

# 8. secrets: in no output, nowhere in the cache (config, refs, packs, logs)
check "the token is in no output" bash -c "! grep -qF -- '$TOKEN' '$T/all-output'"
check "the wrong token is in no output" bash -c "! grep -qF -- '$WRONG' '$T/all-output'"
check "the cache exists" [ -d "$STATE/git" ]
check "the token is nowhere in the cache" bash -c "! grep -rqaF -- '$TOKEN' '$STATE'"
check "the wrong token is nowhere in the cache" bash -c "! grep -rqaF -- '$WRONG' '$STATE'"
cache=$(awk '/^cache /{print $2}' "$T/out")
check "the cache has no remote and no URL in its config" \
  bash -c "! grep -qiE 'remote|url' '$cache/config'"
finish

#!/usr/bin/env bash
# forge github end to end through `cpgo run`: the head branch is pushed with the token to a
# real smart-HTTP git server on loopback (git http-backend behind lighttpd, basic auth), and
# the pull request goes through the stateful fake GitHub REST API
# (tests/support/fake_github.py):
# - created once, then updated in place (same number); the body carries the marker;
# - a pull request without the marker is left alone and reported;
# - one closed without merging is not recreated every round, only once pending has grown;
# - rate limited then success; 5xx then success; 401 stops GitHub work at once;
# - cpgo killed between the push and the pull request: the next round opens it;
# - -githubToken is accepted with a warning and wiped from /proc/<pid>/cmdline;
# - with -v, not one byte cpgo printed (nor its state directory) contains the token.
. "$(dirname "$0")/lib.sh"
BACKEND=/usr/lib/git-core/git-http-backend
if ! command -v lighttpd >/dev/null 2>&1 || [ ! -x "$BACKEND" ] || ! command -v python3 >/dev/null; then
  echo "SKIP: needs lighttpd, git http-backend and python3 (scripts/setup-deps installs them)"
  exit 77
fi
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
TOKEN="ghs_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# the git server: /acme/<repo>.git, so the repository path is owner/repo as on GitHub
SRV="$T/srv"
start_git_http "$SRV" "$TOKEN" acme || finish
GIT_PID=$GIT_HTTP_PID
REPO=$GIT_HTTP_REPO
GPORT=$GIT_HTTP_PORT_USED
FAKE_GITHUB_TOKEN="$TOKEN" python3 "$CPGO_SRC/tests/support/fake_github.py" --port-file "$T/gh.port" \
  --lifetime 600 >"$T/gh.out" 2>&1 &
GH_PID=$!
trap 'kill $GIT_PID $GH_PID 2>/dev/null; wait $GIT_PID $GH_PID 2>/dev/null' EXIT
wait_for "[ -s '$T/gh.port' ]" 10 || { fail "the fake GitHub did not start"; finish; }
API="http://127.0.0.1:$(cat "$T/gh.port")"
ctl() { curl -s -X POST -d "$1" "$API/_control" >/dev/null; }
prs() { curl -s "$API/_prs?repo=acme/app"; }
pr_count() { prs | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
pr_field() { prs | python3 -c "import json,sys; p=json.load(sys.stdin)[$1]; print(p$2)"; }
api_requests() { curl -s "$API/_log" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))'; }
ctl '{"action": "min_mutation_gap", "seconds": 1}'

P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 11 -samples 200 -locations 100 -functions 60
start_fleet "$T" --profile "$P" --count 2 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
BR=cpgo/main/default.pgo
{
  echo "state_dir: $T/state"
  echo "github: {api_url: '$API'}"
  echo "backends:"
  for port in "${PORTS[@]}"; do
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  schedule: '@every 1m'"
    echo "  timeout: 1500ms"
    echo "  open_pull_request: {repository: 'http://127.0.0.1:$GPORT/acme/app.git', forge: github}"
  done
} >"$T/config.yaml"
run_once() { # run_once [ARGS] -> $T/out, $rc (every byte printed is kept in $T/all.out)
  GITHUB_TOKEN="$TOKEN" "$CPGO" run -c "$T/config.yaml" --once -v "$@" >"$T/out" 2>&1
  rc=$?
  cat "$T/out" >>"$T/all.out"
}

# 0. killed between the push and the pull request: the next round opens it
ctl '{"action": "fault", "kind": "delay", "seconds": 20, "count": 1, "method": "GET"}'
GITHUB_TOKEN="$TOKEN" "$CPGO" run -c "$T/config.yaml" --once -v >"$T/out" 2>&1 &
pid=$!
wait_for "git -C '$REPO' rev-parse -q --verify 'refs/heads/$BR' >/dev/null" 20
check "crash: the branch was pushed first" git -C "$REPO" rev-parse -q --verify "refs/heads/$BR" >/dev/null
kill -9 "$pid"; wait "$pid" 2>/dev/null
cat "$T/out" >>"$T/all.out"
check "crash: no pull request yet" [ "$(pr_count)" = 0 ]

# 1. created (recovering from the crash)
run_once
check "first round: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
check "the branch is on the git server" git -C "$REPO" rev-parse -q --verify "refs/heads/$BR" >/dev/null
check "one commit on top of main" [ "$(git -C "$REPO" rev-list --count "main..$BR")" = 1 ]
check "one pull request" [ "$(pr_count)" = 1 ]
check "from the head branch to main" [ "$(pr_field 0 '["head"]["ref"]+" "+p["base"]["ref"]')" = "$BR main" ]
check "the body starts with the marker" [ "$(pr_field 0 '["body"].split("\n")[0][:25]')" = "<!-- cpgo:managed target=" ]
check "the body counts the scrapes (the crashed round's too)" bash -c "curl -s '$API/_prs?repo=acme/app' | grep -q '| Scrapes | 4 from 2 instances |'"
check "opened logged with its URL" grep -q 'msg="pull request opened".*pr=1 url=' "$T/out"
num=$(pr_field 0 '["number"]')

# 2. updated in place
run_once
check "second round: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "still one pull request" [ "$(pr_count)" = 1 ]
check "updated in place" grep -q "msg=\"pull request updated\".*pr=$num" "$T/out"
check "the body counts six scrapes" bash -c "curl -s '$API/_prs?repo=acme/app' | grep -q '| Scrapes | 6 from 2 instances |'"
check "still one commit on main" [ "$(git -C "$REPO" rev-list --count "main..$BR")" = 1 ]

# 3. a pull request without the marker is a person's: left alone
prs | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["body"], end="")' >"$T/body"
setpr() { # setpr NUMBER BODYFILE [STATE]
  python3 -c 'import json,sys; print(json.dumps({"action": "set_pr", "repo": "acme/app",
    "number": int(sys.argv[1]), "body": open(sys.argv[2]).read(), **({"state": sys.argv[3]} if len(sys.argv) > 3 else {})}))' \
    "$@" >"$T/ctl.json"
  curl -s -X POST --data-binary "@$T/ctl.json" "$API/_control" >/dev/null
}
printf 'mine now' >"$T/mine"
setpr "$num" "$T/mine"
run_once
check "unmanaged: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "unmanaged: reported" grep -q 'is not cpgo.s (its body lacks the cpgo marker): left alone' "$T/out"
check "unmanaged: body untouched" [ "$(pr_field 0 '["body"]')" = "mine now" ]
check "unmanaged: no second pull request" [ "$(pr_count)" = 1 ]
tip=$(git -C "$REPO" rev-parse "refs/heads/$BR")
run_once
check "unmanaged: later rounds leave its branch alone" [ "$(git -C "$REPO" rev-parse "refs/heads/$BR")" = "$tip" ]
check "unmanaged: and say so" grep -q 'taken over by a person' "$T/out"

# 4. closed without merging: not recreated each round, only once pending has doubled
setpr "$num" "$T/body" closed
run_once
check "closed: noticed" grep -q 'closed without merging: not reopened\|no longer a person.s.*state=closed' "$T/out"
check "closed: no new pull request" [ "$(pr_count)" = 1 ]
closed_at=$(grep -o 'pending_scrapes=[0-9]*' "$T/out" | tail -1 | cut -d= -f2)
run_once
check "closed: still none on the next round (rc $rc)" [ "$(pr_count)" = 1 ]
check "closed: waiting is said" grep -q 'closed without merging: no new one until' "$T/out"
for _ in 1 2 3 4 5 6 7 8; do
  [ "$(pr_count)" = 1 ] || break
  run_once
done
check "closed: a new pull request once pending doubled (from $closed_at)" [ "$(pr_count)" = 2 ]
check "closed: the old one stays closed" [ "$(pr_field 0 '["state"]')" = closed ]
num=$(pr_field 1 '["number"]')

# 4b. closed, then reopened by a person: cpgo resumes updating it, no new one
prs | python3 -c 'import json,sys; print(json.load(sys.stdin)[1]["body"], end="")' >"$T/body2"
setpr "$num" "$T/body2" closed
run_once
check "closed again: noticed" grep -q 'closed without merging: not reopened' "$T/out"
setpr "$num" "$T/body2" open
run_once
check "reopened: noticed (rc $rc)" grep -q 'closed pull request was reopened' "$T/out"
run_once
check "reopened: updated in place" grep -q "msg=\"pull request updated\".*pr=$num" "$T/out"
check "reopened: still two pull requests in all" [ "$(pr_count)" = 2 ]

# 5. rate limited, then success
ctl '{"action": "fault", "kind": "rate_limit", "reset_in": 2, "count": 1, "method": "GET"}'
start=$(date +%s)
run_once
check "rate limited: exit 0 after waiting (rc $rc)" [ "$rc" -eq 0 ]
check "rate limited: waited for the reset" [ $(( $(date +%s) - start )) -ge 2 ]
check "rate limited: updated in place" grep -q "msg=\"pull request updated\".*pr=$num" "$T/out"

# 6. 5xx, then success
ctl '{"action": "fault", "kind": "status", "status": 502, "count": 2, "method": "PATCH"}'
run_once
check "5xx: exit 0 after retries (rc $rc)" [ "$rc" -eq 0 ]
check "5xx: one pull request open" [ "$(pr_field 1 '["state"]')" = open ]

# 7. 401: GitHub work stops at once, no retry loop
ctl '{"action": "unauthorized", "value": true}'
before=$(api_requests)
run_once
after=$(api_requests)
check "401: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "401: reported" grep -q 'GitHub rejected the token' "$T/out"
check "401: one request, no retries ($((after - before)))" [ $((after - before)) -eq 1 ]
ctl '{"action": "unauthorized", "value": false}'

# 7b. token rotation: a token file that changes is read again on SIGHUP
printf 'ghs_notTheRightTokenAtAll\n' >"$T/token"
chmod 600 "$T/token"
sed -e "s|^github: {api_url: '\(.*\)'}|github: {api_url: '\1', token_file: $T/token}|" \
  -e 's/@every 1m/@every 2s/' -e 's/forge: github}/forge: github, min_interval: 1s, target_branch: main}/' \
  "$T/config.yaml" >"$T/rotate.yaml"
env -u GITHUB_TOKEN "$CPGO" run -c "$T/rotate.yaml" -v >"$T/r.out" 2>&1 &
pid=$!
check "rotation: the wrong token fails at the git server" \
  wait_for "grep -q 'authentication failed for http://127.0.0.1:$GPORT/acme/app.git' '$T/r.out'" 20
printf '%s\r\n' "$TOKEN" >"$T/token"
kill -HUP $pid
check "rotation: the new token is taken" wait_for "grep -q 'GitHub token replaced' '$T/r.out'" 10
check "rotation: publishing resumes" \
  wait_for "grep -q 'msg=\"pull request updated\"' '$T/r.out'" 20
kill -TERM $pid; wait $pid
check "rotation: exit 0" [ $? -eq 0 ]
cat "$T/r.out" >>"$T/all.out"

# 8. -githubToken: accepted with a warning, not left in the command line
sed 's/@every 1m/@every 5m/' "$T/config.yaml" >"$T/daemon.yaml"
env -u GITHUB_TOKEN "$CPGO" run -c "$T/daemon.yaml" -v -githubToken "$TOKEN" >"$T/d.out" 2>&1 &
pid=$!
wait_for "grep -q 'GitHub token loaded' '$T/d.out'" 10
check "-githubToken: warned" grep -q 'other users of this machine can read it' "$T/d.out"
check "-githubToken: gone from /proc/pid/cmdline" bash -c "! tr '\0' ' ' </proc/$pid/cmdline | grep -qF -- '$TOKEN'"
kill -TERM "$pid"; wait "$pid"
cat "$T/d.out" >>"$T/all.out"

# 9. the token: in no byte printed at any level, nowhere in the state directory
check "output collected" [ -s "$T/all.out" ]
check "debug output was on" grep -q 'level=debug' "$T/all.out"
check "the token is in no output" bash -c "! grep -qaF -- '$TOKEN' '$T/all.out'"
check "nor any 12-byte piece of it" bash -c "! grep -qaF -- '${TOKEN:4:12}' '$T/all.out'"
check "the token is nowhere in the state directory" bash -c "! grep -rqaF -- '$TOKEN' '$T/state'"
v=$(curl -s "$API/_log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["violations"])')
check "never two mutations within a second ($v violations)" [ "$v" = 0 ]
stop_fleet
finish

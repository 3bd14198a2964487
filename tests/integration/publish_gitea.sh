#!/usr/bin/env bash
# forge gitea end to end through `cpgo run --once`: the head branch is pushed with the token
# as the basic-auth password (user cpgo, Gitea's scheme) to a real smart-HTTP git server on
# loopback (git http-backend behind lighttpd), and the pull request goes through the
# stateful fake Gitea API v1 (tests/support/fake_gitea.py):
# - created once with labels (names mapped to IDs), reviewers, assignees, auto-merge
#   (scheduled with the pushed head commit) and the commit prefix on the commit subject and
#   the title; a second repository with draft: a "WIP: " title; the forge chosen by host;
# - updated in place (same number); merged (main fast-forwarded, the fake says merged):
#   settled, the target branch's blob is the published file;
# - closed without merging: not recreated until pending has grown (reopen_growth);
# - a pull request without the marker (a person took it over) is left alone and reported;
# - 401/403/404/409/422/429/5xx from the API: each a clear error naming Gitea, nothing
#   pushed twice, nothing lost (the scrape counts in the body keep growing);
# - a token file replaced between rounds is read again;
# - with -v, not one byte cpgo printed (nor its state directory) contains the token.
. "$(dirname "$0")/lib.sh"
BACKEND=/usr/lib/git-core/git-http-backend
if ! command -v lighttpd >/dev/null 2>&1 || [ ! -x "$BACKEND" ] || ! command -v python3 >/dev/null; then
  echo "SKIP: needs lighttpd, git http-backend and python3 (scripts/setup-deps installs them)"
  exit 77
fi
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
TOKEN="gt_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# the git server: /acme/<repo>.git, basic auth user cpgo with the token as password
SRV="$T/srv"
start_git_http "$SRV" "$TOKEN" acme cpgo || finish
GIT_PID=$GIT_HTTP_PID
REPO=$GIT_HTTP_REPO
GPORT=$GIT_HTTP_PORT_USED
git clone -q --bare "$REPO" "$SRV/repos/draft.git"
git -C "$SRV/repos/draft.git" config http.receivepack true
FAKE_GITEA_TOKEN="$TOKEN" python3 "$CPGO_SRC/tests/support/fake_gitea.py" --port-file "$T/gt.port" \
  --lifetime 900 >"$T/gt.out" 2>&1 &
GT_PID=$!
trap 'kill $GIT_PID $GT_PID 2>/dev/null; wait $GIT_PID $GT_PID 2>/dev/null' EXIT
wait_for "[ -s '$T/gt.port' ]" 10 || { fail "the fake Gitea did not start"; finish; }
BASE="http://127.0.0.1:$(cat "$T/gt.port")"
API="$BASE/api/v1"
ctl() { curl -s -X POST --data-binary "$1" "$BASE/_control" >/dev/null; }
prs() { curl -s "$BASE/_prs?repo=${1:-acme/app}"; }
pr_count() { prs "$@" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
pr_field() { prs | python3 -c "import json,sys; p=json.load(sys.stdin)[$1]; print(p$2)"; }
api_requests() { curl -s "$BASE/_log" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))'; }
api_posts() { curl -s "$BASE/_log" | python3 -c 'import json,sys; print(sum(r["method"] == "POST" and r["path"].endswith("/pulls") for r in json.load(sys.stdin)["requests"]))'; }
ctl '{"action": "users", "names": ["alice", "bob"]}'
ctl '{"action": "repo", "repo": "acme/app", "labels": ["perf", "pgo"], "org": true, "org_labels": ["team"]}'

P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 11 -samples 200 -locations 100 -functions 60
start_fleet "$T" --profile "$P" --count 2 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
BR=cpgo/main/default.pgo
PREFIX='chore(pgo): '
# config REPO OPTIONS : the configuration for one repository, in $T/config.yaml
config() {
  {
    echo "state_dir: $T/state"
    echo "gitea: {api_url: '$API', token_env: GITEA_TOKEN}"
    echo "backends:"
    for port in "${PORTS[@]}"; do
      echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
      echo "  schedule: '@every 1m'"
      echo "  timeout: 1500ms"
      echo "  open_pull_request: {repository: 'http://127.0.0.1:$GPORT/acme/$1.git', target_branch: main, $2}"
    done
  } >"$T/config.yaml"
}
OPTS="forge: gitea, labels: [pgo, team, nosuch], reviewers: [bob], assignees: [alice], auto_merge: true, commit_prefix: '$PREFIX'"
config app "$OPTS"
run_once() { # run_once [ARGS] -> $T/out, $rc (every byte printed is kept in $T/all.out)
  GITEA_TOKEN="$TOKEN" "$CPGO" run -c "$T/config.yaml" --once -v "$@" >"$T/out" 2>&1
  rc=$?
  cat "$T/out" >>"$T/all.out"
}
scrapes_in_body() { pr_field "${1:-0}" '["body"]' | grep -o '| Scrapes | [0-9]* from' | grep -o '[0-9]*'; }

# 1. created once, with every option
run_once
check "first round: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
check "the branch is on the git server" git -C "$REPO" rev-parse -q --verify "refs/heads/$BR" >/dev/null
check "one commit on top of main" [ "$(git -C "$REPO" rev-list --count "main..$BR")" = 1 ]
check "the commit subject has the prefix" bash -c "git -C '$REPO' log -1 --format=%s '$BR' | grep -qF -- '$PREFIX'"
check "one pull request" [ "$(pr_count)" = 1 ]
check "from the head branch to main" [ "$(pr_field 0 '["head"]["ref"]+" "+p["base"]["ref"]')" = "$BR main" ]
check "the title has the prefix" [ "$(pr_field 0 '["title"]' | cut -c1-12)" = "$PREFIX" ]
check "the body starts with the marker" [ "$(pr_field 0 '["body"].split("\n")[0][:25]')" = "<!-- cpgo:managed target=" ]
check "labels by ID: repository's and organisation's" [ "$(pr_field 0 '["labels"]' | python3 -c 'import ast,sys; print(",".join(l["name"] for l in ast.literal_eval(sys.stdin.read())))')" = "pgo,team" ]
check "the missing label is reported, not fatal" grep -q "label 'nosuch'" "$T/out"
check "assignee" [ "$(pr_field 0 '["assignees"][0]["login"]')" = alice ]
check "reviewer" [ "$(pr_field 0 '["requested_reviewers"][0]["login"]')" = bob ]
check "auto-merge scheduled for the pushed commit" \
  [ "$(pr_field 0 '["_fake"]["auto_merge"]["head_commit_id"]')" = "$(pr_field 0 '["head"]["sha"]')" ]
check "not a draft" [ "$(pr_field 0 '["draft"]')" = False ]
check "the token went as 'Authorization: token'" bash -c "curl -s '$BASE/_log' | python3 -c 'import json,sys; r=json.load(sys.stdin)[\"requests\"]; sys.exit(not r or any(x[\"auth_form\"] != \"token\" or x[\"auth\"] != \"ok\" for x in r))'"
check "opened logged" grep -q 'msg="pull request opened".*pr=1' "$T/out"
num=$(pr_field 0 '["number"]')
s1=$(scrapes_in_body)

# 2. updated in place
run_once
check "second round: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "still one pull request" [ "$(pr_count)" = 1 ]
check "updated in place" grep -q "msg=\"pull request updated\".*pr=$num" "$T/out"
check "the body counts more scrapes ($s1 -> $(scrapes_in_body))" [ "$(scrapes_in_body)" -gt "$s1" ]
check "still one commit on main" [ "$(git -C "$REPO" rev-list --count "main..$BR")" = 1 ]
check "one POST in all" [ "$(api_posts)" = 1 ]

# 3. API errors: each a clear error naming Gitea, nothing pushed twice, nothing lost
err_round() { # err_round NAME FAULT_JSON WANT_RC GREP
  local before_posts s_before
  before_posts=$(api_posts)
  s_before=$(scrapes_in_body)
  ctl "$2"
  run_once
  check "$1: exit $3 (rc $rc)" [ "$rc" -eq "$3" ]
  check "$1: said ($4)" grep -q -- "$4" "$T/out"
  check "$1: still one pull request" [ "$(pr_count)" = 1 ]
  check "$1: still one commit on main" [ "$(git -C "$REPO" rev-list --count "main..$BR")" = 1 ]
  check "$1: no second POST" [ "$(api_posts)" = "$before_posts" ]
  ctl '{"action": "reset_faults"}'
}
err_round "403" '{"action": "fault", "kind": "status", "status": 403, "message": "user should have a permission to write to a repo", "count": 5}' 1 'gitea acme/app: .*HTTP 403: user should have a permission'
err_round "404" '{"action": "fault", "kind": "status", "status": 404, "count": 5}' 1 'gitea acme/app: .*HTTP 404'
err_round "422" '{"action": "fault", "kind": "status", "status": 422, "message": "[Body]: too long", "count": 5, "method": "PATCH"}' 1 'HTTP 422: \[Body\]: too long'
err_round "429" '{"action": "fault", "kind": "rate_limit", "seconds": 2, "count": 1}' 0 'rate limited: pausing'
err_round "5xx" '{"action": "fault", "kind": "status", "status": 502, "count": 2, "method": "PATCH"}' 0 'pull request updated'
check "nothing lost: the body counts every scrape" [ "$(scrapes_in_body)" -gt "$s1" ]

# 4. a pull request without the marker is a person's: left alone, reported
setpr() { # setpr NUMBER FIELD VALUE...
  python3 -c 'import json,sys; a=sys.argv[2:]; print(json.dumps(dict({"action": "set_pr", "repo": "acme/app", "number": int(sys.argv[1])}, **{a[i]: (a[i+1] if a[i] != "merged" else True) for i in range(0, len(a), 2)})))' "$@" >"$T/ctl.json"
  curl -s -X POST --data-binary "@$T/ctl.json" "$BASE/_control" >/dev/null
}
pr_field 0 '["body"]' >"$T/body"
setpr "$num" body "mine now"
run_once
check "unmanaged: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "unmanaged: reported" grep -q 'is not cpgo.s (its body lacks the cpgo marker): left alone' "$T/out"
check "unmanaged: body untouched" [ "$(pr_field 0 '["body"]')" = "mine now" ]
check "unmanaged: no second pull request" [ "$(pr_count)" = 1 ]
setpr "$num" body "$(cat "$T/body")"

# 5. closed without merging: gated until pending has grown
setpr "$num" state closed
run_once
check "closed: noticed" grep -q 'closed without merging' "$T/out"
check "closed: no new pull request" [ "$(pr_count)" = 1 ]
run_once
check "closed: still none on the next round (rc $rc)" [ "$(pr_count)" = 1 ]
for _ in 1 2 3 4 5 6 7 8; do
  [ "$(pr_count)" = 1 ] || break
  run_once
done
check "closed: a new pull request once pending grew" [ "$(pr_count)" = 2 ]
check "closed: the old one stays closed" [ "$(pr_field 0 '["state"]')" = closed ]
check "the 409 path never showed: one POST per pull request" [ "$(api_posts)" = 2 ]
num=$(pr_field 1 '["number"]')

# 6. merged: main fast-forwarded to the branch, the fake says merged -> settled
pushed=$(git -C "$REPO" rev-parse "refs/heads/$BR:default.pgo")
git -C "$REPO" update-ref refs/heads/main "refs/heads/$BR"
setpr "$num" merged 1
run_once
check "merged: settled (rc $rc)" grep -q 'pull request merged: its scrapes are published' "$T/out"
check "merged: main's blob is the published file" [ "$(git -C "$REPO" rev-parse main:default.pgo)" = "$pushed" ]

# 7. 401: Gitea work stops at once, no retry loop; then a token file replaced between rounds
ctl '{"action": "unauthorized", "value": true}'
before=$(api_requests)
run_once
after=$(api_requests)
check "401: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "401: reported" grep -q 'Gitea rejected the token' "$T/out"
check "401: one request, no retries ($((after - before)))" [ $((after - before)) -eq 1 ]
ctl '{"action": "unauthorized", "value": false}'
printf 'gt_notTheRightTokenAtAll\n' >"$T/token"
chmod 600 "$T/token"
sed -i "s|token_env: GITEA_TOKEN}|token_file: $T/token}|" "$T/config.yaml"
env -u GITEA_TOKEN "$CPGO" run -c "$T/config.yaml" --once -v >"$T/out" 2>&1
rc=$?; cat "$T/out" >>"$T/all.out"
check "token file: the wrong token fails (rc $rc)" [ "$rc" -ne 0 ]
printf '%s\n' "$TOKEN" >"$T/token"
env -u GITEA_TOKEN "$CPGO" run -c "$T/config.yaml" --once -v >"$T/out" 2>&1
rc=$?; cat "$T/out" >>"$T/all.out"
check "token file: replaced, the round succeeds (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]

# 8. draft, and the forge chosen by host (no forge: key; the gitea.api_url's host)
config draft "draft: true, labels: [pgo]"
# 409 first: Gitea's "already exists" for a pull request the find did not see; cpgo
# looks it up, finds none, and creates it (Gitea refuses a real duplicate with 409 again)
ctl '{"action": "fault", "kind": "status", "status": 409, "method": "POST", "message": "pull request already exists for these targets [id: 9, issue_id: 9, head_repo_id: 1001, base_repo_id: 1001, head_branch: cpgo/main/default.pgo, base_branch: main]"}'
run_once
draft_posts() { curl -s "$BASE/_log" | python3 -c 'import json,sys; print(sum(r["method"] == "POST" and r["path"].endswith("/draft/pulls") for r in json.load(sys.stdin)["requests"]))'; }
check "409 then by host, draft: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
check "409: Gitea's answer was judged" grep -q 'class=exists error="gitea acme/draft: create pull request: HTTP 409: pull request already exists' "$T/out"
check "409: looked up, then one POST more" [ "$(draft_posts)" = 2 ]
check "by host: the pull request went to Gitea, once" [ "$(pr_count acme/draft)" = 1 ]
check "409: the branch pushed once" [ "$(git -C "$SRV/repos/draft.git" rev-list --count "main..$BR")" = 1 ]
check "draft: a WIP: title" bash -c "curl -s '$BASE/_prs?repo=acme/draft' | python3 -c 'import json,sys; p=json.load(sys.stdin)[0]; sys.exit(not (p[\"draft\"] and p[\"title\"].startswith(\"WIP: \")))'"

# 9. the token: in no byte printed at any level, nowhere in the state directory
check "output collected" [ -s "$T/all.out" ]
check "debug output was on" grep -q 'level=debug' "$T/all.out"
check "the token is in no output" bash -c "! grep -qaF -- '$TOKEN' '$T/all.out'"
check "nor any 12-byte piece of it" bash -c "! grep -qaF -- '${TOKEN:4:12}' '$T/all.out'"
check "the token is nowhere in the state directory" bash -c "! grep -rqaF -- '$TOKEN' '$T/state'"
check "never in a URL: no query token" bash -c "curl -s '$BASE/_log' | python3 -c 'import json,sys; sys.exit(any(r[\"auth_form\"] == \"query\" for r in json.load(sys.stdin)[\"requests\"]))'"
stop_fleet
finish

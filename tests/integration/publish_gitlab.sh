#!/usr/bin/env bash
# forge gitlab end to end through `cpgo run --once`: the head branch is pushed to a real
# smart-HTTP git server on loopback (git http-backend behind lighttpd) with GitLab's git
# auth (user oauth2, the token as password), in a subgroup path (grp/sub/app), and the
# merge request goes through the stateful fake GitLab REST v4 API
# (tests/support/fake_gitlab.py):
# - created once with labels (a missing one reported, not created), assignees, reviewers,
#   auto_merge (scheduled) and commit_prefix on the commit subject and the title; then
#   updated in place (same iid); 409 "already exists" is found again and updated;
# - merged (main fast-forwarded, the MR merged): settled, main's file is the published one;
# - a person's MR (no marker) left alone and reported; closed: not recreated until
#   pending has grown by reopen_growth;
# - a renamed project (301) followed inside the API; 401, 403, 404, 422, 429, 5xx each a
#   clear error or a wait, with one MR per head and one commit on top of main;
# - a token file replaced between rounds; the forge chosen by host, with draft;
# - with -v, not one byte cpgo printed (nor its state directory) contains the token.
. "$(dirname "$0")/lib.sh"
BACKEND=/usr/lib/git-core/git-http-backend
if ! command -v lighttpd >/dev/null 2>&1 || [ ! -x "$BACKEND" ] || ! command -v python3 >/dev/null; then
  echo "SKIP: needs lighttpd, git http-backend and python3 (scripts/setup-deps installs them)"
  exit 77
fi
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
TOKEN="glpat-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# the git server: /grp/sub/<repo>.git, so the project path is grp/sub/app as on GitLab
SRV="$T/srv"
start_git_http "$SRV" "$TOKEN" grp/sub oauth2 || finish
GIT_PID=$GIT_HTTP_PID
REPO=$GIT_HTTP_REPO
GPORT=$GIT_HTTP_PORT_USED
git clone -q --bare "$REPO" "$SRV/repos/other.git"
git -C "$SRV/repos/other.git" config http.receivepack true
FAKE_GITLAB_TOKEN="$TOKEN" python3 "$CPGO_SRC/tests/support/fake_gitlab.py" --port-file "$T/gl.port" \
  --lifetime 900 --project grp/sub/app --project grp/sub/other --user alice --user bob \
  >"$T/gl.out" 2>&1 &
GL_PID=$!
trap 'kill $GIT_PID $GL_PID 2>/dev/null; wait $GIT_PID $GL_PID 2>/dev/null' EXIT
wait_for "[ -s '$T/gl.port' ]" 10 || { fail "the fake GitLab did not start"; finish; }
BASE="http://127.0.0.1:$(cat "$T/gl.port")"
ctl() { curl -s -X POST -d "$1" "$BASE/_control" >/dev/null; }
mrs() { curl -s "$BASE/_prs?project=${1:-grp/sub/app}"; }
mr_count() { mrs "${1:-}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
mr_field() { mrs "${3:-}" | python3 -c "import json,sys; p=json.load(sys.stdin)[$1]; print(p$2)"; }
api_requests() { curl -s "$BASE/_log" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))'; }
# setmr IID DESCRIPTION_FILE [STATE]: a person edits (and closes or merges) the MR
setmr() {
  python3 -c 'import json,sys; print(json.dumps({"action": "set_pr", "project": "grp/sub/app",
    "iid": int(sys.argv[1]), "description": open(sys.argv[2]).read(),
    **({"state": sys.argv[3]} if len(sys.argv) > 3 else {})}))' "$@" >"$T/ctl.json"
  curl -s -X POST --data-binary "@$T/ctl.json" "$BASE/_control" >/dev/null
}

P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 13 -samples 200 -locations 100 -functions 60
start_fleet "$T" --profile "$P" --count 2 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
BR=cpgo/main/default.pgo
# mkcfg REPO_NAME EXTRA_OPTIONS [GITLAB_EXTRA]
mkcfg() {
  echo "state_dir: $T/state"
  echo "gitlab: {api_url: '$BASE/api/v4'${3:-}}"
  echo "backends:"
  for port in "${PORTS[@]}"; do
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  schedule: '@every 1m'"
    echo "  timeout: 1500ms"
    echo "  open_pull_request: {repository: 'http://127.0.0.1:$GPORT/grp/sub/$1.git', $2}"
  done
}
OPTS="forge: gitlab, labels: [pgo, missing], assignees: [alice], reviewers: [bob, ghost], auto_merge: true, commit_prefix: 'chore(pgo): '"
mkcfg app "$OPTS" >"$T/config.yaml"
ctl '{"action": "label", "project": "grp/sub/app", "name": "pgo"}'
run_once() { # run_once [CONFIG] -> $T/out, $rc (every byte printed is kept in $T/all.out)
  GITLAB_TOKEN="$TOKEN" "$CPGO" run -c "${1:-$T/config.yaml}" --once -v >"$T/out" 2>&1
  rc=$?
  cat "$T/out" >>"$T/all.out"
}
one_on_top() { [ "$(git -C "$REPO" rev-list --count "main..$BR")" = 1 ]; }

# 1. created once, with every option
run_once
check "first round: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
check "the branch is on the git server (pushed as oauth2)" git -C "$REPO" rev-parse -q --verify "refs/heads/$BR" >/dev/null
check "one commit on top of main" one_on_top
check "one merge request" [ "$(mr_count)" = 1 ]
check "from the head branch to main" [ "$(mr_field 0 '["source_branch"]+" "+p["target_branch"]')" = "$BR main" ]
check "the description starts with the marker" [ "$(mr_field 0 '["description"].split("\n")[0][:25]')" = "<!-- cpgo:managed target=" ]
check "commit_prefix on the title" [ "$(mr_field 0 '["title"][:12]')" = "chore(pgo): " ]
check "commit_prefix on the commit subject" [ "$(git -C "$REPO" log -1 --format=%s "$BR" | cut -c1-12)" = "chore(pgo): " ]
check "labels: the existing one" [ "$(mr_field 0 '["labels"]')" = "['pgo']" ]
check "labels: the missing one not created" [ "$(curl -s "$BASE/_labels?project=grp/sub/app" | python3 -c 'import json,sys; print(sorted(l["name"] for l in json.load(sys.stdin)))')" = "['pgo']" ]
check "labels: the missing one reported" grep -q "pull request options not all applied.*label 'missing'" "$T/out"
check "reviewers: the unknown one reported" grep -q "pull request options not all applied.*reviewer 'ghost'" "$T/out"
check "assignees" [ "$(mr_field 0 '["assignee_usernames"]')" = "['alice']" ]
check "reviewers" [ "$(mr_field 0 '["reviewer_usernames"]')" = "['bob']" ]
check "auto_merge: merge when the pipeline succeeds" [ "$(mr_field 0 '["merge_when_pipeline_succeeds"]')" = True ]
check "not a draft" [ "$(mr_field 0 '["draft"]')" = False ]
check "opened logged with its URL" grep -q 'msg="pull request opened".*pr=1 url=' "$T/out"
check "the API saw the token as Bearer only" [ "$(curl -s "$BASE/_log" | python3 -c 'import json,sys; print(sorted({r["auth"]+"/"+r["auth_form"] for r in json.load(sys.stdin)["requests"]}))')" = "['ok/bearer']" ]

# 2. updated in place
run_once
check "second round: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "still one merge request" [ "$(mr_count)" = 1 ]
check "updated in place" grep -q 'msg="pull request updated".*pr=1' "$T/out"
check "still one commit on main" one_on_top

# 3. 409: the lookup misses it once, the POST answers "already exists", found and updated
ctl '{"action": "fault", "kind": "body", "body": "[]", "count": 1, "method": "GET", "path": "/merge_requests"}'
run_once
check "409: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
check "409: the POST was refused" bash -c "curl -s '$BASE/_log' | python3 -c 'import json,sys; sys.exit(not any(r[\"method\"] == \"POST\" and r[\"status\"] == 409 for r in json.load(sys.stdin)[\"requests\"]))'"
check "409: found again and updated" grep -q 'msg="pull request updated".*pr=1' "$T/out"
check "409: still one merge request" [ "$(mr_count)" = 1 ]

# 4. a renamed project: the old path's 301 is followed inside the API
ctl '{"action": "rename", "from": "grp/sub/app", "to": "grp/sub/app2"}'
run_once
check "renamed: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
check "renamed: updated through the redirect" grep -q 'msg="pull request updated".*pr=1' "$T/out"
ctl '{"action": "rename", "from": "grp/sub/app2", "to": "grp/sub/app"}'

# 5. merged: main fast-forwarded to the branch and the MR merged -> settled
git -C "$REPO" update-ref refs/heads/main "refs/heads/$BR"
blob=$(git -C "$REPO" rev-parse "main:default.pgo")
ctl '{"action": "set_pr", "project": "grp/sub/app", "iid": 1, "state": "merged"}'
# the next creation is refused once (422): a clear error, nothing lost
ctl '{"action": "fault", "kind": "status", "status": 422, "message": "Source branch is protected", "shape": "list", "count": 1, "method": "POST"}'
run_once
check "merged: settled" grep -q 'msg="pull request merged: its scrapes are published"' "$T/out"
check "merged: main's file is the one cpgo published" [ "$(git -C "$REPO" rev-parse "main:default.pgo")" = "$blob" ]
check "422: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "422: a clear error" grep -q 'level=error.*HTTP 422: Source branch is protected' "$T/out"
check "422: no second merge request yet" [ "$(mr_count)" = 1 ]
check "422: the new proposal is one commit on the new main" one_on_top
run_once
check "after 422: a new merge request (rc $rc)" [ "$(mr_count)" = 2 ]
check "after 422: one commit on main" one_on_top
check "the merged one stays merged" [ "$(mr_field 0 '["state"]')" = merged ]

# 6. a merge request without the marker is a person's: left alone
mr_field 1 '["description"]' >"$T/body"
printf 'mine now' >"$T/mine"
setmr 2 "$T/mine"
run_once
check "unmanaged: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "unmanaged: reported" grep -q 'is not cpgo.s (its body lacks the cpgo marker): left alone' "$T/out"
check "unmanaged: description untouched" [ "$(mr_field 1 '["description"]')" = "mine now" ]
check "unmanaged: no third merge request" [ "$(mr_count)" = 2 ]
python3 -c 'import sys; sys.stdout.write(open(sys.argv[1]).read().rstrip("\n"))' "$T/body" >"$T/body2"
setmr 2 "$T/body2"
run_once
check "marker back: no longer a person's (rc $rc)" grep -q "no longer a person's" "$T/out"

# 7. closed without merging: not recreated every round, only once pending has grown
setmr 2 "$T/body2" closed
run_once
check "closed: noticed" grep -q 'closed without merging: not reopened\|no longer a person.s.*state=closed' "$T/out"
check "closed: no new merge request" [ "$(mr_count)" = 2 ]
run_once
check "closed: still none on the next round" [ "$(mr_count)" = 2 ]
for _ in 1 2 3 4 5 6 7 8; do
  [ "$(mr_count)" = 2 ] || break
  run_once
done
check "closed: a new merge request once pending grew" [ "$(mr_count)" = 3 ]
check "closed: the old one stays closed" [ "$(mr_field 1 '["state"]')" = closed ]
IID=$(mr_field 2 '["iid"]')

# 8. 429 with Retry-After: waited for, then updated
ctl '{"action": "fault", "kind": "rate_limit", "reset_in": 2, "count": 1, "method": "GET"}'
start=$(date +%s)
run_once
check "429: exit 0 after waiting (rc $rc)" [ "$rc" -eq 0 ]
check "429: waited" [ $(( $(date +%s) - start )) -ge 2 ]
check "429: logged" grep -q 'rate limited: pausing' "$T/out"
check "429: updated in place" grep -q "msg=\"pull request updated\".*pr=$IID" "$T/out"

# 9. 5xx twice on the update: retried
ctl '{"action": "fault", "kind": "status", "status": 502, "count": 2, "method": "PUT"}'
run_once
check "5xx: exit 0 after retries (rc $rc)" [ "$rc" -eq 0 ]
check "5xx: updated" grep -q "msg=\"pull request updated\".*pr=$IID" "$T/out"

# 10. 403 and 404: clear errors, nothing created
ctl '{"action": "forbidden", "project": "grp/sub/app"}'
run_once
check "403: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "403: a clear error" grep -q 'level=error.*gitlab grp/sub/app: .*HTTP 403: 403 Forbidden' "$T/out"
ctl '{"action": "forbidden", "project": "grp/sub/app", "value": false}'
ctl '{"action": "fault", "kind": "status", "status": 404, "count": 1, "method": "GET", "message": "404 Project Not Found"}'
run_once
check "404: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "404: a clear error" grep -q 'level=error.*HTTP 404: 404 Project Not Found' "$T/out"
check "403/404: still three merge requests" [ "$(mr_count)" = 3 ]
check "403/404: one commit on main" one_on_top

# 11. 401: GitLab work stops at once, no retry loop
ctl '{"action": "unauthorized", "value": true}'
before=$(api_requests)
run_once
after=$(api_requests)
check "401: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "401: reported" grep -q 'GitLab rejected the token' "$T/out"
check "401: one request, no retries ($((after - before)))" [ $((after - before)) -eq 1 ]
ctl '{"action": "unauthorized", "value": false}'

# 12. a token file replaced between rounds
printf 'glpat-notTheRightTokenAtAll\n' >"$T/token"
chmod 600 "$T/token"
mkcfg app "$OPTS" ", token_file: $T/token" >"$T/file.yaml"
env -u GITLAB_TOKEN "$CPGO" run -c "$T/file.yaml" --once -v >"$T/out" 2>&1
rc=$?
cat "$T/out" >>"$T/all.out"
# target_branch is not written: the default branch is asked of the git server first, with
# the token, so a rejected token stops the start (exit 2, as any configuration that cannot
# be used) before anything is scraped
check "wrong token file: exit 2 at start (rc $rc)" [ "$rc" -eq 2 ]
check "wrong token file: refused by the git server" grep -q "authentication failed for http://127.0.0.1:$GPORT/grp/sub/app.git" "$T/out"
printf '%s\n' "$TOKEN" >"$T/token"
env -u GITLAB_TOKEN "$CPGO" run -c "$T/file.yaml" --once -v >"$T/out" 2>&1
rc=$?
cat "$T/out" >>"$T/all.out"
check "replaced token file: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
check "replaced token file: updated" grep -q "msg=\"pull request updated\".*pr=$IID" "$T/out"
check "still three merge requests, one commit on main" bash -c "[ \"\$(curl -s '$BASE/_prs?project=grp/sub/app' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = 3 ]"

# 13. the forge chosen by host (gitlab.api_url's), a draft, auto_merge left to the person
mkcfg other "labels: [pgo], draft: true, auto_merge: true" >"$T/host.yaml"
run_once "$T/host.yaml"
check "by host: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out"))" [ "$rc" -eq 0 ]
check "by host: one merge request in grp/sub/other" [ "$(mr_count grp/sub/other)" = 1 ]
check "draft: a Draft: title" [ "$(mr_field 0 '["title"][:7]' grp/sub/other)" = "Draft: " ]
check "draft: draft" [ "$(mr_field 0 '["draft"]' grp/sub/other)" = True ]
check "draft: not merged automatically, and said so" grep -q "pull request options not all applied.*draft" "$T/out"
check "draft: no merge attempt" [ "$(mr_field 0 '["merge_attempts"]' grp/sub/other)" = 0 ]

# 14. the token: in no byte printed at any level, nowhere in the state directory
check "output collected" [ -s "$T/all.out" ]
check "debug output was on" grep -q 'level=debug' "$T/all.out"
check "the token is in no output" bash -c "! grep -qaF -- '$TOKEN' '$T/all.out'"
check "nor any 12-byte piece of it" bash -c "! grep -qaF -- '${TOKEN:6:12}' '$T/all.out'"
check "the token is nowhere in the state directory" bash -c "! grep -rqaF -- '$TOKEN' '$T/state'"
stop_fleet
finish

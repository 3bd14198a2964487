#!/usr/bin/env bash
# The fake GitLab (tests/support/fake_gitlab.py) checked on its own, with curl as the client,
# so the GitLab dialect's tests can trust it and it cannot drift silently from the shapes of
# GitLab's REST v4 (shared reference forges.md, client-go v1.46.0): both auth forms and
# 401 for anything else; projects by numeric id, by URL-encoded path with subgroups (and
# client-go's %2E), 404 for a literal "/" in the id; the renamed project's 301; users and
# labels (a missing label is created by an MR, visible as auto_created); create 201, 409
# "already exists" as a message list, 422 same branch, 400 missing and too-long fields;
# list filters and offset pagination (Link, x-* headers, followed as given); update in
# place (labels replace/add/remove, close/reopen, 409 on reopen beside another open MR);
# merge (auto_merge scheduled then merged, legacy merge_when_pipeline_succeeds, sha 409,
# draft/closed/race 405, 401, 422 conflicts); RateLimit-* headers, the quota's 429 "Retry
# later" with Retry-After; every fault kind; the four error-body shapes; exit on SIGTERM,
# --lifetime and without a token.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
FAKE="$CPGO_SRC/tests/support/fake_gitlab.py"
TOKEN="glpat-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

FAKE_GITLAB_TOKEN="$TOKEN" python3 "$FAKE" --port-file "$T/port" --lifetime 300 \
  --project grp/sub/app --project grp/my.app --user alice --user bob >"$T/fake.out" 2>&1 &
FPID=$!
trap 'kill $FPID 2>/dev/null; wait $FPID 2>/dev/null' EXIT
wait_for "[ -s '$T/port' ]" 10 || { fail "the fake GitLab did not start: $(cat "$T/fake.out")"; finish; }
BASE="http://127.0.0.1:$(cat "$T/port")"
API="$BASE/api/v4"
P=grp%2Fsub%2Fapp

ctl() { curl -s -o "$T/ctl" -w '%{http_code}' -X POST -d "$1" "$BASE/_control" | grep -qx 200 || fail "control $1: $(cat "$T/ctl")"; }
# req METHOD URL [curl args]: with the token as PRIVATE-TOKEN; sets CODE; $T/body, $T/hdr
req() {
  local m=$1 u=$2; shift 2
  CODE=$(curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" -H "PRIVATE-TOKEN: $TOKEN" "$@" "$u")
}
# jreq METHOD URL JSON: a JSON body, as client-go sends it
jreq() { req "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"; }
body() { python3 -c "import json,sys; d=json.load(open('$T/body')); print($1)"; }
hdr() { tr -d '\r' <"$T/hdr" | awk -v k="$(echo "$1" | tr A-Z a-z)" 'BEGIN{IGNORECASE=1} tolower($1) == k":" { sub(/^[^:]*: ?/, ""); print; exit }'; }
is() { # is DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}
prs() { curl -s "$BASE/_prs?project=$1"; }

# ---- auth ----------------------------------------------------------------------------------
CODE=$(curl -s -o "$T/body" -w '%{http_code}' "$API/projects/$P")
is "no token: 401" "$CODE" 401
is "no token: GitLab's body" "$(cat "$T/body")" '{"message": "401 Unauthorized"}'
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "PRIVATE-TOKEN: wrong" "$API/projects/$P")
is "a wrong PRIVATE-TOKEN: 401" "$CODE" 401
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: token $TOKEN" "$API/projects/$P")
is "GitHub's 'token' form is not GitLab's: 401" "$CODE" 401
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API/projects/$P")
is "Authorization: Bearer: 200" "$CODE" 200
req GET "$API/projects/$P"
is "PRIVATE-TOKEN: 200" "$CODE" 200
curl -s "$BASE/_log" >"$T/log"
is "the log: auth kinds and forms" \
  "$(python3 -c "import json; print(' '.join(r['auth']+'/'+r['auth_form']+'/'+str(r['status']) for r in json.load(open('$T/log'))['requests']))")" \
  "none/none/401 bad/private-token/401 bad/other/401 ok/bearer/200 ok/private-token/200"

# ---- projects --------------------------------------------------------------------------------
is "project: path_with_namespace" "$(body 'd["path_with_namespace"]')" grp/sub/app
is "project: default_branch" "$(body 'd["default_branch"]')" main
is "project: web_url" "$(body 'd["web_url"]')" "$BASE/grp/sub/app"
is "project: no RateLimit headers on the Projects API" "$(hdr RateLimit-Limit)" ""
ID=$(body 'd["id"]')
req GET "$API/projects/$ID"
is "project by numeric id" "$CODE/$(body 'd["path_with_namespace"]')" 200/grp/sub/app
req GET "$API/projects/grp%2Fmy%2Eapp"
is "project with client-go's %2E" "$CODE/$(body 'd["path_with_namespace"]')" 200/grp/my.app
req GET "$API/projects/grp/sub/app"
is "a literal / in the id: 404 as behind a decoding proxy" "$CODE" 404
req GET "$API/projects/grp%2Fnone"
is "an unknown project: 404" "$CODE/$(body 'd["message"]')" "404/404 Project Not Found"
ctl '{"action": "project", "path": "grp/empty", "default_branch": null}'
req GET "$API/projects/grp%2Fempty"
is "an empty project: default_branch null" "$(body 'd["default_branch"]')" None

# ---- users -------------------------------------------------------------------------------
req GET "$API/users?username=alice"
is "users?username=alice" "$CODE/$(body 'len(d)')/$(body 'd[0]["username"]')" 200/1/alice
ALICE=$(body 'd[0]["id"]')
req GET "$API/users?username=bob"
BOB=$(body 'd[0]["id"]')
req GET "$API/users?username=nobody"
is "users?username=nobody: []" "$CODE/$(cat "$T/body")" "200/[]"
req GET "$API/user"
is "user: the token's owner" "$(body 'd["username"]')" cpgo-bot

# ---- labels, create ------------------------------------------------------------------------
ctl '{"action": "label", "project": "grp/sub/app", "name": "pgo"}'
req GET "$API/projects/$P/labels"
is "labels: the person's label only" "$(body '",".join(l["name"] for l in d)')" pgo
jreq POST "$API/projects/$P/merge_requests" "{\"source_branch\": \"cpgo/main\", \"target_branch\": \"main\",
  \"title\": \"Update PGO profile\", \"description\": \"<!-- cpgo -->\", \"labels\": \"pgo,perf\",
  \"assignee_ids\": [$ALICE], \"reviewer_ids\": [$BOB, 99999], \"remove_source_branch\": true}"
is "create: 201" "$CODE" 201
is "create: iid 1, opened, labels" "$(body 'd["iid"], d["state"], d["labels"], d["draft"]')" "1 opened ['pgo', 'perf'] False"
is "create: assignees and reviewers by id (unknown ids dropped)" \
  "$(body '[u["username"] for u in d["assignees"]], [u["username"] for u in d["reviewers"]]')" "['alice'] ['bob']"
is "create: web_url" "$(body 'd["web_url"]')" "$BASE/grp/sub/app/-/merge_requests/1"
is "create: sha and detailed_merge_status" "$(body 'len(d["sha"]), d["detailed_merge_status"]')" "40 ci_still_running"
is "create: RateLimit-Name" "$(hdr RateLimit-Name)" throttle_authenticated_api
[ -n "$(hdr RateLimit-Remaining)" ] && [ -n "$(hdr RateLimit-Reset)" ] && [ -n "$(hdr RateLimit-Observed)" ] &&
  ok || fail "create: RateLimit-Remaining/-Reset/-Observed missing: $(cat "$T/hdr")"
req GET "$API/projects/$P/labels?search=PER"
is "labels?search=: a substring, any case" "$(body '[l["name"] for l in d]')" "['perf']"
curl -s "$BASE/_labels?project=grp/sub/app" >"$T/labels"
is "a missing label is created by the MR, visibly" \
  "$(python3 -c "import json; print(sorted((l['name'], l['auto_created']) for l in json.load(open('$T/labels'))))")" \
  "[('perf', True), ('pgo', False)]"
jreq POST "$API/projects/$P/merge_requests" '{"source_branch": "cpgo/main", "target_branch": "main", "title": "again"}'
is "create twice: 409" "$CODE" 409
is "create twice: GitLab's message list" "$(cat "$T/body")" \
  '{"message": ["Another open merge request already exists for this source branch: !1"]}'
jreq POST "$API/projects/$P/merge_requests" '{"source_branch": "main", "target_branch": "main", "title": "x"}'
is "same branch: 422 message list" "$CODE/$(body 'd["message"][0]')" "422/You can't use same project/branch for source and target"
jreq POST "$API/projects/$P/merge_requests" '{"source_branch": "b", "target_branch": "main"}'
is "missing title: 400 Grape's error" "$CODE/$(cat "$T/body")" '400/{"error": "title is missing"}'
jreq POST "$API/projects/$P/merge_requests" "{\"source_branch\": \"b\", \"target_branch\": \"main\", \"title\": \"$(printf 'x%.0s' $(seq 300))\"}"
is "a too-long title: 400, message of field lists" "$CODE/$(body 'd["message"]["title"][0]')" \
  "400/is too long (maximum is 255 characters)"
req POST "$API/projects/$P/merge_requests" --data-urlencode source_branch=form --data-urlencode target_branch=main \
  --data-urlencode title=Form --data-urlencode labels=a,b
is "create with a form body" "$CODE/$(body 'd["iid"], d["labels"]')" "201/2 ['a', 'b']"
jreq POST "$API/projects/$P/merge_requests" '{"source_branch": "d", "target_branch": "main", "title": "Draft: later"}'
is "a Draft: title makes a draft" "$CODE/$(body 'd["draft"], d["detailed_merge_status"]')" "201/True draft_status"
DRAFT=$(body 'd["iid"]')

# ---- get, list, pagination ----------------------------------------------------------------
req GET "$API/projects/$P/merge_requests/1"
is "get: 200 full" "$CODE/$(body 'd["source_branch"], d["target_branch"], d["author"]["username"], "diff_refs" in d')" \
  "200/cpgo/main main cpgo-bot True"
req GET "$API/projects/$P/merge_requests/99"
is "get unknown iid: 404" "$CODE/$(cat "$T/body")" '404/{"message": "404 Not found"}'
req GET "$API/projects/$P/merge_requests?source_branch=cpgo%2Fmain&target_branch=main&state=opened"
is "list: by source and target, opened" "$CODE/$(body '[m["iid"] for m in d]')" "200/[1]"
req GET "$API/projects/$P/merge_requests?state=bogus"
is "list: invalid state 400" "$CODE/$(cat "$T/body")" '400/{"error": "state does not have a valid value"}'
for i in 1 2 3 4 5; do
  jreq POST "$API/projects/$P/merge_requests" "{\"source_branch\": \"many$i\", \"target_branch\": \"main\", \"title\": \"m$i\"}"
done
req GET "$API/projects/$P/merge_requests?per_page=2&state=all"
is "page 1: two, newest first" "$(body '[m["title"] for m in d]')" "['m5', 'm4']"
is "page 1: X-Total/X-Total-Pages/X-Next-Page/X-Page/X-Per-Page" \
  "$(hdr X-Total)/$(hdr X-Total-Pages)/$(hdr X-Next-Page)/$(hdr X-Page)/$(hdr X-Per-Page)/$(hdr X-Prev-Page)" "8/4/2/1/2/"
NEXT=$(hdr Link | tr ',' '\n' | sed -n 's/.*<\(.*\)>; rel="next".*/\1/p')
is "Link: rel=next on the same path" "${NEXT%%\?*}" "$API/projects/$P/merge_requests"
req GET "$NEXT"
is "the Link followed as given: page 2" "$(body '[m["title"] for m in d]')/$(hdr X-Page)/$(hdr X-Prev-Page)" "['m3', 'm2']/2/1"
LAST=$(hdr Link | tr ',' '\n' | sed -n 's/.*<\(.*\)>; rel="last".*/\1/p')
req GET "$LAST"
is "last page: no next" "$(body 'len(d)')/$(hdr X-Next-Page)" "2/"
hdr Link | grep -q 'rel="next"' && fail "last page has a next link" || ok
req GET "$API/projects/$P/merge_requests?per_page=500"
is "per_page capped at 100" "$(hdr X-Per-Page)" 100

# ---- update ------------------------------------------------------------------------------
jreq PUT "$API/projects/$P/merge_requests/1" '{"title": "Update PGO profile (2)", "description": "new", "labels": "pgo"}'
is "update: 200 in place" "$CODE/$(body 'd["iid"], d["title"], d["description"], d["labels"]')" \
  "200/1 Update PGO profile (2) new ['pgo']"
jreq PUT "$API/projects/$P/merge_requests/1" '{"add_labels": "x,y", "remove_labels": "pgo"}'
is "update: add_labels and remove_labels" "$(body 'd["labels"]')" "['x', 'y']"
jreq PUT "$API/projects/$P/merge_requests/1" '{}'
is "update without a field: 400" "$CODE/$(body '"at least one parameter" in d["error"]')" "400/True"
jreq PUT "$API/projects/$P/merge_requests/1" '{"state_event": "close"}'
is "update: close" "$(body 'd["state"], d["closed_at"] is not None')" "closed True"
req GET "$API/projects/$P/merge_requests?source_branch=cpgo%2Fmain&state=closed"
is "list closed" "$(body '[m["iid"] for m in d]')" "[1]"
jreq POST "$API/projects/$P/merge_requests" '{"source_branch": "cpgo/main", "target_branch": "main", "title": "second"}'
SECOND=$(body 'd["iid"]')
is "create beside a closed one: 201" "$CODE" 201
jreq PUT "$API/projects/$P/merge_requests/1" '{"state_event": "reopen"}'
is "reopen beside another open MR: 409" "$CODE/$(body 'd["message"][0]')" \
  "409/Another open merge request already exists for this source branch: !$SECOND"
jreq PUT "$API/projects/$P/merge_requests/$SECOND" '{"state_event": "close"}'
jreq PUT "$API/projects/$P/merge_requests/1" '{"state_event": "reopen"}'
is "reopen: opened" "$CODE/$(body 'd["state"]')" 200/opened

# ---- merge -------------------------------------------------------------------------------
jreq PUT "$API/projects/$P/merge_requests/$DRAFT/merge" '{"auto_merge": true}'
is "merge a draft: 405" "$CODE/$(cat "$T/body")" '405/{"message": "405 Method Not Allowed"}'
jreq PUT "$API/projects/$P/merge_requests/1/merge" '{"auto_merge": true, "sha": "0000"}'
is "merge with a stale sha: 409" "$CODE/$(body 'd["message"].startswith("SHA does not match HEAD of source branch")')" "409/True"
req GET "$API/projects/$P/merge_requests/1"
SHA=$(body 'd["sha"]')
jreq PUT "$API/projects/$P/merge_requests/1/merge" "{\"auto_merge\": true, \"sha\": \"$SHA\"}"
is "auto_merge while the pipeline runs: scheduled" "$CODE/$(body 'd["state"], d["merge_when_pipeline_succeeds"]')" "200/opened True"
ctl '{"action": "set_pr", "project": "grp/sub/app", "iid": 1, "pipeline": "success"}'
req GET "$API/projects/$P/merge_requests/1"
is "the pipeline succeeds: merged" "$(body 'd["state"], d["merged_at"] is not None')" "merged True"
jreq PUT "$API/projects/$P/merge_requests/1/merge" '{"auto_merge": true}'
is "merge a merged MR: 405" "$CODE" 405
ctl '{"action": "set_pr", "project": "grp/sub/app", "iid": 6, "pipeline": "none"}'
jreq PUT "$API/projects/$P/merge_requests/6/merge" '{"merge_when_pipeline_succeeds": true}'
is "legacy merge_when_pipeline_succeeds, no pipeline: merged at once" "$CODE/$(body 'd["state"]')" 200/merged
ctl '{"action": "merge_race", "count": 1}'
jreq POST "$API/projects/$P/merge_requests" '{"source_branch": "race", "target_branch": "main", "title": "r"}'
RACE=$(body 'd["iid"]')
is "just created: preparing" "$(body 'd["detailed_merge_status"]')" preparing
jreq PUT "$API/projects/$P/merge_requests/$RACE/merge" '{"auto_merge": true}'
is "merge just after create: 405" "$CODE" 405
jreq PUT "$API/projects/$P/merge_requests/$RACE/merge" '{"auto_merge": true}'
is "merge again: scheduled" "$CODE/$(body 'd["merge_when_pipeline_succeeds"]')" "200/True"
ctl '{"action": "set_pr", "project": "grp/sub/app", "iid": 4, "has_conflicts": true, "pipeline": "success"}'
jreq PUT "$API/projects/$P/merge_requests/4/merge" '{}'
is "merge with conflicts: 422" "$CODE/$(cat "$T/body")" '422/{"message": "Branch cannot be merged"}'
ctl '{"action": "cannot_merge"}'
jreq PUT "$API/projects/$P/merge_requests/5/merge" '{"auto_merge": true}'
is "not allowed to merge: 401" "$CODE/$(cat "$T/body")" '401/{"message": "401 Unauthorized"}'
ctl '{"action": "cannot_merge", "value": false}'
is "merge attempts are counted" "$(prs grp/sub/app | python3 -c 'import json,sys; print([m["merge_attempts"] for m in json.load(sys.stdin) if m["iid"] == '"$RACE"'])')" "[2]"

# ---- people's merge requests, set_pr, rename ------------------------------------------------
ctl '{"action": "create_pr", "project": "grp/sub/app", "source_branch": "human", "title": "mine", "description": "no marker"}'
ctl '{"action": "set_pr", "project": "grp/sub/app", "iid": 2, "state": "closed", "title": "taken over", "body": "edited"}'
req GET "$API/projects/$P/merge_requests?source_branch=human"
is "a person's MR" "$(body 'd[0]["author"]["username"], d[0]["description"], d[0]["target_branch"]')" "human no marker main"
req GET "$API/projects/$P/merge_requests/2"
is "set_pr: a person edits and closes" "$(body 'd["state"], d["title"], d["description"]')" "closed taken over edited"
ctl '{"action": "rename", "from": "grp/sub/app", "to": "grp/sub/renamed"}'
req GET "$API/projects/$P/merge_requests?state=opened&per_page=1"
is "renamed: the old path answers 301" "$CODE" 301
is "renamed: Location keeps the rest and the query" "$(hdr Location)" \
  "$API/projects/grp%2Fsub%2Frenamed/merge_requests?state=opened&per_page=1"
req GET "$API/projects/$P" -L
is "renamed: followed, the project's new path" "$CODE/$(body 'd["path_with_namespace"]')" 200/grp/sub/renamed
req GET "$API/projects/$ID"
is "renamed: the numeric id still answers" "$CODE" 200
P=grp%2Fsub%2Frenamed

# ---- rate limits ---------------------------------------------------------------------------
ctl '{"action": "rate_limit", "limit": 2}'
req GET "$API/projects/$P/merge_requests"
is "quota: first" "$CODE/$(hdr RateLimit-Limit)/$(hdr RateLimit-Remaining)/$(hdr RateLimit-Observed)" 200/2/1/1
req GET "$API/projects/$P/merge_requests"
req GET "$API/projects/$P/merge_requests"
is "quota exceeded: 429" "$CODE" 429
is "429: plain text 'Retry later'" "$(hdr Content-Type)/$(cat "$T/body")" "text/plain/Retry later"
RA=$(hdr Retry-After)
[ "${RA:-0}" -ge 1 ] && [ "$RA" -le 61 ] && ok || fail "429: Retry-After '$RA'"
is "429: RateLimit-Remaining 0" "$(hdr RateLimit-Remaining)" 0
ctl '{"action": "rate_limit", "limit": 2000}'
ctl '{"action": "fault", "kind": "rate_limit", "reset_in": 7}'
req GET "$API/projects/$P/merge_requests"
is "fault rate_limit: 429, Retry-After, remaining 0" "$CODE/$(hdr Retry-After)/$(hdr RateLimit-Remaining)/$(cat "$T/body")" \
  "429/7/0/Retry later"
RESET=$(hdr RateLimit-Reset)
NOW=$(date +%s)
[ "$RESET" -ge $((NOW + 5)) ] && [ "$RESET" -le $((NOW + 9)) ] && ok || fail "RateLimit-Reset $RESET, now $NOW"
ctl '{"action": "fault", "kind": "retry_after", "seconds": 3, "method": "POST"}'
req GET "$API/projects/$P/merge_requests"
is "a fault with a method matches only that method" "$CODE" 200
jreq POST "$API/projects/$P/merge_requests" '{"source_branch": "ra", "target_branch": "main", "title": "ra"}'
is "fault retry_after: 429 with Retry-After" "$CODE/$(hdr Retry-After)" 429/3

# ---- faults and error shapes -----------------------------------------------------------------
for shape in message fields list error; do
  ctl "{\"action\": \"fault\", \"kind\": \"status\", \"status\": 422, \"shape\": \"$shape\", \"message\": \"bad thing\"}"
  req GET "$API/projects/$P/merge_requests"
  echo "$CODE $(cat "$T/body")" >>"$T/shapes"
done
is "error shapes" "$(cat "$T/shapes")" '422 {"message": "bad thing"}
422 {"message": {"base": ["bad thing"]}}
422 {"message": ["bad thing"]}
422 {"error": "bad thing", "error_description": "bad thing"}'
ctl '{"action": "fault", "kind": "status", "status": 503, "count": 2, "path": "/merge_requests/2"}'
req GET "$API/projects/$P/merge_requests/3"
is "a fault with a path matches only that path" "$CODE" 200
req GET "$API/projects/$P/merge_requests/2"
C1=$CODE
req GET "$API/projects/$P/merge_requests/2"
C2=$CODE
req GET "$API/projects/$P/merge_requests/2"
is "status fault: count 2" "$C1 $C2 $CODE" "503 503 200"
ctl '{"action": "forbidden", "project": "grp/sub/renamed"}'
req GET "$API/projects/$P/merge_requests"
is "forbidden: 403 message" "$CODE/$(cat "$T/body")" '403/{"message": "403 Forbidden"}'
ctl '{"action": "forbidden", "project": "grp/sub/renamed", "shape": "scope"}'
req GET "$API/projects/$P/merge_requests"
is "forbidden by scope: error/error_description" "$CODE/$(body 'd["error"], "error_description" in d')" "403/insufficient_scope True"
ctl '{"action": "forbidden", "project": "grp/sub/renamed", "value": false}'
req GET "$API/projects/$P/merge_requests"
is "forbidden lifted" "$CODE" 200
ctl '{"action": "unauthorized"}'
req GET "$API/projects/grp%2Fmy%2Eapp"
is "unauthorized: 401 with the right token" "$CODE" 401
ctl '{"action": "unauthorized", "value": false}'
P=grp%2Fmy%2Eapp
ctl '{"action": "fault", "kind": "body", "status": 200, "body": "[{\"iid\": ", "headers": {"X-Total": "1"}}'
req GET "$API/projects/$P/merge_requests"
is "fault body: raw" "$CODE/$(cat "$T/body")/$(hdr X-Total)" '200/[{"iid": /1'
ctl '{"action": "fault", "kind": "redirect", "status": 302, "location": "{base}/elsewhere{path}"}'
req GET "$API/projects/$P/merge_requests"
is "fault redirect: Location substituted" "$CODE/$(hdr Location)" "302/$BASE/elsewhere/api/v4/projects/$P/merge_requests"
ctl '{"action": "fault", "kind": "delay", "seconds": 1}'
T0=$(date +%s%N)
req GET "$API/projects/$P/merge_requests"
T1=$(date +%s%N)
[ "$CODE" = 200 ] && [ $(( (T1 - T0) / 1000000 )) -ge 900 ] && ok || fail "fault delay: $CODE after $(( (T1 - T0) / 1000000 )) ms"
ctl '{"action": "fault", "kind": "create_then_fail", "status": 502, "method": "POST"}'
jreq POST "$API/projects/$P/merge_requests" '{"source_branch": "ambiguous", "target_branch": "main", "title": "a"}'
is "create_then_fail: 502" "$CODE" 502
is "create_then_fail: the MR exists all the same" \
  "$(prs grp/my.app | python3 -c 'import json,sys; print([m["source_branch"] for m in json.load(sys.stdin)])')" "['ambiguous']"
ctl '{"action": "fault", "kind": "echo_auth", "form": "basic", "pad": 3}'
req GET "$API/projects/$P/merge_requests"
B64=$(printf 'oauth2:%s' "$TOKEN" | base64 -w0)
is "echo_auth basic: the credential as oauth2 basic auth" "$CODE/$(body 'd["message"]')" "403/...Token $B64 is not allowed here"
ctl '{"action": "fault", "kind": "echo_auth", "html": true, "status": 500}'
req GET "$API/projects/$P/merge_requests"
is "echo_auth html" "$CODE/$(hdr Content-Type)/$(cat "$T/body")" "500/text/html/<html>Token PRIVATE-TOKEN: $TOKEN is not allowed here</html>"
req GET "$BASE/api/v3/projects/$P"
is "an unknown route: 404 error" "$CODE/$(cat "$T/body")" '404/{"error": "404 Not Found"}'
ctl '{"action": "reset"}'
req GET "$API/projects/grp%2Fsub%2Fapp/merge_requests"
is "reset keeps the --project setup, forgets MRs" "$CODE/$(cat "$T/body")" "200/[]"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"action": "nope"}' "$BASE/_control")
is "an unknown control: 400" "$CODE" 400

# ---- lifecycle -----------------------------------------------------------------------------
kill -TERM $FPID
wait $FPID
is "SIGTERM: exit 0" "$?" 0
FAKE_GITLAB_TOKEN="$TOKEN" timeout 20 python3 "$FAKE" --port-file "$T/port2" --lifetime 1 >/dev/null 2>&1
is "--lifetime: exits 0 by itself" "$?" 0
env -u FAKE_GITLAB_TOKEN python3 "$FAKE" --port-file "$T/port3" 2>"$T/notoken" && fail "no token: started" || ok
grep -q 'no token' "$T/notoken" && ok || fail "no token: $(cat "$T/notoken")"
finish

#!/usr/bin/env bash
# The fake Gitea (tests/support/fake_gitea.py) checked on its own, with curl as the client,
# so the Gitea dialect's tests can trust it and it cannot drift silently: every endpoint
# (version, user, repository, labels of a repository and of an organization, list / create /
# get / edit a pull request, find by base and head, requested reviewers, merge and auto
# merge), pagination (limit, MAX_RESPONSE_ITEMS, Link next/last/first/prev followed as
# given, X-Total-Count), each error shape ({"message","url"}: 401, 403, 404, 405, 409, 412,
# 422), the 409 "already exists" text with the existing number, older servers without
# pulls/{base}/{head}, a renamed repository (307 or 301, relative Location), the auth forms
# (token, Bearer, basic with the token as password or as user name, query), every fault
# kind (status, rate_limit and retry_after with Retry-After, body, redirect, delay,
# create_then_fail, echo_auth), the request log, reset, and the process model (port file,
# SIGTERM, --lifetime, no token). Loopback only, ephemeral port.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
FAKE="$CPGO_SRC/tests/support/fake_gitea.py"
TOKEN="gt-$RANDOM$RANDOM-secret"

start_fake() { # start_fake NAME ARGS... : sets FPID and BASE
  local name=$1; shift
  rm -f "$T/$name.port"
  FAKE_GITEA_TOKEN="$TOKEN" python3 "$FAKE" --port-file "$T/$name.port" "$@" 2>"$T/$name.err" &
  FPID=$!
  for _ in $(seq 1 100); do [ -s "$T/$name.port" ] && break; sleep 0.05; done
  [ -s "$T/$name.port" ] || { fail "$name: no port file: $(cat "$T/$name.err")"; finish; }
  BASE="http://127.0.0.1:$(cat "$T/$name.port")"
}
start_fake main
API="$BASE/api/v1"

# req METHOD URL [JSON] [CURL ARGS...]: the body in $T/body, headers in $T/hdr; prints status.
req() {
  local m=$1 u=$2 d=${3:-}; shift 3 2>/dev/null || shift $#
  local auth=(-H "Authorization: token $TOKEN")
  [ "${NOAUTH:-}" = 1 ] && auth=()
  if [ -n "$d" ]; then
    curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" "${auth[@]}" \
      -H 'Content-Type: application/json' --data-binary "$d" "$@" "$u"
  else
    curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" "${auth[@]}" "$@" "$u"
  fi
}
ctl() { curl -s -o "$T/ctl.out" -w '%{http_code}' -X POST --data-binary "$1" "$BASE/_control" | grep -q 200 \
  || fail "control $1: $(cat "$T/ctl.out")"; }
body() { python3 -c "import json,sys; d=json.load(open('$T/body')); print(($1))"; }
hdr() { tr -d '\r' <"$T/hdr" | awk -v k="$(echo "$1" | tr A-Z a-z)" 'BEGIN{FS=": "} tolower($1)==k {sub(/^[^:]*: /,""); print}'; }
is() { # is DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3' (body: $(head -c 300 "$T/body"))"; fi
}
errdoc() { # the status's body is Gitea's error document with this message
  body 'sorted(d.keys()) == ["message", "url"] and d["url"] == "/api/swagger" and d["message"]'
}
B64() { printf '%s' "$1" | base64 -w0; }

# ---- authentication -------------------------------------------------------------------
is "token form" "$(req GET "$API/version")" 200
is "version" "$(body 'd["version"]')" "1.22.6"
is "Bearer form" "$(NOAUTH=1 req GET "$API/user" '' -H "Authorization: Bearer $TOKEN")" 200
is "the token's user" "$(body 'd["login"]')" cpgo
is "basic, token as password" "$(NOAUTH=1 req GET "$API/user" '' -H "Authorization: Basic $(B64 "cpgo:$TOKEN")")" 200
is "basic, token as user name" "$(NOAUTH=1 req GET "$API/user" '' -H "Authorization: Basic $(B64 "$TOKEN:")")" 200
is "basic, x-oauth-basic" "$(NOAUTH=1 req GET "$API/user" '' -H "Authorization: Basic $(B64 "$TOKEN:x-oauth-basic")")" 200
is "query token" "$(NOAUTH=1 req GET "$API/user?token=$TOKEN")" 200
is "no credentials: 401" "$(NOAUTH=1 req GET "$API/user")" 401
is "no credentials: the message" "$(body 'd["message"]')" "token is required"
check "401 is an error document" [ "$(errdoc)" = "token is required" ]
is "a wrong token: 401" "$(NOAUTH=1 req GET "$API/user" '' -H 'Authorization: token nope')" 401
is "a wrong basic password: 401" "$(NOAUTH=1 req GET "$API/user" '' -H "Authorization: Basic $(B64 cpgo:nope)")" 401
is "an unknown scheme: 401" "$(NOAUTH=1 req GET "$API/user" '' -H "Authorization: Digest $TOKEN")" 401
curl -s "$BASE/_log" >"$T/log.json"
is "the log names each auth form" "$(json_get "$T/log.json" '",".join(r["auth_form"]+"/"+r["auth"] for r in d["requests"])')" \
  "token/ok,bearer/ok,basic/ok,basic/ok,basic/ok,query/ok,none/none,token/bad,basic/bad,other/bad"
is "the log has statuses" "$(json_get "$T/log.json" '",".join(str(r["status"]) for r in d["requests"])')" \
  "200,200,200,200,200,200,401,401,401,401"
is "outside /api/v1: 404" "$(req GET "$BASE/repos/acme/app")" 404

# ---- repository, labels ---------------------------------------------------------------
is "a repository" "$(req GET "$API/repos/acme/app")" 200
is "its default branch" "$(body 'd["default_branch"], d["full_name"]')" "('main', 'acme/app')"
ctl '{"action":"repo","repo":"acme/app","default_branch":"master","labels":["pgo","perf","bot"],"org_labels":["team"]}'
ctl '{"action":"users","names":["alice","bob"]}'
req GET "$API/repos/acme/app" >/dev/null
is "a default branch set by the control" "$(body 'd["default_branch"]')" master
is "repository labels" "$(req GET "$API/repos/acme/app/labels")" 200
is "three labels, names and IDs" "$(body '[(x["name"], x["id"]) for x in d]')" "[('pgo', 1), ('perf', 2), ('bot', 3)]"
is "X-Total-Count on labels" "$(hdr X-Total-Count)" 3
is "organization labels" "$(req GET "$API/orgs/acme/labels")" 200
is "the org label" "$(body '[(x["name"], x["id"]) for x in d]')" "[('team', 4)]"
is "no such organization" "$(req GET "$API/orgs/nobody/labels")" 404
is "labels page 1 of 3" "$(req GET "$API/repos/acme/app/labels?limit=1")" 200
is "one label" "$(body 'len(d)')" 1
next=$(hdr Link | tr ',' '\n' | sed -n 's/^<\(.*\)>; rel="next"$/\1/p')
check "a next link on labels ($(hdr Link))" [ -n "$next" ]
req GET "$next" >/dev/null
is "the next link gives label 2" "$(body 'd[0]["name"]')" perf

# ---- create, find, get, edit -------------------------------------------------------------
is "create" "$(req POST "$API/repos/acme/app/pulls" '{"head":"cpgo/app","base":"master","title":"pgo: update","body":"marker","labels":[1,4,99],"assignees":["alice"],"reviewers":["bob"]}')" 201
is "the new pull request" "$(body 'd["number"], d["state"], d["merged"], d["draft"], d["head"]["ref"], d["base"]["ref"]')" \
  "(1, 'open', False, False, 'cpgo/app', 'master')"
is "labels by ID (an unknown ID dropped), assignees, reviewers" \
  "$(body '[x["name"] for x in d["labels"]], [x["login"] for x in d["assignees"]], [x["login"] for x in d["requested_reviewers"]]')" \
  "(['pgo', 'team'], ['alice'], ['bob'])"
is "html_url" "$(body 'd["html_url"]')" "$BASE/acme/app/pulls/1"
check "head.sha is a commit id" [ "$(body 'len(d["head"]["sha"])')" = 40 ]
is "create again: 409" "$(req POST "$API/repos/acme/app/pulls" '{"head":"cpgo/app","base":"master","title":"again"}')" 409
check "409 names the existing PR ($(cat "$T/body"))" bash -c "python3 -c \"import json,re,sys; m=json.load(open('$T/body'))['message']; sys.exit(not re.fullmatch(r'pull request already exists for these targets \[id: 1, issue_id: 1, head_repo_id: 1000, base_repo_id: 1000, head_branch: cpgo/app, base_branch: master\]', m))\""
is "409 owner:branch is the same head" "$(req POST "$API/repos/acme/app/pulls" '{"head":"acme:cpgo/app","base":"master","title":"again"}')" 409
is "head == base: 422" "$(req POST "$API/repos/acme/app/pulls" '{"head":"master","base":"master","title":"x"}')" 422
is "the 422 message" "$(errdoc)" "Invalid PullRequest: There are no changes between the head and the base"
long=$(python3 -c 'print("\u00e9" * 256)')
is "a title of 256 characters: 422" "$(req POST "$API/repos/acme/app/pulls" "{\"head\":\"b\",\"base\":\"master\",\"title\":\"$long\"}")" 422
is "its message" "$(errdoc)" "[Title]: MaxSize"
is "no title: 422" "$(req POST "$API/repos/acme/app/pulls" '{"head":"b","base":"master"}')" 422
is "unknown assignee: 422" "$(req POST "$API/repos/acme/app/pulls" '{"head":"b","base":"master","title":"x","assignees":["mallory"]}')" 422
is "its message" "$(errdoc)" "Assignee does not exist: [name: mallory]"
is "unknown reviewer: 422" "$(req POST "$API/repos/acme/app/pulls" '{"head":"b","base":"master","title":"x","reviewers":["mallory"]}')" 422
is "labels as names: 422" "$(req POST "$API/repos/acme/app/pulls" '{"head":"b","base":"master","title":"x","labels":["pgo"]}')" 422
is "not JSON: 422" "$(req POST "$API/repos/acme/app/pulls" 'nope')" 422
is "get" "$(req GET "$API/repos/acme/app/pulls/1")" 200
is "get: number and body" "$(body 'd["number"], d["body"]')" "(1, 'marker')"
is "get a missing one: 404" "$(req GET "$API/repos/acme/app/pulls/99")" 404
is "404 document" "$(errdoc)" "not found"
is "edit: 255 characters (510 bytes) are fine" "$(req PATCH "$API/repos/acme/app/pulls/1" "{\"title\":\"${long:1}\"}")" 201
is "edit: 256 are not" "$(req PATCH "$API/repos/acme/app/pulls/1" "{\"title\":\"$long\"}")" 422
is "edit: 201 (sic)" "$(req PATCH "$API/repos/acme/app/pulls/1" '{"title":"WIP: pgo: update","body":"marker v2","labels":[2]}')" 201
is "edited, a draft by its WIP: prefix, labels replaced" "$(body 'd["title"], d["body"], d["draft"], [x["name"] for x in d["labels"]]')" \
  "('WIP: pgo: update', 'marker v2', True, ['perf'])"
is "edit: [WIP] prefix, assignees, labels cleared" "$(req PATCH "$API/repos/acme/app/pulls/1" '{"title":"[wip] t","assignees":["bob"],"labels":[]}')" 201
is "lower-case [wip] is a draft too" "$(body 'd["draft"], [x["login"] for x in d["assignees"]], d["labels"]')" "(True, ['bob'], [])"
req PATCH "$API/repos/acme/app/pulls/1" '{"title":"pgo: update","labels":[1]}' >/dev/null
is "edit a missing one: 404" "$(req PATCH "$API/repos/acme/app/pulls/99" '{"title":"x"}')" 404

is "find by base/head" "$(req GET "$API/repos/acme/app/pulls/master/cpgo/app")" 200
is "found number 1" "$(body 'd["number"]')" 1
is "find with owner:branch" "$(req GET "$API/repos/acme/app/pulls/master/acme:cpgo/app")" 200
is "find with owner/repo:branch" "$(req GET "$API/repos/acme/app/pulls/master/acme/app:cpgo/app")" 200
is "find with an escaped slash" "$(req GET "$API/repos/acme/app/pulls/master/cpgo%2Fapp")" 200
is "find another base: 404" "$(req GET "$API/repos/acme/app/pulls/main/cpgo/app")" 404
is "find a fork's head: 404" "$(req GET "$API/repos/acme/app/pulls/master/other:cpgo/app")" 404
ctl '{"action":"version","version":"1.21.11"}'
is "version says 1.21.11" "$(req GET "$API/version" >/dev/null; body 'd["version"]')" "1.21.11"
is "Gitea < 1.22: find by base/head is 404 even for an open PR" "$(req GET "$API/repos/acme/app/pulls/master/cpgo/app")" 404
is "Gitea < 1.22: get by number still works" "$(req GET "$API/repos/acme/app/pulls/1")" 200
ctl '{"action":"version","version":"1.22.6"}'

# ---- list, pagination --------------------------------------------------------------------
for h in b1 b2 b3 b4; do
  req POST "$API/repos/acme/app/pulls" "{\"head\":\"$h\",\"base\":\"master\",\"title\":\"$h\"}" >/dev/null
done
req POST "$API/repos/acme/app/pulls" '{"head":"b5","base":"main","title":"b5"}' >/dev/null
is "list page 1" "$(req GET "$API/repos/acme/app/pulls?state=open&page=1&limit=2")" 200
is "newest first, two" "$(body '[x["number"] for x in d]')" "[6, 5]"
is "X-Total-Count" "$(hdr X-Total-Count)" 6
link=$(hdr Link)
check "Link: next and last, no first or prev ($link)" bash -c "[[ '$link' == *'rel=\"next\"'* && '$link' == *'rel=\"last\"'* && '$link' != *'rel=\"prev\"'* && '$link' != *'rel=\"first\"'* ]]"
check "Link joined by a bare comma, absolute URLs" bash -c "[[ '$link' == '<$API/repos/acme/app/pulls?'*'>; rel=\"next\",<'* ]]"
pages=0 seen=""
url="$API/repos/acme/app/pulls?state=open&limit=2"
while [ -n "$url" ] && [ $pages -lt 10 ]; do
  req GET "$url" >/dev/null
  seen="$seen$(body '",".join(str(x["number"]) for x in d)'),"
  pages=$((pages + 1))
  url=$(hdr Link | tr ',' '\n' | sed -n 's/^<\(.*\)>; rel="next"$/\1/p')
done
is "following next walks every page once" "$pages:$seen" "3:6,5,4,3,2,1,"
link=$(hdr Link)
check "the last page: first and prev, no next ($link)" bash -c "[[ '$link' == *'rel=\"first\"'* && '$link' == *'rel=\"prev\"'* && '$link' != *'rel=\"next\"'* ]]"
req GET "$API/repos/acme/app/pulls?state=open&page=9&limit=2" >/dev/null
is "past the end: empty" "$(body 'd')" "[]"
ctl '{"action":"max_items","value":4}'
req GET "$API/repos/acme/app/pulls?limit=50" >/dev/null
is "limit capped at MAX_RESPONSE_ITEMS" "$(body 'len(d)')" 4
req GET "$API/repos/acme/app/pulls" >/dev/null
is "no limit: the default paging, capped too" "$(body 'len(d)')" 4
ctl '{"action":"max_items","value":50}'
req GET "$API/repos/acme/app/pulls?base_branch=main" >/dev/null
is "base_branch filters" "$(body '[x["number"] for x in d]')" "[6]"
req GET "$API/repos/acme/app/pulls?sort=oldest&limit=2" >/dev/null
is "sort=oldest" "$(body '[x["number"] for x in d]')" "[1, 2]"

# ---- reviewers, merge, auto-merge ----------------------------------------------------------
is "request reviewers" "$(req POST "$API/repos/acme/app/pulls/2/requested_reviewers" '{"reviewers":["alice"]}')" 201
is "a review request per reviewer" "$(body '[(x["user"]["login"], x["state"]) for x in d]')" "[('alice', 'REQUEST_REVIEW')]"
req GET "$API/repos/acme/app/pulls/2" >/dev/null
is "requested_reviewers on the PR" "$(body '[x["login"] for x in d["requested_reviewers"]]')" "['alice']"
is "request an unknown reviewer: 422" "$(req POST "$API/repos/acme/app/pulls/2/requested_reviewers" '{"reviewers":["mallory"]}')" 422
is "merge without Do: 422" "$(req POST "$API/repos/acme/app/pulls/2/merge" '{}')" 422
is "auto-merge while checks run: 201 scheduled" "$(req POST "$API/repos/acme/app/pulls/2/merge" '{"Do":"merge","merge_when_checks_succeed":true,"delete_branch_after_merge":true}')" 201
curl -s "$BASE/_prs?repo=acme/app" >"$T/prs.json"
is "scheduled, still open" "$(json_get "$T/prs.json" '[(p["state"], p["_fake"]["auto_merge"]["delete_branch_after_merge"]) for p in d if p["number"] == 2]')" "[('open', True)]"
is "scheduled twice: 409" "$(req POST "$API/repos/acme/app/pulls/2/merge" '{"Do":"merge","merge_when_checks_succeed":true}')" 409
is "merge now while checks run: 405" "$(req POST "$API/repos/acme/app/pulls/3/merge" '{"Do":"merge"}')" 405
ctl '{"action":"set_pr","repo":"acme/app","number":2,"checks":"success"}'
req GET "$API/repos/acme/app/pulls/2" >/dev/null
is "checks succeed: the scheduled merge happens" "$(body 'd["state"], d["merged"], d["merged_at"] is not None')" "('closed', True, True)"
is "is merged: 204" "$(req GET "$API/repos/acme/app/pulls/2/merge")" 204
is "is merged (open one): 404" "$(req GET "$API/repos/acme/app/pulls/3/merge")" 404
ctl '{"action":"set_pr","repo":"acme/app","number":3,"checks":"success"}'
is "merge with a stale head_commit_id: 409" "$(req POST "$API/repos/acme/app/pulls/3/merge" '{"Do":"squash","head_commit_id":"0000000000000000000000000000000000000000"}')" 409
is "its message" "$(errdoc)" "head out of date"
is "auto-merge with checks green merges at once: 200" "$(req POST "$API/repos/acme/app/pulls/3/merge" '{"Do":"merge","merge_when_checks_succeed":true}')" 200
is "merge a merged one: 405" "$(req POST "$API/repos/acme/app/pulls/3/merge" '{"Do":"merge"}')" 405
is "reopen a merged one: 412" "$(req PATCH "$API/repos/acme/app/pulls/3" '{"state":"open"}')" 412
req PATCH "$API/repos/acme/app/pulls/4" '{"title":"WIP: b3"}' >/dev/null
is "auto-merge of a draft: 405" "$(req POST "$API/repos/acme/app/pulls/4/merge" '{"Do":"merge","merge_when_checks_succeed":true}')" 405
is "its message" "$(errdoc)" "Work in progress PRs cannot be merged"
ctl '{"action":"repo","repo":"acme/app","merge_styles":["squash"],"default_merge_style":"squash"}'
req GET "$API/repos/acme/app" >/dev/null
is "merge styles on the repository" "$(body 'd["default_merge_style"], d["allow_merge_commits"], d["allow_squash_merge"]')" "('squash', False, True)"
is "a style the repository does not allow: 405" "$(req POST "$API/repos/acme/app/pulls/5/merge" '{"Do":"merge","merge_when_checks_succeed":true}')" 405
is "its message" "$(errdoc)" "merge is not allowed an allowed merge style for this repository"
ctl '{"action":"repo","repo":"acme/app","merge_styles":["merge","rebase","rebase-merge","squash","fast-forward-only"],"default_merge_style":"merge"}'
ctl '{"action":"set_pr","repo":"acme/app","number":5,"mergeable":false}'
is "not mergeable: 405" "$(req POST "$API/repos/acme/app/pulls/5/merge" '{"Do":"merge","merge_when_checks_succeed":true}')" 405
is "close by PATCH" "$(req PATCH "$API/repos/acme/app/pulls/5" '{"state":"closed"}')" 201
is "closed" "$(body 'd["state"], d["merged"], d["closed_at"] is not None')" "('closed', False, True)"
is "merge a closed one: 404" "$(req POST "$API/repos/acme/app/pulls/5/merge" '{"Do":"merge"}')" 404
is "find by base/head finds a closed one" "$(req GET "$API/repos/acme/app/pulls/master/b4")" 200
is "... that is the closed one" "$(body 'd["number"], d["state"]')" "(5, 'closed')"
check "times carry the server's offset (+02:00)" bash -c "python3 -c \"import json,sys; d=json.load(open('$T/body')); sys.exit(not d['closed_at'].endswith('+02:00'))\""
req GET "$API/repos/acme/app/pulls?state=closed" >/dev/null
is "state=closed" "$(body '[x["number"] for x in d]')" "[5, 3, 2]"
req GET "$API/repos/acme/app/pulls?state=all&limit=50" >/dev/null
is "state=all" "$(body 'len(d)')" 6
is "a closed PR does not block a new one" "$(req POST "$API/repos/acme/app/pulls" '{"head":"b4","base":"master","title":"b4 again"}')" 201
req GET "$API/repos/acme/app/pulls/master/b4" >/dev/null
is "find by base/head answers the oldest, closed, though a newer one is open" "$(body 'd["number"], d["state"]')" "(5, 'closed')"
ctl '{"action":"timezone","minutes":0}'
req GET "$API/repos/acme/app/pulls/5" >/dev/null
check "timezone 0: +00:00" bash -c "python3 -c \"import json,sys; d=json.load(open('$T/body')); sys.exit(not d['closed_at'].endswith('+00:00'))\""
ctl '{"action":"timezone","minutes":120}'

# ---- a person's pull request, edits ----------------------------------------------------------
ctl '{"action":"create_pr","repo":"acme/app","head":"cpgo/other","base":"master","title":"mine","body":"no marker","labels":["pgo"]}'
n=$(python3 -c "import json; print(json.load(open('$T/ctl.out'))['number'])")
req GET "$API/repos/acme/app/pulls/$n" >/dev/null
is "a human's PR" "$(body 'd["user"]["login"], d["title"], [x["name"] for x in d["labels"]]')" "('human', 'mine', ['pgo'])"
ctl "{\"action\":\"set_pr\",\"repo\":\"acme/app\",\"number\":1,\"title\":\"taken over\",\"body\":\"edited by a person\"}"
req GET "$API/repos/acme/app/pulls/1" >/dev/null
is "set_pr edits title and body" "$(body 'd["title"], d["body"]')" "('taken over', 'edited by a person')"
ctl '{"action":"set_pr","repo":"acme/app","number":1,"merged":true}'
req GET "$API/repos/acme/app/pulls/1" >/dev/null
is "set_pr merges" "$(body 'd["state"], d["merged"]')" "('closed', True)"

# ---- faults ------------------------------------------------------------------------------
ctl '{"action":"fault","kind":"status","status":500,"count":2,"method":"GET","path":"/pulls"}'
is "status 500, first" "$(req GET "$API/repos/acme/app/pulls")" 500
check "500 is an error document" [ -n "$(errdoc)" ]
is "the fault's method filter: a POST is unaffected" "$(req POST "$API/repos/acme/app/pulls" '{"head":"master","base":"master","title":"x"}')" 422
is "the fault's path filter: /version is unaffected" "$(req GET "$API/version")" 200
is "status 500, second" "$(req GET "$API/repos/acme/app/pulls")" 500
is "count spent" "$(req GET "$API/repos/acme/app/pulls")" 200
ctl '{"action":"fault","kind":"status","status":500,"count":5}'
ctl '{"action":"reset_faults"}'
is "reset_faults drops unspent faults" "$(req GET "$API/version")" 200
ctl '{"action":"fault","kind":"rate_limit","seconds":7}'
is "rate_limit: 429" "$(req GET "$API/version")" 429
is "Retry-After" "$(hdr Retry-After)" 7
is "X-RateLimit-Remaining" "$(hdr X-RateLimit-Remaining)" 0
check "X-RateLimit-Reset ahead" [ "$(hdr X-RateLimit-Reset)" -gt "$(date +%s)" ]
check "429 is an error document" [ "$(errdoc)" = "rate limit exceeded" ]
ctl '{"action":"fault","kind":"retry_after","seconds":3,"status":503}'
is "retry_after: 503" "$(req GET "$API/version")" 503
is "its Retry-After" "$(hdr Retry-After)" 3
check "a plain-text body" bash -c "tr -d '\r' <'$T/hdr' | grep -qi '^content-type: text/plain'"
ctl '{"action":"fault","kind":"body","status":200,"body":"[{\"number\": tru"}'
is "body: 200" "$(req GET "$API/repos/acme/app/pulls")" 200
is "the raw body" "$(cat "$T/body")" '[{"number": tru'
ctl '{"action":"fault","kind":"redirect","status":302,"location":"{base}/elsewhere"}'
is "redirect: 302" "$(req GET "$API/version")" 302
is "its Location" "$(hdr Location)" "$BASE/elsewhere"
ctl '{"action":"fault","kind":"delay","seconds":1}'
t0=$(date +%s%N)
is "delay: then normal" "$(req GET "$API/version")" 200
check "delay took at least a second" [ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 900 ]
before=$(curl -s "$BASE/_prs?repo=acme/app" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
ctl '{"action":"fault","kind":"create_then_fail","status":502,"method":"POST"}'
is "create_then_fail: 502" "$(req POST "$API/repos/acme/app/pulls" '{"head":"ambiguous","base":"master","title":"x"}')" 502
after=$(curl -s "$BASE/_prs?repo=acme/app" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
is "... yet the PR was made" "$after" "$((before + 1))"
is "... and a retry gets 409" "$(req POST "$API/repos/acme/app/pulls" '{"head":"ambiguous","base":"master","title":"x"}')" 409
ctl '{"action":"fault","kind":"create_then_fail","status":504,"method":"PATCH"}'
is "create_then_fail on PATCH: 504" "$(req PATCH "$API/repos/acme/app/pulls/4" '{"body":"patched"}')" 504
req GET "$API/repos/acme/app/pulls/4" >/dev/null
is "... yet the edit was made" "$(body 'd["body"]')" patched
for form in raw token percent base64 basic; do
  ctl "{\"action\":\"fault\",\"kind\":\"echo_auth\",\"form\":\"$form\",\"pad\":10}"
  is "echo_auth $form: 403" "$(req GET "$API/version")" 403
  case $form in
    raw) want="token $TOKEN" ;; token) want=$TOKEN ;;
    percent) want="token%20$TOKEN" ;; base64) want=$(B64 "token $TOKEN") ;;
    basic) want=$(B64 "cpgo:$TOKEN") ;;
  esac
  check "echo_auth $form quotes the credential" bash -c "grep -qF -- '..........token $want is not allowed here' '$T/body'"
done
ctl '{"action":"fault","kind":"echo_auth","form":"token","html":true,"status":500}'
is "echo_auth html: 500" "$(req GET "$API/version")" 500
check "an html page quoting the token" grep -q "^<html>token $TOKEN is" "$T/body"

# ---- forbidden, unauthorized, renamed -------------------------------------------------------
ctl '{"action":"forbidden","repo":"acme/ro","write_only":true}'
is "write_only: GET works" "$(req GET "$API/repos/acme/ro/pulls")" 200
is "write_only: POST 403" "$(req POST "$API/repos/acme/ro/pulls" '{"head":"a","base":"main","title":"x"}')" 403
check "403 is an error document" [ "$(errdoc)" = "user should have a permission to write to a repo" ]
ctl '{"action":"forbidden","repo":"acme/secret"}'
is "forbidden: GET 403 too" "$(req GET "$API/repos/acme/secret")" 403
ctl '{"action":"unauthorized","value":true}'
is "unauthorized: the right token gets 401" "$(req GET "$API/version")" 401
ctl '{"action":"unauthorized","value":false}'
is "authorized again" "$(req GET "$API/version")" 200

ctl '{"action":"rename","repo":"acme/app","to":"acme/app2"}'
is "renamed: 307" "$(req GET "$API/repos/acme/app/pulls?state=all&limit=3")" 307
is "a relative Location, path and query kept" "$(hdr Location)" "/api/v1/repos/acme/app2/pulls?state=all&limit=3"
is "followed (curl -L keeps the method)" "$(req GET "$API/repos/acme/app/pulls?state=all&limit=3" '' -L)" 200
is "the pull requests moved along" "$(body 'len(d), d[0]["base"]["repo"]["full_name"]')" "(3, 'acme/app2')"
is "a POST to the old path: 307 too" "$(req POST "$API/repos/acme/app/pulls" '{"head":"x1","base":"master","title":"x"}')" 307
is "... and nothing made" "$(curl -s "$BASE/_prs?repo=acme/app2" | python3 -c 'import json,sys; print(sum(p["head"]["ref"] == "x1" for p in json.load(sys.stdin)))')" 0
ctl '{"action":"rename","repo":"acme/other","to":"acme/other2","status":301,"absolute":true}'
is "renamed with status 301" "$(req GET "$API/repos/acme/other")" 301
is "an absolute Location" "$(hdr Location)" "$API/repos/acme/other2"

# ---- log, reset -----------------------------------------------------------------------------
curl -s "$BASE/_log" >"$T/log.json"
check "the log keeps method, path, body and status" [ "$(json_get "$T/log.json" 'sum(1 for r in d["requests"] if r["method"] == "POST" and "/pulls/2/merge" in r["path"] and r["status"] == 201 and "merge_when_checks_succeed" in r["body"])')" = 1 ]
check "controls are not logged" [ "$(json_get "$T/log.json" 'sum("_control" in r["path"] or "_prs" in r["path"] for r in d["requests"])')" = 0 ]
check "mutations counted" [ "$(json_get "$T/log.json" 'd["mutations"] == sum(r["method"] != "GET" for r in d["requests"])')" = True ]
ctl '{"action":"reset"}'
is "reset forgets pull requests" "$(curl -s "$BASE/_prs?repo=acme/app" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 0
is "reset forgets the log" "$(curl -s "$BASE/_log" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))')" 0
is "reset forgets renames" "$(req GET "$API/repos/acme/app")" 200
is "an unknown control: 400" "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"action":"nope"}' "$BASE/_control")" 400

# ---- process model ------------------------------------------------------------------------
check "listens on loopback only" bash -c "ss -ltn 2>/dev/null | grep -q '127.0.0.1:$(cat "$T/main.port")' || ! command -v ss >/dev/null"
kill -TERM "$FPID"; wait "$FPID"; rc=$?
is "SIGTERM exits 0" "$rc" 0
start_fake short --lifetime 1
sleep 2
check "--lifetime ends it" bash -c "! kill -0 $FPID 2>/dev/null"
wait "$FPID" 2>/dev/null
env -u FAKE_GITEA_TOKEN python3 "$FAKE" --port-file "$T/none.port" 2>"$T/none.err"
rc=$?
check "no token: exits non-zero with a message (rc $rc)" bash -c "[ $rc -ne 0 ] && grep -q 'no token' '$T/none.err'"
finish

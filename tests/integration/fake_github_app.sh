#!/usr/bin/env bash
# The fake GitHub's App endpoints and pull-request options, checked with curl and JWTs
# signed by the openssl command line (not by cpgo), once with python3-cryptography and
# once with it hidden (the fake then verifies with `openssl dgst -verify`): a good JWT, a
# wrong key, a wrong iss, an expired one, iat too far ahead, a 10+ minute one, a JWT on the
# pulls API, a token on the App endpoints, an expired installation token; labels
# (created when missing, as GitHub does; 422 in strict mode), assignees, reviewers (422
# for the author) and GraphQL enablePullRequestAutoMerge with GitHub's errors. The token
# behaviour the other tests rely on is unchanged (auth_kind token).
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "SKIP: no openssl"; exit 77; }

openssl genrsa -out "$T/app.pem" 2048 2>/dev/null
openssl rsa -in "$T/app.pem" -pubout -out "$T/app.pub" 2>/dev/null
openssl genrsa -out "$T/other.pem" 2048 2>/dev/null
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt() { # jwt KEY ISS IAT EXP
  local h c s
  h=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
  c=$(printf '{"iat":%s,"exp":%s,"iss":"%s"}' "$3" "$4" "$2" | b64url)
  s=$(printf '%s.%s' "$h" "$c" | openssl dgst -sha256 -sign "$1" -binary | b64url)
  printf '%s.%s.%s' "$h" "$c" "$s"
}
# mkdir a python3 package named cryptography that fails to import: the fallback path
mkdir -p "$T/nocrypto/cryptography"
echo 'raise ImportError("hidden by the test")' >"$T/nocrypto/cryptography/__init__.py"

for mode in cryptography openssl; do
  [ "$mode" = openssl ] && export PYTHONPATH="$T/nocrypto"
  rm -f "$T/gh.port"
  python3 "$CPGO_SRC/tests/support/fake_github.py" --port-file "$T/gh.port" --token pat-123 \
    --lifetime 120 &
  FAKE_PID=$!
  unset PYTHONPATH
  wait_for "test -s $T/gh.port" 10 || { fail "the fake GitHub did not start"; finish; }
  API="http://127.0.0.1:$(cat "$T/gh.port")"
  # code METHOD PATH AUTH [BODY]: the status; the body in $T/body
  code() {
    curl -s -o "$T/body" -w '%{http_code}' -X "$1" -H "User-Agent: t" ${3:+-H "Authorization: $3"} \
      ${4:+--data-binary "$4"} "$API$2"
  }
  ctl() { curl -s -X POST --data-binary "$1" "$API/_control" >/dev/null; }
  msg() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["message"])' "$T/body"; }
  # the app given by a control action this time (the option is checked by ghapp_fake.sh)
  ctl "$(python3 -c 'import json,sys; print(json.dumps({"action":"app","app_id":99,"public_key":open(sys.argv[1]).read()}))' "$T/app.pub")"
  ctl '{"action":"app_install","repo":"acme/svc","installation_id":7}'
  now=$(date +%s)
  good=$(jwt "$T/app.pem" 99 $((now - 60)) $((now + 540)))
  check "$mode: a good JWT finds the installation" [ "$(code GET /repos/acme/svc/installation "Bearer $good")" = 200 ]
  check "$mode: its id" grep -q '"id": 7' "$T/body"
  check "$mode: not installed is 404" [ "$(code GET /repos/acme/none/installation "Bearer $good")" = 404 ]
  check "$mode: wrong key 401" [ "$(code GET /repos/acme/svc/installation "Bearer $(jwt "$T/other.pem" 99 $((now - 60)) $((now + 540)))")" = 401 ]
  check "$mode: wrong key message" [ "$(msg)" = "A JSON web token could not be decoded" ]
  check "$mode: wrong iss 401" [ "$(code GET /repos/acme/svc/installation "Bearer $(jwt "$T/app.pem" 98 $((now - 60)) $((now + 540)))")" = 401 ]
  check "$mode: expired 401" [ "$(code GET /repos/acme/svc/installation "Bearer $(jwt "$T/app.pem" 99 $((now - 700)) $((now - 100)))")" = 401 ]
  check "$mode: expired message" grep -q "'Expiration time' claim ('exp') must be a numeric value" "$T/body"
  check "$mode: iat ahead 401" [ "$(code GET /repos/acme/svc/installation "Bearer $(jwt "$T/app.pem" 99 $((now + 120)) $((now + 500)))")" = 401 ]
  check "$mode: iat message" grep -q "'Issued at' claim ('iat')" "$T/body"
  check "$mode: iat 30 s ahead is drift, accepted" [ "$(code GET /repos/acme/svc/installation "Bearer $(jwt "$T/app.pem" 99 $((now + 30)) $((now + 540)))")" = 200 ]
  check "$mode: over 10 minutes 401" [ "$(code GET /repos/acme/svc/installation "Bearer $(jwt "$T/app.pem" 99 $((now - 60)) $((now + 600)))")" = 401 ]
  check "$mode: too far message" grep -q "is too far in the future" "$T/body"
  check "$mode: a JWT as 'token' is refused" [ "$(code GET /repos/acme/svc/installation "token $good")" = 401 ]
  check "$mode: the PAT on an App endpoint 401" [ "$(code GET /repos/acme/svc/installation "token pat-123")" = 401 ]
  check "$mode: mint 201" [ "$(code POST /app/installations/7/access_tokens "Bearer $good" '{}')" = 201 ]
  tok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/body")
  check "$mode: a ghs_ token" [ "${tok#ghs_}" != "$tok" ]
  check "$mode: expires_at in an hour" python3 -c '
import json, sys, datetime
d = json.load(open(sys.argv[1]))
t = datetime.datetime.strptime(d["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
left = t.timestamp() - datetime.datetime.now(datetime.timezone.utc).timestamp()
assert 3500 < left <= 3600 and d["permissions"]["pull_requests"] == "write", d' "$T/body"
  ctl '{"action":"app_token","token":"ghs_fixedForTheGitServer0123456789abcdef"}'
  check "$mode: a chosen token value" [ "$(code POST /app/installations/7/access_tokens "Bearer $good" '{}')" = 201 ]
  check "$mode: it is the one minted" grep -q '"token": "ghs_fixedForTheGitServer0123456789abcdef"' "$T/body"
  check "$mode: and it works" [ "$(code GET /repos/acme/svc/pulls "token ghs_fixedForTheGitServer0123456789abcdef")" = 200 ]
  ctl '{"action":"app_token","token":null}'
  check "$mode: mint for an unknown installation 404" [ "$(code POST /app/installations/8/access_tokens "Bearer $good" '{}')" = 404 ]
  check "$mode: the token on the pulls API (Bearer)" [ "$(code GET /repos/acme/svc/pulls "Bearer $tok")" = 200 ]
  check "$mode: the token on the pulls API (token)" [ "$(code GET /repos/acme/svc/pulls "token $tok")" = 200 ]
  check "$mode: the JWT on the pulls API 401" [ "$(code GET /repos/acme/svc/pulls "Bearer $good")" = 401 ]
  check "$mode: the token on an App endpoint 401" [ "$(code POST /app/installations/7/access_tokens "Bearer $tok" '{}')" = 401 ]
  ctl '{"action":"app_install","repo":"beta/x","installation_id":5}'
  check "$mode: another installation's repository 404" [ "$(code GET /repos/beta/x/pulls "Bearer $tok")" = 404 ]
  check "$mode: the PAT still works" [ "$(code GET /repos/acme/svc/pulls "token pat-123")" = 200 ]
  ctl '{"action":"app_expire_tokens"}'
  check "$mode: an expired installation token 401" [ "$(code GET /repos/acme/svc/pulls "Bearer $tok")" = 401 ]
  kinds=$(curl -s "$API/_log" | python3 -c 'import json,sys; print(" ".join(sorted({r["auth_kind"] for r in json.load(sys.stdin)["requests"]})))')
  check "$mode: the log names the credential kinds ($kinds)" [ "$kinds" = "app_jwt installation token" ]
  absent() { ! grep -q "$@"; }
  check "$mode: the log holds no JWT" absent "$good" <(curl -s "$API/_log")
  kill "$FAKE_PID"
  wait "$FAKE_PID" 2>/dev/null
done

# --- pull-request options (one mode is enough: no JWT involved) -----------------------------
rm -f "$T/gh.port"
python3 "$CPGO_SRC/tests/support/fake_github.py" --port-file "$T/gh.port" --token pat-123 --lifetime 120 &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null' EXIT
wait_for "test -s $T/gh.port" 10 || { fail "the fake GitHub did not start"; finish; }
API="http://127.0.0.1:$(cat "$T/gh.port")"
A="token pat-123"
check "a pull request" [ "$(code POST /repos/acme/svc/pulls "$A" '{"title":"t","head":"cpgo/x","base":"main","body":"b"}')" = 201 ]
node=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["node_id"])' "$T/body")
check "labels: a missing one is created, as GitHub does" [ "$(code POST /repos/acme/svc/issues/1/labels "$A" '{"labels":["pgo","perf"]}')" = 200 ]
check "labels: both on the pull request" grep -q '"name": "perf"' "$T/body"
check "labels: a bare array" [ "$(code POST /repos/acme/svc/issues/1/labels "$A" '["bare"]')" = 200 ]
ctl '{"action":"labels_strict","value":true}'
ctl '{"action":"create_label","repo":"acme/svc","name":"known"}'
check "labels strict: unknown 422" [ "$(code POST /repos/acme/svc/issues/1/labels "$A" '{"labels":["nope"]}')" = 422 ]
check "labels strict: the error names the label" grep -q '"value": "nope"' "$T/body"
check "labels strict: a known one" [ "$(code POST /repos/acme/svc/issues/1/labels "$A" '{"labels":["known"]}')" = 200 ]
check "labels: no such issue 404" [ "$(code POST /repos/acme/svc/issues/9/labels "$A" '{"labels":["known"]}')" = 404 ]
check "assignees 201" [ "$(code POST /repos/acme/svc/issues/1/assignees "$A" '{"assignees":["alice"]}')" = 201 ]
check "assignees on the pull request" grep -q '"login": "alice"' "$T/body"
check "reviewers 201" [ "$(code POST /repos/acme/svc/pulls/1/requested_reviewers "$A" '{"reviewers":["bob"]}')" = 201 ]
check "reviewers listed" python3 -c 'import json,sys; assert [u["login"] for u in json.load(open(sys.argv[1]))["requested_reviewers"]] == ["bob"]' "$T/body"
check "the author as reviewer 422" [ "$(code POST /repos/acme/svc/pulls/1/requested_reviewers "$A" '{"reviewers":["acme"]}')" = 422 ]
check "the author message" [ "$(msg)" = "Review cannot be requested from pull request author." ]
q='mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: SQUASH}) { pullRequest { autoMergeRequest { mergeMethod } } } }'
gql() { python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": {"id": sys.argv[2]}}))' "$q" "$1"; }
gerr() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"][0]["message"])' "$T/body"; }
check "auto-merge not allowed: 200 with errors" [ "$(code POST /graphql "$A" "$(gql "$node")")" = 200 ]
check "auto-merge not allowed: GitHub's message" [ "$(gerr)" = "Auto merge is not allowed for this repository" ]
ctl '{"action":"allow_auto_merge","repo":"acme/svc"}'
check "auto-merge enabled" [ "$(code POST /graphql "$A" "$(gql "$node")")" = 200 ]
check "auto-merge: SQUASH" grep -q '"mergeMethod": "SQUASH"' "$T/body"
check "auto-merge shown on the pull request" [ "$(code GET /repos/acme/svc/pulls/1 "$A")" = 200 ]
check "auto_merge field" grep -q '"merge_method": "squash"' "$T/body"
ctl '{"action":"set_pr","repo":"acme/svc","number":1,"clean":true}'
code POST /graphql "$A" "$(gql "$node")" >/dev/null
check "a clean pull request: GitHub's message" [ "$(gerr)" = "Pull request is in clean status" ]
code POST /graphql "$A" "$(gql PR_nothing)" >/dev/null
check "an unknown node" grep -q "Could not resolve to a node with the global id of 'PR_nothing'" "$T/body"
check "graphql needs credentials" [ "$(code POST /graphql "" "$(gql "$node")")" = 401 ]
finish

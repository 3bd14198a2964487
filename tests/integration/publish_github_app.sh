#!/usr/bin/env bash
# forge github as a GitHub App, end to end through `cpgo run`: no GitHub token anywhere;
# cpgo signs a JWT with the app's key (made here with openssl), the fake GitHub verifies it
# with the public key, finds the installation and mints an installation token; the head
# branch is pushed to the real smart-HTTP git server as x-access-token:<that token>, and
# the pull request is opened and then updated with it.
# - the app not installed on the repository: a clear error, nothing pushed;
# - a wrong key: the 401 is reported as the JWT refused, nothing pushed;
# - a key file others can read: cpgo refuses to start, naming github.app.private_key_file;
# - the daemon: a revoked installation token (401 on the pull-request step) is minted
#   again once; a key file replaced and SIGHUP: the next JWT is signed with the new key;
# - with -v, no token, JWT or key bytes in anything cpgo printed or in its state directory.
. "$(dirname "$0")/lib.sh"
BACKEND=/usr/lib/git-core/git-http-backend
if ! command -v lighttpd >/dev/null 2>&1 || [ ! -x "$BACKEND" ] || ! command -v openssl >/dev/null; then
  echo "SKIP: needs lighttpd, git http-backend and openssl (scripts/setup-deps installs them)"
  exit 77
fi
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
unset GITHUB_TOKEN
APP_ID=777
TOKEN="ghs_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" # what the fake will mint
openssl genrsa -out "$T/app.pem" 2048 2>/dev/null
openssl rsa -in "$T/app.pem" -pubout -out "$T/app.pub" 2>/dev/null
openssl genrsa -out "$T/other.pem" 2048 2>/dev/null
chmod 600 "$T"/*.pem

# the git server accepts x-access-token:<the installation token> only
SRV="$T/srv"
start_git_http "$SRV" "$TOKEN" acme x-access-token || finish
GIT_PID=$GIT_HTTP_PID
REPO=$GIT_HTTP_REPO
GPORT=$GIT_HTTP_PORT_USED
python3 "$CPGO_SRC/tests/support/fake_github.py" --port-file "$T/gh.port" --token "not-used-$RANDOM" \
  --app-id "$APP_ID" --app-public-key "$T/app.pub" --lifetime 600 >"$T/gh.out" 2>&1 &
GH_PID=$!
trap 'kill $GIT_PID $GH_PID 2>/dev/null; wait $GIT_PID $GH_PID 2>/dev/null' EXIT
wait_for "[ -s '$T/gh.port' ]" 10 || { fail "the fake GitHub did not start"; finish; }
API="http://127.0.0.1:$(cat "$T/gh.port")"
not() { ! "$@"; }
ctl() { curl -s -X POST -d "$1" "$API/_control" >/dev/null; }
prs() { curl -s "$API/_prs?repo=acme/app"; }
pr_count() { prs | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
kinds() { # the credential kinds of the requests whose path contains $1
  curl -s "$API/_log" | python3 -c '
import json, sys
print(" ".join(sorted({r["auth_kind"] for r in json.load(sys.stdin)["requests"] if sys.argv[1] in r["path"]})))' "$1"
}
mints() { curl -s "$API/_log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mints"])'; }
ctl "{\"action\": \"app_token\", \"token\": \"$TOKEN\"}"

P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 12 -samples 200 -locations 100 -functions 60
start_fleet "$T" --profile "$P" --count 2 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
BR=cpgo/main/default.pgo
LPORT=$(free_port)
config() { # config KEYFILE [OPR]: OPR replaces the written target_branch (default main)
  {
    echo "state_dir: $T/state"
    echo "listen: 127.0.0.1:$LPORT"
    echo "github:"
    echo "  api_url: '$API'"
    echo "  app: {app_id: $APP_ID, private_key_file: '$1'}"
    echo "backends:"
    for port in "${PORTS[@]}"; do
      echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
      echo "  schedule: '@every 5s'"
      echo "  timeout: 1500ms"
      echo "  open_pull_request: {repository: 'http://127.0.0.1:$GPORT/acme/app.git', forge: github, min_interval: 1s${2-, target_branch: main}}"
    done
  } >"$T/config.yaml"
}
run_once() { # a GITHUB_TOKEN in the environment is not used (nor held) in app mode
  GITHUB_TOKEN=ghp_ignoredPersonalToken "$CPGO" run -c "$T/config.yaml" --once -v "$@" >"$T/out" 2>&1
  rc=$?
  cat "$T/out" >>"$T/all.out"
}
config "$T/app.pem"

# 1. not installed: a clear error, nothing pushed
run_once
check "not installed: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "not installed: says so ($(grep -m1 'level=error' "$T/out" | cut -c1-300))" \
  grep -q "github app $APP_ID is not installed on acme/app" "$T/out"
check "not installed: nothing pushed" not git -C "$REPO" rev-parse -q --verify "refs/heads/$BR"

# 2. installed: the token is minted, the branch pushed with it, the pull request opened
ctl '{"action": "app_install", "repo": "acme/app", "installation_id": 4242}'
run_once
check "installed: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out" | cut -c1-300))" [ "$rc" -eq 0 ]
check "the branch is on the git server (pushed as x-access-token)" git -C "$REPO" rev-parse -q --verify "refs/heads/$BR"
check "one pull request" [ "$(pr_count)" = 1 ]
check "the lookup and the mint used the JWT" [ "$(kinds /installation)" = app_jwt ]
check "the pulls API saw the installation token only" [ "$(kinds /pulls)" = installation ]
check "GITHUB_TOKEN was not loaded" not grep -q 'GitHub token loaded' "$T/out"
check "one mint" [ "$(mints)" = 1 ]
check "the key was loaded" grep -q 'msg="GitHub App key loaded" app_id=777' "$T/out"

# 3. updated in place
run_once
check "second run: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "still one pull request" [ "$(pr_count)" = 1 ]
check "updated in place" grep -q 'msg="pull request updated"' "$T/out"

# 4. a wrong key: the JWT refused, reported as such
config "$T/other.pem"
before=$(git -C "$REPO" rev-parse "refs/heads/$BR")
run_once
check "wrong key: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "wrong key: the JWT refused ($(grep -m1 'level=error' "$T/out" | cut -c1-300))" \
  grep -q "GitHub refused the app's JWT" "$T/out"
check "wrong key: nothing pushed" [ "$(git -C "$REPO" rev-parse "refs/heads/$BR")" = "$before" ]

# 4b. target_branch not written: the default branch is asked of the git server with an
# installation token minted at start (there is no GitHub token in app mode)
config "$T/app.pem" ""
m0=$(mints)
run_once
check "default branch: exit 0 (rc $rc: $(grep -m1 'level=error' "$T/out" | cut -c1-300))" [ "$rc" -eq 0 ]
check "default branch: resolved with an installation token" \
  grep -q 'msg="default branch resolved".*branch=main' "$T/out"
check "default branch: minted for the resolution and for the publish ($m0 -> $(mints))" \
  [ "$(mints)" -ge $((m0 + 1)) ]
# a wrong key: the start says why the branch cannot be asked (exit 2, nothing scraped)
config "$T/other.pem" ""
run_once
check "default branch, wrong key: exit 2 at start (rc $rc)" [ "$rc" -eq 2 ]
check "default branch, wrong key: the JWT refused is named" \
  grep -q "no installation token to ask the default branch with.*GitHub refused the app's JWT" "$T/out"
check "default branch, wrong key: the start names the target_branch to set" \
  grep -q 'target_branch is not set, and the default branch of .* could not be resolved' "$T/out"
config "$T/app.pem"

# 5. a key file others can read: refused at start
cp "$T/app.pem" "$T/open.pem"
chmod 644 "$T/open.pem"
config "$T/open.pem"
run_once
check "open key: cpgo refuses (rc $rc)" [ "$rc" -ne 0 ]
check "open key: names the key ($(grep -m1 'private_key_file' "$T/out" | cut -c1-300))" \
  grep -q "github.app.private_key_file $T/open.pem is readable or writable by every user" "$T/out"

# 6. the daemon: a token revoked early (401 on the pull-request step) is minted again once;
#    a key file replaced and SIGHUP: the next JWT is signed with the new key
config "$T/app.pem"
"$CPGO" run -c "$T/config.yaml" -v >"$T/daemon.out" 2>&1 &
pid=$!
published() { grep -c 'pull request updated\|pull request up to date' "$T/daemon.out"; }
wait_for "[ \$(published) -ge 1 ]" 40
check "daemon: first publish ($(grep -m1 'level=error' "$T/daemon.out" | cut -c1-200))" [ "$(published)" -ge 1 ]
m=$(mints)
check "daemon: /status shows the app and its installation" python3 -c '
import json, sys, time
g = json.load(open(sys.argv[1]))["github_app"]
i = g["installations"][0]
assert g["app_id"] == 777 and g["mints"] >= 1 and i["id"] == 4242, g
assert 3000 < i["token_expires_at"] - time.time() <= 3600, i' <(curl -s "http://127.0.0.1:$LPORT/status")
NEW="ghs_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ctl "{\"action\": \"app_token\", \"token\": \"$NEW\"}"
ctl '{"action": "app_expire_tokens"}' # the git server still takes the old one
n=$(published)
wait_for "grep -q 'GitHub refused the installation token: minting a new one' '$T/daemon.out'" 40
check "daemon: the revoked token was noticed" grep -q 'GitHub refused the installation token: minting a new one' "$T/daemon.out"
wait_for "[ \$(published) -gt $n ]" 40
check "daemon: published again with a new token (mints $m -> $(mints))" [ "$(mints)" -gt "$m" ]
check "daemon: the pulls API saw the new token" grep -q . <(curl -s "$API/_log" | grep -c '"auth_kind": "installation"')
# another key that GitHub does not know, SIGHUP, and a token revoked again: the JWT that
# mints the next token is signed with the new key and refused
cp "$T/other.pem" "$T/app.pem.new" && chmod 600 "$T/app.pem.new" && mv "$T/app.pem.new" "$T/app.pem"
kill -HUP "$pid"
wait_for "grep -q 'configuration reloaded' '$T/daemon.out'" 10
ctl '{"action": "app_expire_tokens"}'
wait_for "grep -q \"GitHub refused the app's JWT\" '$T/daemon.out'" 40
check "daemon: the replaced key signed the next JWT (refused)" grep -q "GitHub refused the app's JWT" "$T/daemon.out"
kill -TERM "$pid"
wait "$pid"
cat "$T/daemon.out" >>"$T/all.out"

# 7. nothing printed holds a secret
body=$(sed -n 2p "$T/other.pem" | cut -c5-40)
check "no installation token printed" not grep -q "$TOKEN\|$NEW\|ghs_" "$T/all.out"
check "no JWT printed" not grep -q 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9' "$T/all.out"
check "no key bytes printed" not grep -qF -- "$body" "$T/all.out"
check "no installation token in state_dir" not grep -rq 'ghs_' "$T/state"
stop_fleet
finish

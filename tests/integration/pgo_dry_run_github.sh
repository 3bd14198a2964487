#!/usr/bin/env bash
# `cpgo run --once --dry-run` for a GitHub target (issue 12, item 6): the repository is a
# real smart-HTTP git server (git http-backend behind lighttpd, token as
# x-access-token:<token>), the GitHub API a port nobody listens on:
# - with the token, the dry run fetches, prints what it would propose (the PR body
#   included) and exits 0 without one API call and without pushing: the server's refs are
#   unchanged;
# - without a token it still starts (a dry run needs no API) and fails only where the
#   server asks for credentials, naming the repository;
# - a second dry run gives the same report (nothing was recorded anywhere).
. "$(dirname "$0")/lib.sh"
command -v lighttpd >/dev/null || skip "lighttpd is not installed"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export CPGO_TEST_NOW=1893456000 TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
TOKEN="ghs_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
start_git_http "$T/srv" "$TOKEN" git || finish
SERVER=$GIT_HTTP_PID
URL="http://127.0.0.1:$GIT_HTTP_PORT_USED/git/app.git"
mkdir -p "$T/fleet"
start_fleet "$T/fleet" --profile "$CPGO_SRC/examples/profiles/checkout-0.pprof" --count 2 || finish
FP=$FLEET_PID
trap 'kill "$SERVER" "$FP" 2>/dev/null; wait 2>/dev/null' EXIT
API_PORT=$(free_port) # nothing listens: any API call would fail the run
{
  echo "state_dir: $T/state"
  echo "github: {api_url: 'http://127.0.0.1:$API_PORT', token_file: $T/token}"
  echo "backends:"
  n=0
  while read -r port _; do
    n=$((n + 1))
    echo "- name: app-$n"
    echo "  url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  schedule: '@every 1h'"
    echo "  open_pull_request: {repository: '$URL', forge: github, target_branch: main}"
  done <"$T/fleet/ports"
} >"$T/c.yaml"
printf '%s\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"
refs() { git -C "$GIT_HTTP_REPO" for-each-ref --format='%(refname) %(objectname)'; }
before=$(refs)

"$CPGO" run --once --dry-run -c "$T/c.yaml" >"$T/report" 2>"$T/log"
rc=$?
check "with the token: exit 0 (rc $rc: $(grep -m1 level=error "$T/log"))" [ "$rc" -eq 0 ]
check "the report names the target" grep -q '^target 127.0.0.1' "$T/report"
check "... what it would propose" grep -q 'verdict: would push and open or update the pull request' "$T/report"
check "... the head branch" grep -q "would propose: default.pgo on branch cpgo/main/default.pgo" "$T/report"
check "... the scrapes" grep -q '^  scrapes: 2 from 2 instances' "$T/report"
check "... the size of a new file" grep -q '^  size: new file, [0-9]* bytes' "$T/report"
check "... the edge change" grep -q '^  edge change: a new file: [0-9]* call edges' "$T/report"
check "... the pull request body" grep -q 'Adds the Go PGO profile `default.pgo`' "$T/report"
check "nothing pushed: the server's refs are unchanged" [ "$(refs)" = "$before" ]
check "no API call was tried" sh -c "! grep -q 'pull request\|api.github\|127.0.0.1:$API_PORT' '$T/log'"
check "the configured state directory was never created" [ ! -e "$T/state" ]
check "nothing left in TMPDIR" [ -z "$(ls -A "$TMPDIR")" ]
check "the token never appears" sh -c "! grep -q '$TOKEN' '$T/report' '$T/log'"

"$CPGO" run --once --dry-run -c "$T/c.yaml" >"$T/report2" 2>/dev/null
# (the Window row is the scrape's wall-clock time, the summary's head line the run's time)
same() { grep -v '^| Window\|^cpgo run --once --dry-run: ' "$1"; }
check "a second dry run reports the same" cmp -s <(same "$T/report") <(same "$T/report2")
check "the summary says it was a dry run" \
  grep -q '  dry run: would publish (the report above)$' "$T/report"

# without a token: it starts, and fails where the server wants credentials
rm -f "$T/token"
sed -i "s|, token_file: $T/token||" "$T/c.yaml"
GITHUB_TOKEN= "$CPGO" run --once --dry-run -c "$T/c.yaml" >"$T/report3" 2>"$T/log3"
rc=$?
check "without a token: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "... it started and scraped (no token is not fatal for a dry run)" grep -q 'msg="scrape merged"' "$T/log3"
check "... the server asked for credentials" grep -q 'authentication required' "$T/log3"
check "... the failure names the repository" grep -q "127.0.0.1:$GIT_HTTP_PORT_USED/git/app.git" "$T/log3"
check "nothing pushed either" [ "$(refs)" = "$before" ]
finish

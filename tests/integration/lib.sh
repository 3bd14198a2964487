# lib.sh - shared helpers for the integration tests (sourced, not run).
# Environment from ctest: CPGO, CPGO_TESTGEN, CPGO_CANON, CPGO_SRC, CPGO_TMP.
set -u
: "${CPGO:?run through ctest}" "${CPGO_TMP:?run through ctest}"
T="$CPGO_TMP/$(basename "$0" .sh)"
rm -rf "$T" && mkdir -p "$T"
FAILS=0
CHECKS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { CHECKS=$((CHECKS + 1)); }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@"; then ok; else fail "$d"; fi
}
finish() {
  echo "$CHECKS checks passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
  exit $?
}
need_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "SKIP: go is not on PATH; the Go toolchain is this test's outside judge"
    exit 77
  fi
}
# Builds the real Go test program once per build tree and records profiles with it.
build_profgen() {
  local bin="$CPGO_TMP/profgen"
  if [ ! -x "$bin" ]; then
    (cd "$CPGO_SRC/tests/go" && GOFLAGS=-mod=mod go build -o "$bin" ./profgen) || return 1
  fi
  echo "$bin"
}
# Sorted blocks of `go tool pprof -traces`: Go's own rendering of every sample.
go_traces() {
  go tool pprof -traces -symbolize=none "$1" 2>/dev/null | sed -n '/^-----/,$p' | python3 -c '
import sys
sep = "-----------+-------------------------------------------------------\n"
blocks = [b for b in sys.stdin.read().split(sep) if b.strip()]
print("\n=====\n".join(sorted(blocks)))'
}

# start_fleet DIR ARGS... : starts cpgo-fakefleet with a port file in DIR; sets FLEET_PID.
start_fleet() {
  local dir=$1; shift
  rm -f "$dir/ports"
  "$CPGO_FAKEFLEET" --port-file "$dir/ports" --stats "$dir/stats.json" --duration 300 "$@" \
    2>>"$dir/fleet.log" &
  FLEET_PID=$!
  for _ in $(seq 1 200); do [ -s "$dir/ports" ] && return 0; sleep 0.05; done
  fail "fake fleet did not start: $(tail -3 "$dir/fleet.log")"
  return 1
}
stop_fleet() { kill "$FLEET_PID" 2>/dev/null; wait "$FLEET_PID" 2>/dev/null; }
# json_get FILE EXPR : evaluates a Python expression on the JSON document `d`.
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# samples_in FILE : total samples/count of a profile (0 when the file is missing).
samples_in() {
  if [ -s "$1" ]; then "$CPGO" inspect --json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["sample_types"][0]["total"])'
  else echo 0; fi
}
# total_samples DIR : sum of samples/count over every published file under DIR.
total_samples() {
  local t=0 f
  while IFS= read -r f; do t=$((t + $(samples_in "$f"))); done < <(find "$1" -type f -name '*.pgo' 2>/dev/null)
  echo "$t"
}
# wait_for COND_CMD TIMEOUT_S : polls a command until it succeeds.
wait_for() {
  local i
  for i in $(seq 1 $(( $2 * 10 ))); do eval "$1" && return 0; sleep 0.1; done
  return 1
}

# free_port : a TCP port free on 127.0.0.1 now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_git_http DIR TOKEN PREFIX [USER] : a real smart-HTTP git server on loopback (git
# http-backend behind lighttpd, tests/support/git-http/lighttpd.conf) requiring basic auth
# with USER (default x-access-token, GitHub's; GitLab's is oauth2) and TOKEN as the
# password, serving DIR/repos under /PREFIX/. Creates the bare repository
# DIR/repos/app.git with one commit on main. Sets GIT_HTTP_PORT_USED, GIT_HTTP_PID and
# GIT_HTTP_REPO; returns 1 (after fail) when the server does not come up.
start_git_http() {
  local srv=$1 token=$2 prefix=$3 user=${4:-x-access-token}
  mkdir -p "$srv/www" "$srv/repos"
  printf '%s:%s\n' "$user" "$token" >"$srv/users"
  GIT_HTTP_REPO="$srv/repos/app.git"
  git init -q --bare -b main "$GIT_HTTP_REPO"
  git -C "$GIT_HTTP_REPO" config http.receivepack true
  # the base: one commit on main, made on the server's side
  git init -q -b main "$srv/seed"
  echo 'package main' >"$srv/seed/main.go"
  git -C "$srv/seed" add main.go
  git -C "$srv/seed" -c user.name=Human -c user.email=human@example.com commit -q -m init
  git -C "$srv/seed" push -q "$GIT_HTTP_REPO" main
  sed -e "s|\"/git/\" =>|\"/$prefix/\" =>|" -e "s|alias.url = (\"/git\" =>|alias.url = (\"/$prefix\" =>|" \
    -e "s|\"\\^/git/\"|\"^/$prefix/\"|" "$CPGO_SRC/tests/support/git-http/lighttpd.conf" >"$srv/lighttpd.conf"
  GIT_HTTP_PORT_USED=$(free_port)
  GIT_HTTP_ROOT="$srv" GIT_HTTP_PORT="$GIT_HTTP_PORT_USED" \
    lighttpd -D -f "$srv/lighttpd.conf" >"$srv/lighttpd.out" 2>&1 &
  GIT_HTTP_PID=$!
  if ! wait_for "curl -s -o /dev/null http://127.0.0.1:$GIT_HTTP_PORT_USED/" 10; then
    fail "lighttpd did not start: $(cat "$srv/lighttpd.out" "$srv/error.log" 2>/dev/null | tail -3)"
    kill "$GIT_HTTP_PID" 2>/dev/null
    return 1
  fi
}

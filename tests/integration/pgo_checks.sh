#!/usr/bin/env bash
# A candidate Go's PGO would ignore is not published; pgo.verify_with_go runs the real
# `go tool preprofile` on the candidate (issue 12, item 5). Local repositories, --once.
# 1. a fleet serving real Go CPU profiles whose samples have one frame each (cut to the
#    leaf: `go tool preprofile` finds no edge): exit 1, the log names the target and says
#    there is no call edge, nothing is pushed, the scrape stays pending; a second target in
#    the same run, with a valid fleet and verify_with_go: true, is published, and Go was
#    run on it (`go` on PATH is a wrapper that records its arguments, then runs the real go);
# 2. without verify_with_go, go is not run;
# 3. verify_with_go with no go on PATH: the check is skipped (a warning), the file published;
# 4. a go that fails without preprofile's verdict (a crash): not published, go's words shown.
. "$(dirname "$0")/lib.sh"
need_go
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
export GOCACHE GOMODCACHE GOPATH HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
RAW="$CPGO_SRC/tests/integration/pgo_raw.py"
BR=cpgo/main/default.pgo
REALGO=$(command -v go)

PG=$(build_profgen) || { fail "cannot build the Go test program"; finish; }
"$PG" -o "$T/cpu.pprof" -ms 1000 -variant 0
python3 "$RAW" leaves "$T/cpu.pprof" "$T/leaves.pprof"
check "the cut profile is a valid profile Go finds no edge in" \
  [ "$(go tool preprofile -i "$T/leaves.pprof" 2>&1)" = "GO PREPROFILE V1" ]
check "the full profile has edges" [ "$(go tool preprofile -i "$T/cpu.pprof" | wc -l)" -gt 3 ]

# `go` on PATH: records each call, then is the real go
mkdir -p "$T/bin"
cat >"$T/bin/go" <<EOF
#!/bin/sh
echo "\$*" >>"$T/go-calls"
exec "$REALGO" "\$@"
EOF
chmod +x "$T/bin/go"

mkdir -p "$T/fa" "$T/fb"
start_fleet "$T/fa" --profile "$T/leaves.pprof" --delay-ms 100 || finish
PA=$FLEET_PID
start_fleet "$T/fb" --profile "$T/cpu.pprof" --count 2 --delay-ms 100 || finish
PB=$FLEET_PID
trap 'kill $PA $PB 2>/dev/null' EXIT
PORT_A=$(awk '{print $1; exit}' "$T/fa/ports")
mapfile -t PORTS_B < <(awk '{print $1}' "$T/fb/ports")
mkrepo() {
  git init -q -b main "$1"
  echo 'package main' >"$1/main.go"
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
mkrepo "$T/leaves"
mkrepo "$T/valid"
mkrepo "$T/plain"
mkrepo "$T/nogo"
backend() { # backend NAME PORT REPO VERIFY
  cat <<EOF
- url: http://127.0.0.1:$2/debug/pprof/profile?seconds=1
  name: $1
  schedule: '@every 1h'
  timeout: 20s
  open_pull_request: {repository: $3}
  pgo: {verify_with_go: $4}
EOF
}
{
  echo "state_dir: $T/state"
  echo "backends:"
  backend leafy "$PORT_A" "$T/leaves" true
  backend good "${PORTS_B[0]}" "$T/valid" true
} >"$T/c1.yaml"
PATH="$T/bin:$PATH" "$CPGO" run -c "$T/c1.yaml" --once >"$T/r1.log" 2>&1
rc=$?
check "a target Go's PGO would ignore fails the round: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "the log names the target and says there is no call edge ($(grep -m1 level=error "$T/r1.log"))" \
  grep -Eq "level=error .*target=local$T/leaves@main:default.pgo .*no call edge" "$T/r1.log"
check "nothing pushed for it" bash -c "! git -C '$T/leaves' rev-parse -q --verify 'refs/heads/$BR' >/dev/null"
"$CPGO" state -c "$T/c1.yaml" >"$T/state.out" 2>&1
check "its scrape stays pending ($(grep -A2 "leaves@" "$T/state.out" | grep pending))" \
  bash -c "grep -A3 'target local$T/leaves@' '$T/state.out' | grep -q 'pending scrapes: 1 '"
check "the valid target in the same run is published" \
  git -C "$T/valid" rev-parse -q --verify "refs/heads/$BR"
check "verify_with_go ran go tool preprofile ($(cat "$T/go-calls" 2>/dev/null | head -2))" \
  grep -q '^tool preprofile' "$T/go-calls"
calls=$(grep -c '^tool preprofile' "$T/go-calls")
check "once, for the valid candidate only (got $calls)" [ "$calls" -eq 1 ]

# 2. verify_with_go off: go is not run
{
  echo "state_dir: $T/state2"
  echo "backends:"
  backend good "${PORTS_B[1]}" "$T/plain" false
} >"$T/c2.yaml"
PATH="$T/bin:$PATH" "$CPGO" run -c "$T/c2.yaml" --once >"$T/r2.log" 2>&1
rc=$?
check "verify_with_go off: exit 0 (rc $rc: $(grep -m1 level=error "$T/r2.log"))" [ "$rc" -eq 0 ]
check "verify_with_go off: published" git -C "$T/plain" rev-parse -q --verify "refs/heads/$BR"
check "verify_with_go off: go was not run" [ "$(grep -c '^tool preprofile' "$T/go-calls")" -eq 1 ]

# 3. verify_with_go without go on PATH: cpgo's own checks only
NOGO_PATH=$(printf '%s' "$PATH" | tr ':' '\n' | while read -r d; do
  [ -n "$d" ] && [ ! -x "$d/go" ] && printf '%s:' "$d"; done)
NOGO_PATH=${NOGO_PATH%:}
if PATH="$NOGO_PATH" command -v go >/dev/null 2>&1; then
  echo "note: go is still found without its directories: part 3 skipped"
else
  {
    echo "state_dir: $T/state3"
    echo "backends:"
    backend good "${PORTS_B[1]}" "$T/nogo" true
  } >"$T/c3.yaml"
  PATH="$NOGO_PATH" "$CPGO" run -c "$T/c3.yaml" --once >"$T/r3.log" 2>&1
  rc=$?
  check "verify_with_go without go: exit 0 (rc $rc: $(grep -m1 level=error "$T/r3.log"))" [ "$rc" -eq 0 ]
  check "verify_with_go without go: published" git -C "$T/nogo" rev-parse -q --verify "refs/heads/$BR"
  check "... with a warning that it was not checked" grep -q 'go tool preprofile was not run' "$T/r3.log"
fi

# 4. a go that runs and fails in a way of its own (a crash, not preprofile's refusal): the
#    candidate was not shown to pass, so it is not published
mkdir -p "$T/badbin"
printf '#!/bin/sh
echo "panic: something broke" >&2
exit 2
' >"$T/badbin/go"
chmod +x "$T/badbin/go"
mkrepo "$T/badgo"
{
  echo "state_dir: $T/state4"
  echo "backends:"
  backend good "${PORTS_B[1]}" "$T/badgo" true
} >"$T/c4.yaml"
PATH="$T/badbin:$PATH" "$CPGO" run -c "$T/c4.yaml" --once >"$T/r4.log" 2>&1
rc=$?
check "a go that fails: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "... nothing published" sh -c "! git -C '$T/badgo' rev-parse -q --verify 'refs/heads/$BR'"
check "... the error says what go said" grep -q 'panic: something broke' "$T/r4.log"
finish

#!/usr/bin/env bash
# Crash-and-fault soak (issue "Trust: exactly-once under every fault"): a daemon publishing
# two targets to a local repository is, at random moments, killed with -9 or stopped with
# SIGTERM and restarted; a person merges its branch into main (squash or merge commit) or
# commits elsewhere on main; the state directory's disk (a small tmpfs, when this machine
# lets us mount one) fills up and empties again; and a second daemon is started against the
# same state directory (it must be refused). At the end the fleet stops, one last --once
# round proposes everything pending, the person merges it, and main's files must hold
#   existing + every accepted scrape, exactly once:
#   acknowledged ("scrape merged" logged) <= published <= delivered, and
#   published - acknowledged <= what could be in flight at the kills.
# SOAK_SECONDS (default 45) bounds it; bench/crash-soak runs it for longer.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
SOAK_SECONDS=${SOAK_SECONDS:-45}
SEED=${SOAK_SEED:-$$}
RANDOM=$SEED
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 11 -samples 200 -locations 100 -functions 60
S=$(samples_in "$P")
E="$T/existing.pb.gz"
"$CPGO_TESTGEN" -o "$E" -seed 12 -samples 150 -locations 80 -functions 50
ES=$(samples_in "$E")
NB=6
start_fleet "$T" --profile "$P" --count $NB --delay-ms 100 || finish

# the repository: main with a Go main package and an existing profile at the root
R="$T/repo"
git init -q -b main "$R"
mkdir -p "$R/cmd/tool"
echo 'package main' >"$R/main.go"
echo 'package main' >"$R/cmd/tool/main.go"
cp "$E" "$R/default.pgo"
git -C "$R" add -A
git -C "$R" -c user.name=Human -c user.email=human@example.com commit -q -m init
person() { git -C "$R" -c user.name=Human -c user.email=human@example.com "$@"; }

# the state directory: on a small tmpfs when we may mount one (the disk really fills)
ST="$T/state"
mkdir -p "$ST"
TMPFS=0
if [ -z "${SOAK_NO_TMPFS:-}" ] && [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=3m,mode=0700 tmpfs "$ST" 2>/dev/null; then
  TMPFS=1
  trap 'umount "$ST" 2>/dev/null' EXIT
else
  echo "note: cannot mount a tmpfs here; the disk-full phases fail one write step of each daemon started meanwhile (CPGO_TEST_FAIL_WRITE)"
fi

{
  echo "state_dir: $ST"
  echo "shutdown_timeout: 3s"
  echo "backends:"
  i=0
  while read -r port _; do
    file=$([ $((i % 2)) -eq 0 ] && echo default.pgo || echo cmd/tool/default.pgo)
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  name: b$i"
    echo "  schedule: '@every 2s'"
    echo "  timeout: 1500ms"
    echo "  open_pull_request: {repository: $R, target_file: $file, min_interval: 1s}"
    i=$((i + 1))
  done <"$T/ports"
} >"$T/config.yaml"
BR0=cpgo/main/default.pgo
BR1=cpgo/main/cmd/tool/default.pgo

LOG="$T/daemon.log"
FAULT= # without a tmpfs: the write step a daemon started while the "disk is full" fails
start_daemon() {
  if [ -n "$FAULT" ]; then
    CPGO_TEST_FAIL_WRITE="$((RANDOM % 30 + 1)):28" "$CPGO" run -c "$T/config.yaml" 2>>"$LOG" &
  else
    "$CPGO" run -c "$T/config.yaml" 2>>"$LOG" &
  fi
  PID=$!
}
merge_branch() { # merge_branch BRANCH: as a person, when the branch exists
  git -C "$R" rev-parse -q --verify "refs/heads/$1" >/dev/null || return 0
  if [ $((RANDOM % 2)) -eq 0 ]; then
    person merge -q --squash "$1" >/dev/null 2>&1 && person commit -q -m "squash $1" >/dev/null 2>&1
  else
    person merge -q --no-ff -m "merge $1" "$1" >/dev/null 2>&1
  fi
  # a merge that conflicts (the branch was regenerated on an older main) is abandoned
  git -C "$R" merge --abort >/dev/null 2>&1
  git -C "$R" reset -q --hard >/dev/null 2>&1
  MERGES=$((MERGES + 1))
}
fill_disk() {
  if [ "$TMPFS" = 1 ]; then
    dd if=/dev/zero of="$ST/fill" bs=64k 2>/dev/null
  else
    FAULT=1
    : >"$ST/fill"
  fi
  FILLS=$((FILLS + 1))
}
empty_disk() { rm -f "$ST/fill"; FAULT=; }

KILLS=0 TERMS=0 MERGES=0 FILLS=0 SECONDS_REFUSED=0 OTHERS=0
start_daemon
end=$(( $(date +%s) + SOAK_SECONDS ))
first=1
while [ "$(date +%s)" -lt "$end" ]; do
  sleep "$(( RANDOM % 3 + 1 )).$(( RANDOM % 10 ))"
  action=$((RANDOM % 7))
  [ "$first" = 1 ] && action=5 && first=0 # the second daemon, at least once
  case $action in
  0 | 1)
    kill -KILL "$PID"; wait "$PID" 2>/dev/null; KILLS=$((KILLS + 1)); start_daemon ;;
  2)
    kill -TERM "$PID"; wait "$PID" 2>/dev/null; TERMS=$((TERMS + 1)); start_daemon ;;
  3)
    merge_branch $([ $((RANDOM % 2)) -eq 0 ] && echo "$BR0" || echo "$BR1") ;;
  4)
    if [ -e "$ST/fill" ]; then empty_disk; else fill_disk; fi ;;
  5)
    "$CPGO" run -c "$T/config.yaml" 2>"$T/second.log"
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q "is in use by another cpgo (pid $PID)" "$T/second.log"; then
      SECONDS_REFUSED=$((SECONDS_REFUSED + 1))
    else
      fail "a second daemon was not refused (rc $rc): $(tail -2 "$T/second.log")"
    fi ;;
  6)
    person commit -q --allow-empty -m "other work" ; OTHERS=$((OTHERS + 1)) ;;
  esac
done
kill -TERM "$PID"; wait "$PID" 2>/dev/null
empty_disk
stop_fleet
D=$(json_get "$T/stats.json" "d['ok']")
# the last round: everything pending proposed, then merged by the person
"$CPGO" run --once -c "$T/config.yaml" >>"$LOG" 2>&1
merge_branch "$BR0"
merge_branch "$BR1"
# one more round settles what was merged: nothing may be proposed twice afterwards
"$CPGO" run --once -c "$T/config.yaml" >>"$LOG" 2>&1
main_samples() { git -C "$R" show "main:$1" >"$T/m.pgo" 2>/dev/null && samples_in "$T/m.pgo" || echo 0; }
F0=$(main_samples default.pgo)
F1=$(main_samples cmd/tool/default.pgo)
PUB=$(( (F0 - ES) + F1 ))
A=$(grep -c 'msg="scrape merged"' "$LOG")
echo "crash soak (seed $SEED, ${SOAK_SECONDS}s): delivered $D, acknowledged $A, published $((PUB / S)) scrapes" \
  "($PUB samples + existing $ES); kill -9 x$KILLS, SIGTERM x$TERMS, person merges x$MERGES," \
  "other commits x$OTHERS, disk filled x$FILLS, second daemons refused x$SECONDS_REFUSED"
check "published a whole number of scrapes" [ $((PUB % S)) -eq 0 ]
check "the existing profile is in main once" [ "$F0" -ge "$ES" ]
check "no acknowledged scrape is missing: published $((PUB / S)) >= acknowledged $A" [ "$PUB" -ge $((A * S)) ]
check "never counted twice: published $((PUB / S)) <= delivered $D" [ "$PUB" -le $((D * S)) ]
check "unacknowledged at most what was in flight at the kills: $((PUB / S)) - $A <= $NB x $KILLS" \
  [ $((PUB / S - A)) -le $((NB * KILLS)) ]
# after the final merge and settle, nothing is left pending or proposed twice
pending=$("$CPGO" state -c "$T/config.yaml" 2>/dev/null | awk '/pending scrapes:/{s+=$3} END{print s+0}')
check "nothing left pending after the last merge (got $pending)" [ "$pending" -eq 0 ]
check "something was delivered" [ "$D" -gt 5 ]
check "a second daemon was started and refused" [ "$SECONDS_REFUSED" -ge 1 ]
if [ "$FAILS" -ne 0 ]; then tail -20 "$LOG" >&2; fi
finish

#!/usr/bin/env bash
# limits.max_pending_memory: a daemon whose budget (1 MiB) is smaller than one target's
# pending merge spills the least recently used targets' pending merges to their snapshots
# between rounds and loads them back at the next scrape. Local repositories with a long
# min_interval keep pending across rounds (pushed segments + the fresh part). Checked:
# spills happen (/metrics, /status); every accepted scrape (logged "scrape merged", after
# the journal's sync: not what the fleet sent, which a loaded machine may time out) is
# published exactly once
# (rounds, SIGTERM, restarts; then everything pending written with --once --output); each
# target's result equals `cpgo merge` of the same bodies; kill -9 mid-run loses at most the
# scrapes in flight and doubles nothing.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 9 -samples 2000 -locations 1500 -functions 800
S=$(samples_in "$P")
N=4
start_fleet "$T" --profile "$P" --count $N --delay-ms 100 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
delivered() { json_get "$T/stats.json" "d['ok']"; }
merged() { cat "$@" | grep -c 'msg="scrape merged"'; }

mkrepo() { # mkrepo DIR: a repository with one commit on main
  rm -rf "$1"
  git init -q -b main "$1"
  echo 'package main' >"$1/main.go" # at the root: the new profile goes there
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
mkcfg() { # mkcfg STATE_DIR BUDGET
  echo "state_dir: $1"
  echo "listen: 127.0.0.1:0"
  echo "shutdown_timeout: 10s"
  echo "limits: {max_pending_memory: $2}"
  echo "backends:"
  local i=0
  for port in "${PORTS[@]}"; do
    i=$((i + 1))
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  name: app-$i"
    echo "  schedule: '@every 2s'"
    echo "  timeout: 1500ms"
    echo "  open_pull_request: {repository: $T/repo$i, min_interval: 1h}"
  done
}
admin_port() { grep -o 'admin endpoint listening.* port=[0-9]*' "$1" | tail -1 | grep -o '[0-9]*$'; }
# final DIR: a --once round (the fleet gone) pushes everything pending (segments and the
# fresh part) to each head branch; its files are copied into DIR
final() {
  "$CPGO" run --once -c "$T/config.yaml" >>"$T/final.log" 2>&1
  mkdir -p "$1"
  local i f
  for i in $(seq 1 $N); do
    f=$(git -C "$T/repo$i" ls-tree -r --name-only cpgo/main/default.pgo 2>/dev/null | grep 'default.pgo$')
    [ -n "$f" ] && git -C "$T/repo$i" show "cpgo/main/default.pgo:$f" >"$1/$i.pgo"
  done
}
# same_as_merge FILE: the file equals `cpgo merge` of as many copies of P as it holds
same_as_merge() {
  local k=$(($(samples_in "$1") / S)) files=() i
  for i in $(seq 1 "$k"); do files+=("$P"); done
  "$CPGO" merge --drop-labels --strip-addresses -o "$T/want.pb.gz" "${files[@]}" &&
    "$CPGO_CANON" "$1" >"$T/got.canon" 2>&1 && "$CPGO_CANON" "$T/want.pb.gz" >"$T/want.canon" 2>&1 &&
    cmp -s "$T/got.canon" "$T/want.canon"
}
for i in $(seq 1 $N); do mkrepo "$T/repo$i"; done

# 1. rounds with spills, SIGTERM, a restart, SIGTERM: exactly once
mkcfg "$T/state" 1MiB >"$T/config.yaml"
"$CPGO" run -c "$T/config.yaml" 2>"$T/log1" &
pid=$!
check "admin endpoint up" wait_for "grep -q 'admin endpoint listening' '$T/log1'" 20 || finish
A="http://127.0.0.1:$(admin_port "$T/log1")"
# a few rounds: every target publishes once (then min_interval holds) and keeps scraping
check "spills happen" wait_for "curl -s '$A/metrics' | grep -Eq '^cpgo_pending_spills_total [1-9]'" 30
sleep 3
curl -s "$A/metrics" >"$T/metrics"
# a moment when some target is spilled (a busy machine may catch every one loaded back for
# its scrape: ask again, as long as a round)
status_shows_spilled() {
  curl -s "$A/status" >"$T/status.json" &&
    python3 -c 'import json, sys; assert any(not x["pending_in_memory"] for x in json.load(open(sys.argv[1]))["targets"])' "$T/status.json"
}
wait_for status_shows_spilled 20
check "status says which targets hold pending in memory" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
t = d["targets"]
assert len(t) == 4, t
assert all("pending_in_memory" in x and "pending_memory_bytes" in x for x in t), t
assert any(not x["pending_in_memory"] for x in t), t
assert all(x["pending_memory_bytes"] == 0 for x in t if not x["pending_in_memory"]), t
assert isinstance(d["pending_memory_bytes"], int)' "$T/status.json"
check "budget gauge" grep -q '^cpgo_pending_memory_budget_bytes 1048576$' "$T/metrics"
check "memory gauge" grep -q '^cpgo_pending_memory_bytes [0-9]' "$T/metrics"
check "snapshots are raw protobuf (not gzip)" python3 -c '
import glob, sys
fs = glob.glob(sys.argv[1] + "/targets/*/pending-*.pb")
assert fs
assert all(open(f, "rb").read(2) != b"\x1f\x8b" for f in fs)' "$T/state"
kill -TERM "$pid"
wait "$pid"
check "SIGTERM exits 0" [ $? -eq 0 ]
"$CPGO" run -c "$T/config.yaml" 2>"$T/log2" &
pid=$!
sleep 4
kill -TERM "$pid"
wait "$pid"
check "SIGTERM after a restart exits 0" [ $? -eq 0 ]
check "pushed to the local repositories" git -C "$T/repo1" rev-parse -q --verify refs/heads/cpgo/main/default.pgo >/dev/null
stop_fleet
D=$(delivered)
M=$(merged "$T/log1" "$T/log2")
final "$T/out1"
published=$(total_samples "$T/out1")
echo "delivered $D, merged $M profiles; published $((published / S)) (S=$S)"
check "published a whole number of profiles" [ $((published % S)) -eq 0 ]
check "exactly once: published $((published / S)) == merged $M" [ "$published" -eq $((M * S)) ]
check "nothing invented: merged $M <= delivered $D" [ "$M" -le "$D" ]
check "something was merged" [ "$M" -gt 8 ]
for f in $(find "$T/out1" -name '*.pgo'); do
  check "$f is the merge of its scrapes" same_as_merge "$f"
done

# 2. kill -9 mid-run (spills under way), a dry run, a restart with a budget of 0, SIGTERM
for i in $(seq 1 $N); do mkrepo "$T/repo$i"; done
start_fleet "$T" --profile "$P" --count $N --delay-ms 100 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
mkcfg "$T/state2" 1MiB >"$T/config.yaml"
kills=0
for delay in 5.3 3.7; do
  "$CPGO" run -c "$T/config.yaml" 2>>"$T/log3" &
  pid=$!
  sleep "$delay"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  kills=$((kills + 1))
done
mkcfg "$T/state2" 0 >"$T/config.yaml"
# a dry run scrapes, merges and spills (budget 0) in its private copy: the real state
# directory and the repositories are left as they were
listing() { find "$T/state2" "$T/repo1/.git/refs" -printf '%p %s %T@\n' | sort; }
listing >"$T/before"
mkdir -p "$T/tmp"
TMPDIR="$T/tmp" "$CPGO" run -c "$T/config.yaml" --once --dry-run >"$T/dry.out" 2>"$T/dry.log"
listing >"$T/after"
check "the dry run merged scrapes" grep -q 'msg="scrape merged"' "$T/dry.log"
check "a dry run changes nothing in the state directory" cmp -s "$T/before" "$T/after"
"$CPGO" run -c "$T/config.yaml" 2>"$T/log4" &
pid=$!
check "admin endpoint up (budget 0)" wait_for "grep -q 'admin endpoint listening' '$T/log4'" 20
A="http://127.0.0.1:$(admin_port "$T/log4")"
check "budget 0 spills" wait_for "curl -s '$A/metrics' | grep -Eq '^cpgo_pending_spills_total [1-9]'" 30
kill -TERM "$pid"
wait "$pid"
check "SIGTERM exits 0 (budget 0)" [ $? -eq 0 ]
stop_fleet
D=$(delivered)
M=$(merged "$T/log3" "$T/log4")
final "$T/out2"
published=$(total_samples "$T/out2")
echo "after $kills kill -9: delivered $D, merged $M profiles, published $((published / S))"
check "published a whole number of profiles" [ $((published % S)) -eq 0 ]
check "never counted twice: $((published / S)) <= delivered $D" [ "$published" -le $((D * S)) ]
check "every merged scrape published: $((published / S)) >= merged $M" [ "$published" -ge $((M * S)) ]
check "lost at most the scrapes in flight: $((published / S)) <= $M + $N x $kills" \
  [ "$published" -le $(((M + N * kills) * S)) ]
check "no state problems" bash -c "! grep -q 'target state problem' '$T/log3' '$T/log4' '$T/final.log'"
for f in $(find "$T/out2" -name '*.pgo'); do
  check "$f is the merge of its scrapes" same_as_merge "$f"
done
finish

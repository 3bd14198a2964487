#!/usr/bin/env bash
# --shard I/N (and CPGO_SHARD): N replicas partition the targets by their stable id with no
# coordination: every target is published by exactly one shard, all its backends scraped by
# that one; malformed shards are usage errors.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 3 -samples 100 -locations 60 -functions 30
start_fleet "$T" --profile "$P" --count 24 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
{
  echo "state_dir: $T/state"
  echo "backends:"
  i=0
  for port in "${PORTS[@]}"; do
    # 12 targets of 2 backends each
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  schedule: '@every 1m'"
    echo "  timeout: 1500ms"
    echo "  open_pull_request: {repository: 'https://github.com/acme/svc$((i / 2))', target_branch: main}"
    i=$((i + 1))
  done
} >"$T/config.yaml"
total=0
for s in 0 1 2; do
  if [ $s = 1 ]; then
    CPGO_SHARD=1/3 "$CPGO" run -c "$T/config.yaml" --once --output "$T/out$s" 2>"$T/log$s"
  else
    "$CPGO" run -c "$T/config.yaml" --once --output "$T/out$s" --shard $s/3 2>"$T/log$s"
  fi
  check "shard $s/3: exit 0" [ $? -eq 0 ]
  n=$(find "$T/out$s" -name default.pgo 2>/dev/null | wc -l)
  total=$((total + n))
  check "shard $s/3: says what it owns" grep -q "targets=\"$n of 12\" shard=$s/3" "$T/log$s"
  # every published file holds both backends of its target
  for f in $(find "$T/out$s" -name default.pgo); do
    check "shard $s/3: $f has both backends" [ "$(samples_in "$f")" -eq $((2 * $(samples_in "$P"))) ]
  done
done
check "every target published exactly once across shards ($total)" [ "$total" -eq 12 ]
dups=$(cd "$T" && find out0 out1 out2 -name default.pgo | sed 's|^out[0-9]/||' | sort | uniq -d | wc -l)
check "no target in two shards" [ "$dups" -eq 0 ]
# the ids say which shard: check-config prints them
for s in 0 1 2; do
  for f in $(cd "$T/out$s" && find . -name default.pgo); do
    repo=$(echo "$f" | cut -d/ -f2-4)
    id=$("$CPGO" check-config -c "$T/config.yaml" | grep -F "$repo@main:default.pgo" | grep -o '[0-9a-f]\{16\}' | head -1)
    check "target $repo is in shard $s by its id $id" python3 -c "
import sys
M = (1 << 64) - 1
z = int('$id', 16)
z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
sys.exit((z ^ (z >> 31)) % 3 != $s)"
  done
done
for bad in /4 4/4 x/4 1/0 -1/2 "1/2x"; do
  "$CPGO" run -c "$T/config.yaml" --once --output "$T/bad" --shard "$bad" >/dev/null 2>"$T/err"
  check "--shard '$bad' refused with 2" [ $? -eq 2 ]
done
check "the error names the option" grep -q -- "--shard (or CPGO_SHARD)" "$T/err"
stop_fleet
finish

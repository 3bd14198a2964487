#!/usr/bin/env bash
# `cpgo run --once` against a fake fleet with one endpoint per failure mode: every backend
# fails with the right class, promptly; the healthy backends of a target are merged and
# published; the run exits 1 because the target whose every backend failed is not (a failed
# backend of a published target alone is a warning); nothing hangs. The healthy backends
# use only the original tool's config keys.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 3 -samples 600 -locations 300 -functions 150
S=$(samples_in "$P")
behaviours=(normal normal normal hang reset trickle huge bomb html notfound busy badrequest short)
mix=$(printf '%s=1,' "${behaviours[@]}" | sed 's/,$//' | sed 's/normal=1,normal=1,normal=1/normal=3/')
start_fleet "$T" --profile "$P" --count ${#behaviours[@]} --mix "$mix" --delay-ms 200 \
  --trickle-ms 200 --huge-bytes 64MiB --bomb-bytes 256MiB || finish
{
  echo "state_dir: $T/state"
  echo "limits: {max_body_bytes: 4MiB, max_decompressed_bytes: 32MiB}"
  echo "backends:"
  while read -r port beh; do
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  schedule: '* * * * *'"
    if [ "$beh" != normal ]; then
      echo "  name: $beh-$port"
      echo "  timeout: 3s"
      echo "  retries: 2"
    fi
    echo "  open_pull_request:"
    echo "    repository: https://github.com/acme/$([ "$beh" = normal ] && echo healthy || echo broken)"
    echo "    target_file: default.pgo"
    echo "    target_branch: main"
  done < "$T/ports"
} > "$T/config.yaml"
start=$(date +%s)
"$CPGO" run --once -c "$T/config.yaml" --output "$T/out" 2>"$T/log"
rc=$?
took=$(( $(date +%s) - start ))
stop_fleet
check "exit 1: the broken target is not published (got $rc)" [ "$rc" -eq 1 ]
check "finished promptly (${took}s)" [ "$took" -lt 30 ]
expect_class() { # BEHAVIOUR CLASS
  local port
  port=$(awk -v b="$1" '$2==b{print $1; exit}' "$T/ports")
  if grep "msg=\"scrape failed\"" "$T/log" | grep -q "backend=$1-$port .*class=$2 "; then ok
  else fail "$1 should fail with class $2: $(grep "$1-$port" "$T/log" | tail -2)"; fi
}
expect_class hang timeout
expect_class reset reset
expect_class trickle timeout
expect_class huge body_size_limit
expect_class short partial
expect_class notfound http_4xx
expect_class busy busy
expect_class badrequest config
for b in bomb html; do
  port=$(awk -v b="$b" '$2==b{print $1; exit}' "$T/ports")
  want=$([ "$b" = bomb ] && echo decompressed_limit || echo bad_payload)
  if grep "msg=\"scrape rejected\"" "$T/log" | grep -q "backend=$b-$port .*class=$want "; then ok
  else fail "$b should be rejected with class $want: $(grep "$b-$port" "$T/log" | tail -2)"; fi
done
check "html body prefix is shown" grep -q 'body starts: \\"<' "$T/log"
check "404 hints at the path" grep -q "is the path /debug/pprof/profile right" "$T/log"
# transient failures are retried (retries: 2 -> 3 attempts), permanent ones are not
busy_port=$(awk '$2=="busy"{print $1}' "$T/ports")
nf_port=$(awk '$2=="notfound"{print $1}' "$T/ports")
check "busy retried 3 times" [ "$(json_get "$T/stats.json" "[e['requests'] for e in d['endpoints'] if e['port']==$busy_port][0]")" -eq 3 ]
check "404 not retried" [ "$(json_get "$T/stats.json" "[e['requests'] for e in d['endpoints'] if e['port']==$nf_port][0]")" -eq 1 ]
# the healthy target is published with exactly three scrapes in it
H="$T/out/github.com/acme/healthy/main/default.pgo"
check "healthy target published" [ -s "$H" ]
check "healthy target holds 3 scrapes" [ "$(samples_in "$H")" -eq $((3 * S)) ]
check "broken target not published" [ ! -e "$T/out/github.com/acme/broken/main/default.pgo" ]
check "the broken target is reported" grep -q 'msg="target not published" target=github.com/acme/broken' "$T/log"
check "trimmed by default (no labels, no mappings)" [ "$("$CPGO" inspect --json "$H" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["mappings"])')" -eq 0 ]
check "connections all closed" [ "$(json_get "$T/stats.json" "d['connections']")" -eq 0 ]
finish

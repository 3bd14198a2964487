#!/usr/bin/env bash
# services: (issue 11 §1-§3) the lifetime of a service's instances in daemon mode: an
# instance's transient failure is retried within its round (a busy single instance after
# the profile's duration); a reload while an instance waits to retry; a service-only target
# whose state could not be opened at the start; `cpgo discover` when a name never resolves.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 7 -samples 50 -locations 40 -functions 20
start_fleet "$T" --profile "$P" --count 2 --behaviour busy || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")

# ---- 1. daemon mode: a busy single instance is retried within its round -----------------
cat >"$T/busy.yaml" <<YAML
state_dir: $T/s1
services:
- name: single
  schedule: '@every 30s'
  seconds: 1
  timeout: 5s
  retries: 2
  static_configs:
  - targets: ['127.0.0.1:${PORTS[0]}']
  open_pull_request: {repository: 'https://github.com/acme/single'}
YAML
"$CPGO" run -c "$T/busy.yaml" --output "$T/o1" 2>"$T/busy.log" &
D=$!
check "busy: the round ends" wait_for "grep -q 'service round finished' '$T/busy.log'" 25
check "busy: the instance was retried after the profile's duration, in daemon mode too" \
  grep -q 'scrape failed, retrying.*class=busy.*attempt=2' "$T/busy.log"
kill -TERM $D
wait $D
check "busy: exit 0 on SIGTERM" [ $? -eq 0 ]

stop_fleet
finish

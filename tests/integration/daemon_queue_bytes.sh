#!/usr/bin/env bash
# limits.max_queued_bytes bounds the bodies a round's scrapes will bring, not only the bodies
# queued when a scrape starts (issue 14: a 10,000-backend round had every body arrive at
# once, 1.3 GB held for the pool). Every body of a round arrives about `seconds` after its
# scrape started, so a scrape starts only when the body it is expected to bring (its
# backend's last one, 128 KiB before it has one) fits beside the queued bodies and those of
# the scrapes in flight. 30 backends, one --once round under 1 MiB: at most 8 scrapes are in
# flight at once (cpgo's -v "scrape started" lines count them; the fleet's peak of open
# connections agrees, with slack for connections still closing), and every scrape is still
# merged and published; max_queued_bodies likewise counts the scrapes in flight. The same
# round with the default budget has them all in flight
# together, so the bound is the limit's doing.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 3 -samples 400 -locations 300 -functions 150
N=30
run_round() { # NAME LIMITS_YAML
  local d="$T/$1"
  mkdir -p "$d"
  start_fleet "$d" --profile "$P" --count $N --delay-ms 1000 || finish
  {
    echo "state_dir: $d/state"
    echo "limits: $2"
    echo "backends:"
    i=0
    while read -r port _; do
      echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
      echo "  schedule: '@every 1h'"
      echo "  open_pull_request: {repository: https://github.com/acme/svc$((i / 5)), target_branch: main, target_file: default.pgo}"
      i=$((i + 1))
    done <"$d/ports"
  } >"$d/config.yaml"
  "$CPGO" run --once -v -c "$d/config.yaml" --output "$d/out" >"$d/summary" 2>"$d/log"
  echo $? >"$d/rc"
  sleep 0.3 # the fleet writes its stats within 100 ms of a change
  stop_fleet
}
peak() { json_get "$T/$1/stats.json" "d['peak_connections']"; }
# the most scrapes cpgo had in flight, from its own log
inflight() { sed -n 's/.*msg="scrape started".* in_flight=\([0-9]*\).*/\1/p' "$T/$1/log" | sort -n | tail -1; }

run_round bounded "{max_queued_bytes: 1MiB}"
echo "bounded: $(inflight bounded) in flight at most, the fleet saw $(peak bounded) connections"
check "bounded round exited 0" [ "$(cat "$T/bounded/rc")" = 0 ]
check "every scrape merged under 1 MiB" [ "$(grep -c 'msg="scrape merged"' "$T/bounded/log")" = $N ]
check "every target published" [ "$(find "$T/bounded/out" -name default.pgo | wc -l)" = 6 ]
check "at most 1 MiB / 128 KiB = 8 scrapes in flight: $(inflight bounded)" \
  [ "$(inflight bounded)" -le 8 ]
check "the fleet saw at most 16 connections at once (8 closing): $(peak bounded)" \
  [ "$(peak bounded)" -le 16 ]

# max_queued_bodies counts the bodies on their way the same way: with 4, never more than 4
# scrapes in flight (queued bodies and scrapes in flight together stay within it), and a
# round of 30 still completes
run_round counted "{max_queued_bodies: 4}"
echo "counted: $(inflight counted) in flight at most"
check "counted round exited 0" [ "$(cat "$T/counted/rc")" = 0 ]
check "every scrape merged under 4 bodies" [ "$(grep -c 'msg="scrape merged"' "$T/counted/log")" = $N ]
check "every target published under 4 bodies" [ "$(find "$T/counted/out" -name default.pgo | wc -l)" = 6 ]
check "at most 4 scrapes in flight: $(inflight counted)" [ "$(inflight counted)" -le 4 ]
run_round open "{}"
echo "default budget: $(inflight open) in flight at most, the fleet saw $(peak open) connections"
check "default round exited 0" [ "$(cat "$T/open/rc")" = 0 ]
check "every scrape merged" [ "$(grep -c 'msg="scrape merged"' "$T/open/log")" = $N ]
check "with the default budget all $N were in flight together: $(inflight open)" \
  [ "$(inflight open)" = $N ]
finish

#!/usr/bin/env bash
# --output DIR: the layout DIR/<host>/<repository>/<branch>/<file> is not injective by
# itself (repository acme/svc + branch x/y and repository acme/svc/x + branch y give the
# same path), so two targets that would share an output file, or whose paths make one's
# file the other's directory, are refused before any scrape (exit 2), by `cpgo run` and by
# `cpgo check-config --output DIR`.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 2 -samples 50 -locations 30 -functions 20
start_fleet "$T" --profile "$P" --count 1 || finish
PORT=$(awk '{print $1; exit}' "$T/ports")
mk() { # mk FILE REPO1 BRANCH1 FILE1 REPO2 BRANCH2 FILE2
  cat >"$1" <<YAML
state_dir: $T/state
backends:
- url: http://127.0.0.1:$PORT/debug/pprof/profile?seconds=1
  name: one
  schedule: '* * * * *'
  open_pull_request: {repository: 'https://github.com/$2', target_branch: '$3', target_file: '$4'}
- url: http://127.0.0.1:$PORT/debug/pprof/profile?seconds=1
  name: two
  schedule: '* * * * *'
  open_pull_request: {repository: 'https://github.com/$5', target_branch: '$6', target_file: '$7'}
YAML
}
mk "$T/same.yaml" acme/svc x/y default.pgo acme/svc/x y default.pgo
"$CPGO" run --once -c "$T/same.yaml" --output "$T/out" 2>"$T/run.log"
rc=$?
check "run --output refuses two targets on one output file (exit 2, got $rc)" [ "$rc" -eq 2 ]
check "the error names both targets and the file" \
  grep -q "targets github.com/acme/svc.*and github.com/acme/svc.*would write the same output file $T/out/github.com/acme/svc/x/y/default.pgo" "$T/run.log"
check "refused before any scrape" [ "$(json_get "$T/stats.json" "d['requests']" 2>/dev/null || echo 0)" = 0 ]
check "nothing written" [ ! -e "$T/out" ]
check "no state written" [ ! -e "$T/state" ]
"$CPGO" check-config -q -c "$T/same.yaml" --output "$T/out" 2>"$T/cc.log"
check "check-config --output refuses it too (exit 2)" [ $? -eq 2 ]
check "... with the same error" grep -q "would write the same output file" "$T/cc.log"
"$CPGO" check-config -q -c "$T/same.yaml"
check "without --output the two targets are fine (forges: different repositories)" [ $? -eq 0 ]

mk "$T/dir.yaml" acme/svc main default.pgo acme/svc/main default.pgo default.pgo
"$CPGO" run --once -c "$T/dir.yaml" --output "$T/out" 2>"$T/run2.log"
check "a file that would be another target's directory is refused (exit 2)" [ $? -eq 2 ]
check "... saying so" grep -q "would be a directory of target" "$T/run2.log"

mk "$T/ok.yaml" acme/svc main default.pgo acme/svc main cmd/default.pgo
"$CPGO" check-config -q -c "$T/ok.yaml" --output "$T/out"
check "distinct files in one branch are fine" [ $? -eq 0 ]
stop_fleet
finish

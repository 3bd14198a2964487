#!/usr/bin/env bash
# The default head branch names the profile's path, cpgo/<target_branch>/<path>, spelled by
# one function (cpgo_config_head_branch). When the profile is found by searching the tree at
# a path too long for the head branch a round holds (src/publish/forge.h: 512 bytes), the
# round is refused with an error that names the path, and nothing is pushed: never a branch
# whose name was cut (two long paths could share a cut name). A path that fits publishes.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 7 -samples 50 -locations 20 -functions 10
start_fleet "$T" --profile "$P" --count 1 || finish
PORT=$(awk '{print $1; exit}' "$T/ports")

# repo DIR SUBDIR: a repository whose only profile is SUBDIR/default.pgo
repo() {
  git init -q -b main "$1"
  mkdir -p "$1/$2"
  cp "$P" "$1/$2/default.pgo"
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
cfg() { # cfg REPO
  cat <<YAML
state_dir: $T/state-$(basename "$1")
backends:
- url: http://127.0.0.1:$PORT/debug/pprof/profile?seconds=1
  schedule: '@every 1m'
  timeout: 1500ms
  open_pull_request: {repository: $1}
YAML
}

# twelve directories of 44 bytes: "cpgo/main/" + 540 bytes of path
LONG=$(python3 -c 'print("/".join("d%02d" % i + "x" * 41 for i in range(12)))')
R="$T/long"
repo "$R" "$LONG"
cfg "$R" >"$T/long.yaml"
"$CPGO" run -c "$T/long.yaml" --once >"$T/out" 2>&1
rc=$?
check "long path: exit 1 (rc $rc: $(tail -2 "$T/out"))" [ "$rc" -eq 1 ]
check "long path: the error says why and names the path" \
  grep -q "the default head branch is too long for the profile's path (set head_branch): d00x" "$T/out"
check "long path: no head branch pushed" [ -z "$(git -C "$R" for-each-ref refs/heads/cpgo)" ]

# the same search with a path that fits: the branch is named after it
SHORT="${LONG:0:200}"
R2="$T/short"
repo "$R2" "$SHORT"
cfg "$R2" >"$T/short.yaml"
"$CPGO" run -c "$T/short.yaml" --once >"$T/out" 2>&1
rc=$?
check "short path: exit 0 (rc $rc: $(tail -2 "$T/out"))" [ "$rc" -eq 0 ]
check "short path: the branch is named after the found path" \
  git -C "$R2" rev-parse -q --verify "refs/heads/cpgo/main/$SHORT/default.pgo"
stop_fleet
finish

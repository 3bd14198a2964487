#!/usr/bin/env bash
# The original tool's command line, unchanged (issue 16): `cpgo -configPath FILE
# -githubToken TOKEN -verbose` with no command is the daemon, as `cpgo run` is.
# - the original README's command line on an original-format config (repository: a local
#   path, so it publishes without an account): scrapes a fake backend, publishes, warns
#   about the token and wipes it from /proc/<pid>/cmdline, logs at debug, stops on SIGTERM;
# - each spelling: -configPath FILE, --configPath FILE, -configPath=FILE, --configPath=FILE,
#   -githubToken=T, --githubToken T, -verbose, --verbose, -v, -verbose=true|false|1|0;
# - the default ./config.yaml (run from its directory);
# - a bare `cpgo`: help and exit 2, with ./config.yaml or without, and no daemon;
# - -h / -help / --help: cpgo's help, naming the original's flags;
# - unknown flags, a missing value, a bad boolean: exit 2, one line naming the flag, the
#   value (a secret-looking string) never echoed.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
unset GITHUB_TOKEN
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 16 -samples 300 -locations 150 -functions 80
S=$(samples_in "$P")
start_fleet "$T" --profile "$P" --count 1 || finish
trap 'stop_fleet' EXIT
PORT=$(awk 'NR == 1 {print $1}' "$T/ports")
SECRET="ghp_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BR=cpgo/main/default.pgo

mkrepo() { # mkrepo DIR: a repository with one commit on main
  rm -rf "$1"
  git init -q -b main "$1"
  echo 'package main' >"$1/main.go"
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
mkcfg() { # mkcfg DIR: the original's config format (README sample) + a local repository
  mkrepo "$1/repo"
  cat >"$1/config.yaml" <<EOF
---
state_dir: state
backends:
- url: http://127.0.0.1:$PORT/debug/pprof/profile?seconds=1
  schedule: '@every 5s'
  timeout: 3s
  open_pull_request:
    repository: $1/repo
    target_file: default.pgo
    target_branch: main
EOF
}
published() { git -C "$1/repo" rev-parse -q --verify "refs/heads/$BR" >/dev/null; }
no_secret() { ! grep -qaF -- "$SECRET" "$@"; }

# 1. the original README's command line, as a daemon, stopped by SIGTERM
D="$T/readme"
mkdir -p "$D" && mkcfg "$D"
"$CPGO" -configPath "$D/config.yaml" -githubToken "$SECRET" -verbose >"$D/out" 2>&1 &
pid=$!
wait_for "grep -q 'published: branch' '$D/out'" 60
check "README command line: published ($(tail -3 "$D/out"))" published "$D"
check "README command line: the file holds the scrape" \
  [ "$(git -C "$D/repo" show "$BR:default.pgo" | "$CPGO" inspect --json - |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["sample_types"][0]["total"])')" -ge "$S" ]
check "README command line: -githubToken warned" grep -q 'other users of this machine can read it' "$D/out"
check "README command line: token gone from /proc/pid/cmdline" \
  bash -c "tr '\0' ' ' </proc/$pid/cmdline | grep -q -- '-configPath' && ! tr '\0' ' ' </proc/$pid/cmdline | grep -qF -- '$SECRET'"
check "README command line: -verbose logs at debug" grep -q 'level=debug' "$D/out"
kill -TERM "$pid"
wait "$pid"
check "README command line: SIGTERM exits 0" [ $? -eq 0 ]
check "README command line: the token is in no output" no_secret "$D/out"

# 2. each spelling (with run's --once, so each run is one round)
spell() { # spell DESCRIPTION VERBOSE(0|1) ARGS... : one round in a fresh directory
  local d=$1 v=$2; shift 2
  local dir="$T/s$((++n))"
  mkdir -p "$dir" && mkcfg "$dir"
  (cd "$dir" && "$CPGO" "${@//@CFG@/$dir/config.yaml}" --once >"$dir/out" 2>&1)
  local rc=$?
  check "$d: exit 0 (rc $rc: $(tail -2 "$dir/out"))" [ "$rc" -eq 0 ]
  check "$d: published" published "$dir"
  if [ "$v" = 1 ]; then check "$d: debug on" grep -q 'level=debug' "$dir/out"
  else check "$d: debug off" bash -c "! grep -q 'level=debug' '$dir/out'"; fi
  LAST="$dir"
}
n=0
spell "-configPath FILE" 0 -configPath @CFG@
spell "--configPath FILE" 0 --configPath @CFG@
spell "-configPath=FILE" 0 -configPath=@CFG@
spell "--configPath=FILE -verbose" 1 --configPath=@CFG@ -verbose
spell "--verbose" 1 -configPath @CFG@ --verbose
spell "-v" 1 -v -configPath @CFG@
spell "-verbose=true" 1 -configPath @CFG@ -verbose=true
spell "-verbose=1" 1 -configPath @CFG@ -verbose=1
spell "-verbose=false" 0 -configPath @CFG@ -verbose=false
spell "-verbose -verbose=0 (the last wins)" 0 -verbose -configPath @CFG@ -verbose=0
spell "-githubToken=T" 0 -githubToken="$SECRET" -configPath @CFG@
check "-githubToken=T: warned" grep -q 'other users of this machine can read it' "$LAST/out"
check "-githubToken=T: not printed" no_secret "$LAST/out"
spell "--githubToken T" 0 --githubToken "$SECRET" -configPath @CFG@
check "--githubToken T: warned" grep -q 'other users of this machine can read it' "$LAST/out"
# the default path: ./config.yaml of the working directory
spell "the default ./config.yaml" 1 -verbose

# -githubToken=T is wiped from /proc/<pid>/cmdline too (the daemon, not a round)
D="$T/wipe"
mkdir -p "$D" && mkcfg "$D"
"$CPGO" -githubToken="$SECRET" --configPath="$D/config.yaml" >"$D/out" 2>&1 &
pid=$!
wait_for "grep -q 'GitHub token' '$D/out'" 20
check "-githubToken=T: gone from /proc/pid/cmdline" \
  bash -c "tr '\0' ' ' </proc/$pid/cmdline | grep -q -- '-githubToken=' && ! tr '\0' ' ' </proc/$pid/cmdline | grep -qF -- '$SECRET'"
kill -TERM "$pid"
wait "$pid"
check "-githubToken=T daemon: SIGTERM exits 0" [ $? -eq 0 ]

# no configuration: the default path is named
mkdir -p "$T/empty"
(cd "$T/empty" && "$CPGO" -verbose >"$T/out" 2>&1)
rc=$?
check "no ./config.yaml: fails (rc $rc)" [ "$rc" -ne 0 ]
check "no ./config.yaml: the error names it ($(cat "$T/out"))" grep -q 'config.yaml' "$T/out"

# 3. a bare `cpgo`: help, exit 2, never a daemon
(cd "$T/empty" && "$CPGO" >"$T/out" 2>"$T/err")
rc=$?
check "bare cpgo: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
check "bare cpgo: help" grep -q 'usage: cpgo COMMAND' "$T/err"
check "bare cpgo without ./config.yaml: no hint" bash -c "! grep -q 'config.yaml is here' '$T/err'"
D="$T/bare"
mkdir -p "$D" && mkcfg "$D"
(cd "$D" && timeout 20 "$CPGO" >"$T/out" 2>"$T/err")
rc=$?
check "bare cpgo with ./config.yaml: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
check "bare cpgo with ./config.yaml: says so, points at cpgo run" \
  grep -q "config.yaml is here: 'cpgo run' starts the daemon" "$T/err"
check "bare cpgo with ./config.yaml: no daemon (no state)" [ ! -e "$D/state" ]
check "bare cpgo with ./config.yaml: nothing published" bash -c "! git -C '$D/repo' rev-parse -q --verify 'refs/heads/$BR'"

# 4. help
for h in -h -help --help; do
  "$CPGO" "$h" >"$T/out" 2>&1
  rc=$?
  check "cpgo $h: exit 2 as go -h (rc $rc)" [ "$rc" -eq 2 ]
  check "cpgo $h: cpgo's commands" grep -q 'check-config' "$T/out"
  check "cpgo $h: the original's flags" \
    bash -c "grep -q -- '-configPath FILE' '$T/out' && grep -q -- '-githubToken TOKEN' '$T/out' && grep -q -- '-verbose' '$T/out'"
done
"$CPGO" -configPath "$T/none.yaml" -h >"$T/out" 2>&1
check "-h after a flag: help, exit 2 as go -h" [ $? -eq 2 ]
check "-h after a flag: the original's flags" grep -q -- '-githubToken TOKEN' "$T/out"

# 5. bad flags: exit 2, one line naming the flag, never its value
bad() { # bad DESCRIPTION NEEDLE ARGS...
  local d=$1 needle=$2; shift 2
  (cd "$T/empty" && "$CPGO" "$@" >"$T/out" 2>"$T/err")
  local rc=$?
  check "$d: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
  check "$d: one line ($(cat "$T/err"))" [ "$(wc -l <"$T/err")" -eq 1 ] && [ ! -s "$T/out" ]
  check "$d: names '$needle'" grep -qF -- "'$needle'" "$T/err"
  check "$d: the value is not echoed" no_secret "$T/err" "$T/out"
}
bad "unknown flag with a value" -githubTokn -configPath "$D/config.yaml" -githubTokn "$SECRET"
bad "unknown flag=value" -githubTokn -githubTokn="$SECRET" -verbose
bad "unknown --flag=value" --token --token="$SECRET"
bad "unknown flag first" -frobnicate -frobnicate "$SECRET"
bad "unknown short flag in a cluster" -Z -configPath "$D/config.yaml" -vZ"$SECRET"
bad "a value is missing" -configPath -verbose -configPath
bad "a bad boolean" -verbose -verbose="$SECRET"
bad "a token, then an unknown flag" -frobnicate -githubToken "$SECRET" -frobnicate
bad "a value glued to its flag" -githubToken -githubToken"$SECRET"
bad "a stray word (a value without its flag)" "${SECRET:0:3}..." -verbose "$SECRET"
check "unknown flag: says which flags exist" grep -q -- '-configPath FILE, -githubToken TOKEN, -verbose' "$T/err"
# `cpgo run` keeps its own error lines, and never echoes a value either
"$CPGO" run -githubToken "$SECRET" -githubTokn="$SECRET" >"$T/out" 2>"$T/err"
rc=$?
check "cpgo run, a token then an unknown flag: exit 2 (rc $rc)" [ "$rc" -eq 2 ]
check "cpgo run: names the flag" grep -qF -- "'-githubTokn'" "$T/err"
check "cpgo run: the value is not echoed" no_secret "$T/err" "$T/out"
finish

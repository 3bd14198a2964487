#!/usr/bin/env bash
# Publishing to local repositories (forge local, the embedded default) through
# `cpgo run --once` and the daemon, checked with the git command line:
# - file absent: created at target_file on branch cpgo/main/default.pgo, one commit on main
#   whose only change is the file, with the "main package directory" note;
# - repeated rounds: still one branch and one commit on top of main; samples counted once;
# - the base branch moved: the commit is regenerated on the new tip;
# - the branch merged (main fast-forwarded to it): those scrapes are settled, the next
#   proposal is main's file + only the newer scrapes;
# - a file found by searching the tree; several matches; an invalid existing file; an
#   explicit path; a head branch with a person's commit on it: left alone and reported;
# - a new bare target_file goes into the directory of the one package main (the root when
#   it is there); two main packages are refused with both listed; an existing file of
#   that name elsewhere is updated where it is;
# - the daemon publishes at most once per min_interval while scraping goes on.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 5 -samples 300 -locations 150 -functions 80
S=$(samples_in "$P")
start_fleet "$T" --profile "$P" --count 2 || finish
mapfile -t PORTS < <(awk '{print $1}' "$T/ports")
BR=cpgo/main/default.pgo

mkrepo() { # mkrepo DIR: a repository with one commit on main, its package main at the root
  rm -rf "$1"
  git init -q -b main "$1"
  mkdir -p "$1/cmd/app"
  echo 'package main' >"$1/main.go"
  echo 'package app' >"$1/cmd/app/app.go"
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
human_commit() { # human_commit REPO FILE CONTENT [BRANCH]
  if [ -n "${4:-}" ]; then git -C "$1" checkout -q "$4"; fi
  mkdir -p "$(dirname "$1/$2")"
  printf '%s' "$3" >"$1/$2"
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m "human: $2"
  if [ -n "${4:-}" ]; then git -C "$1" checkout -q main; fi
}
mkcfg() { # mkcfg REPO [extra open_pull_request keys] [schedule] [min_interval]
  local i=0
  echo "state_dir: $T/state-$(basename "$1")"
  echo "backends:"
  for port in "${PORTS[@]}"; do
    i=$((i + 1))
    echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
    echo "  name: app-$i"
    echo "  schedule: '${3:-@every 1m}'"
    echo "  timeout: 1500ms"
    echo "  open_pull_request: {repository: $1${2:+, $2}${4:+, min_interval: $4}}"
  done
}
run_once() { # run_once CONFIG -> $T/out, $rc
  "$CPGO" run -c "$1" --once >"$T/out" 2>&1
  rc=$?
  cat "$T/out" >>"$T/all.log"
}
branch_samples() { # branch_samples REPO REV PATH
  git -C "$1" show "$2:$3" >"$T/f.pgo" 2>/dev/null || { echo 0; return; }
  samples_in "$T/f.pgo"
}

# 1. the file does not exist yet
R="$T/repo"
mkrepo "$R"
mkcfg "$R" >"$T/c1.yaml"
run_once "$T/c1.yaml"
check "first run exits 0 (rc $rc: $(tail -2 "$T/out"))" [ "$rc" -eq 0 ]
check "the head branch exists" git -C "$R" rev-parse -q --verify "refs/heads/$BR"
check "one commit on top of main" [ "$(git -C "$R" rev-list --count "main..$BR")" = 1 ]
check "its parent is main" [ "$(git -C "$R" rev-parse "$BR^")" = "$(git -C "$R" rev-parse main)" ]
check "only default.pgo changed" [ "$(git -C "$R" diff --name-only main "$BR")" = default.pgo ]
check "the file holds both scrapes" [ "$(branch_samples "$R" "$BR" default.pgo)" -eq $((2 * S)) ]
msg=$(git -C "$R" log -1 --format=%B "$BR")
check "commit subject is the summary" grep -q '^cpgo: add default.pgo (2 scrapes of 2 instances' <<<"$msg"
check "the message says where Go reads the file" grep -q "the repository root, the directory of the repository's one .package main." <<<"$msg"
check "author is cpgo" [ "$(git -C "$R" log -1 --format='%an <%ae>|%cn' "$BR")" = "cpgo <cpgo@localhost>|cpgo" ]
check "the working tree is untouched" [ -z "$(git -C "$R" status --porcelain)" ]
check "main is untouched" [ "$(git -C "$R" rev-list --count main)" = 1 ]

# 2. repeated rounds: one branch, one commit, every scrape once
run_once "$T/c1.yaml"
run_once "$T/c1.yaml"
check "still one commit on top of main" [ "$(git -C "$R" rev-list --count "main..$BR")" = 1 ]
check "one cpgo branch" [ "$(git -C "$R" for-each-ref refs/heads/cpgo | wc -l)" = 1 ]
check "six scrapes, each counted once" [ "$(branch_samples "$R" "$BR" default.pgo)" -eq $((6 * S)) ]

# 3. the base branch moved: regenerated on the new tip
human_commit "$R" README.md "hello"
run_once "$T/c1.yaml"
check "rebased on the moved main" [ "$(git -C "$R" rev-parse "$BR^")" = "$(git -C "$R" rev-parse main)" ]
check "still one commit on top" [ "$(git -C "$R" rev-list --count "main..$BR")" = 1 ]
check "eight scrapes" [ "$(branch_samples "$R" "$BR" default.pgo)" -eq $((8 * S)) ]

# 4. merged: main fast-forwarded to the branch
git -C "$R" merge -q --ff-only "$BR"
check "main has the eight scrapes" [ "$(branch_samples "$R" main default.pgo)" -eq $((8 * S)) ]
run_once "$T/c1.yaml"
check "merge noticed" grep -q 'branch merged: its scrapes are published.*scrapes=8' "$T/out"
check "the new proposal is main's file plus only the new scrapes" \
  [ "$(branch_samples "$R" "$BR" default.pgo)" -eq $((10 * S)) ]
check "main still has eight" [ "$(branch_samples "$R" main default.pgo)" -eq $((8 * S)) ]
check "updated, not added" grep -q 'summary="cpgo: update default.pgo (2 scrapes' "$T/out"

# 5. a head branch with a person's commit on it is left alone and reported
tip=$(git -C "$R" rev-parse "$BR")
human_commit "$R" notes.txt "mine" "$BR"
htip=$(git -C "$R" rev-parse "$BR")
run_once "$T/c1.yaml"
check "foreign branch: exit 1" [ "$rc" -eq 1 ]
check "foreign branch reported" grep -q 'did not make; left alone' "$T/out"
check "the person's commit is kept" [ "$(git -C "$R" rev-parse "$BR")" = "$htip" ]
# once the person deletes the branch, cpgo recreates it with everything still pending
git -C "$R" branch -q -D "$BR"
run_once "$T/c1.yaml"
check "recreated after deletion (rc $rc)" [ "$rc" -eq 0 ]
check "nothing lost while it was foreign" [ "$(branch_samples "$R" "$BR" default.pgo)" -eq $((8 * S + 6 * S)) ]
[ "$tip" != "" ] || true

# 5b. the base branch rewritten under cpgo's branch (amend, force-push): still cpgo's
R6="$T/rewrite"
mkrepo "$R6"
mkcfg "$R6" >"$T/c6.yaml"
run_once "$T/c6.yaml"
git -C "$R6" -c user.name=Human -c user.email=human@example.com commit -q --amend -m "rewritten"
run_once "$T/c6.yaml"
check "rewritten base: exit 0 (rc $rc: $(grep -m1 level=error "$T/out"))" [ "$rc" -eq 0 ]
check "rewritten base: regenerated on the new tip" [ "$(git -C "$R6" rev-parse "$BR^")" = "$(git -C "$R6" rev-parse main)" ]
check "rewritten base: four scrapes" [ "$(branch_samples "$R6" "$BR" default.pgo)" -eq $((4 * S)) ]
# another author name: cpgo's own last commit is still recognised
{ echo "git: {author_name: profile-bot, author_email: bot@example.com}"; cat "$T/c6.yaml"; } >"$T/c6b.yaml"
run_once "$T/c6b.yaml"
check "new author: exit 0 (rc $rc: $(grep -m1 level=error "$T/out"))" [ "$rc" -eq 0 ]
check "new author: committed as the new name" [ "$(git -C "$R6" log -1 --format=%an "$BR")" = profile-bot ]
check "the commit names its target in a trailer" bash -c "git -C '$R6' log -1 --format=%B '$BR' | grep -q '^Cpgo-Target: [0-9a-f]\{16\}$'"
# merged, then the file changed on main before cpgo's next round: no double count
git -C "$R6" merge -q --ff-only "$BR"
cp "$P" "$R6/default.pgo"
git -C "$R6" add -A && git -C "$R6" -c user.name=Human -c user.email=human@example.com commit -q -m "replace the profile"
run_once "$T/c6b.yaml"
check "merged then changed: the merge is noticed" grep -q 'branch merged: its scrapes are published.*scrapes=6' "$T/out"
check "merged then changed: main's file + only the new scrapes" \
  [ "$(branch_samples "$R6" "$BR" default.pgo)" -eq $((S + 2 * S)) ]

# 5c. two targets that resolve to the same file: refused, not overwriting each other
R7="$T/collide"
mkrepo "$R7"
cp "$P" "$R7/cmd/app/default.pgo"
git -C "$R7" add -A && git -C "$R7" -c user.name=H -c user.email=h@x commit -q -m pgo
{
  echo "state_dir: $T/state-collide"
  echo "backends:"
  echo "- url: http://127.0.0.1:${PORTS[0]}/debug/pprof/profile?seconds=1"
  echo "  schedule: '@every 1m'"
  echo "  timeout: 1500ms"
  echo "  open_pull_request: {repository: $R7}"
  echo "- url: http://127.0.0.1:${PORTS[1]}/debug/pprof/profile?seconds=1"
  echo "  schedule: '@every 1m'"
  echo "  timeout: 1500ms"
  echo "  open_pull_request: {repository: $R7, target_file: cmd/app/default.pgo}"
} >"$T/c7.yaml"
run_once "$T/c7.yaml"
run_once "$T/c7.yaml"
check "collision: exit 1" [ "$rc" -eq 1 ]
check "collision: reported" grep -q 'belongs to another cpgo target' "$T/out"

# 6. found by searching the tree: the one default.pgo in a subdirectory
R2="$T/search"
mkrepo "$R2"
cp "$P" "$R2/cmd/app/default.pgo"
git -C "$R2" add -A && git -C "$R2" -c user.name=H -c user.email=h@x commit -q -m pgo
mkcfg "$R2" >"$T/c2.yaml"
run_once "$T/c2.yaml"
check "search: exit 0 (rc $rc: $(tail -1 "$T/out"))" [ "$rc" -eq 0 ]
B2=cpgo/main/cmd/app/default.pgo
check "branch named after the found path" git -C "$R2" rev-parse -q --verify "refs/heads/$B2"
check "only cmd/app/default.pgo changed" [ "$(git -C "$R2" diff --name-only main "$B2")" = cmd/app/default.pgo ]
check "existing + two scrapes" [ "$(branch_samples "$R2" "$B2" cmd/app/default.pgo)" -eq $((3 * S)) ]
check "no file created at the root" [ -z "$(git -C "$R2" ls-tree "$B2" default.pgo)" ]

# 7. several matches: a permanent error that lists them, nothing pushed
R3="$T/several"
mkrepo "$R3"
mkdir -p "$R3/cmd/other"
cp "$P" "$R3/cmd/app/default.pgo"
cp "$P" "$R3/cmd/other/default.pgo"
git -C "$R3" add -A && git -C "$R3" -c user.name=H -c user.email=h@x commit -q -m pgo
mkcfg "$R3" >"$T/c3.yaml"
run_once "$T/c3.yaml"
check "several matches: exit 1" [ "$rc" -eq 1 ]
check "both paths listed" grep -q 'cmd/app/default.pgo.*cmd/other/default.pgo\|cmd/other/default.pgo.*cmd/app/default.pgo' "$T/out"
check "several matches: no branch" [ -z "$(git -C "$R3" for-each-ref refs/heads/cpgo)" ]
# an explicit path resolves it
mkcfg "$R3" "target_file: cmd/other/default.pgo" >"$T/c3b.yaml"
run_once "$T/c3b.yaml"
check "explicit path: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "explicit path: only that file changed" \
  [ "$(git -C "$R3" diff --name-only main cpgo/main/cmd/other/default.pgo)" = cmd/other/default.pgo ]

# 8. an existing file that is not a profile: permanent error, no commit, scrapes kept
R4="$T/invalid"
mkrepo "$R4"
echo 'not a profile' >"$R4/default.pgo"
git -C "$R4" add -A && git -C "$R4" -c user.name=H -c user.email=h@x commit -q -m junk
mkcfg "$R4" >"$T/c4.yaml"
run_once "$T/c4.yaml"
check "invalid existing file: exit 1" [ "$rc" -eq 1 ]
check "invalid existing file: clear message" grep -q 'existing default.pgo on branch .main. is not a valid profile' "$T/out"
check "invalid existing file: no branch" [ -z "$(git -C "$R4" for-each-ref refs/heads/cpgo)" ]
# fixed by a person: the scrapes gathered meanwhile are all there
git -C "$R4" rm -q default.pgo && git -C "$R4" -c user.name=H -c user.email=h@x commit -q -m fix
run_once "$T/c4.yaml"
check "after the fix: published with every scrape" [ "$(branch_samples "$R4" "$BR" default.pgo)" -eq $((4 * S)) ]

# 10. where a new profile goes: the directory of the repository's one package main
mkmains() { # mkmains DIR MAIN_DIR...: a library at the root, package main in each MAIN_DIR
  rm -rf "$1"
  git init -q -b main "$1"
  local r=$1 d
  shift
  printf '// Package lib.\npackage lib\n' >"$r/lib.go"
  # none of these is a main package for go build
  mkdir -p "$r/testdata/x" "$r/vendor/example.com/tool" "$r/gen" "$r/.hidden"
  echo 'package main' >"$r/testdata/x/main.go"
  echo 'package main' >"$r/vendor/example.com/tool/main.go"
  printf '//go:build ignore\n\npackage main\n' >"$r/gen/gen.go"
  echo 'package gen' >"$r/gen/lib.go"
  echo 'package main' >"$r/.hidden/main.go"
  echo 'package main_test' >"$r/lib_test.go"
  for d in "$@"; do
    mkdir -p "$r/$d"
    printf '/* Command %s. */\n// with a comment first\npackage main // here\n\nfunc main() {}\n' "$d" >"$r/$d/main.go"
  done
  git -C "$r" add -A
  git -C "$r" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
R8="$T/one-main"
mkmains "$R8" cmd/app
mkcfg "$R8" >"$T/c8.yaml"
run_once "$T/c8.yaml"
check "one main in cmd/app: exit 0 (rc $rc: $(tail -1 "$T/out"))" [ "$rc" -eq 0 ]
B8=cpgo/main/cmd/app/default.pgo
check "one main in cmd/app: the branch names the path" git -C "$R8" rev-parse -q --verify "refs/heads/$B8"
check "one main in cmd/app: the file lands there, only it" [ "$(git -C "$R8" diff --name-only main "$B8")" = cmd/app/default.pgo ]
check "one main in cmd/app: both scrapes" [ "$(branch_samples "$R8" "$B8" cmd/app/default.pgo)" -eq $((2 * S)) ]
check "one main in cmd/app: nothing at the root" [ -z "$(git -C "$R8" ls-tree "$B8" default.pgo)" ]
check "one main in cmd/app: the message says why there" \
  grep -q "into .cmd/app., the directory of the repository's one .package main." <<<"$(git -C "$R8" log -1 --format=%B "$B8")"
run_once "$T/c8.yaml"
check "one main in cmd/app: the next round updates it there" [ "$(branch_samples "$R8" "$B8" cmd/app/default.pgo)" -eq $((4 * S)) ]
check "one main in cmd/app: still one branch" [ "$(git -C "$R8" for-each-ref refs/heads/cpgo | wc -l)" -eq 1 ]

R9="$T/two-mains"
mkmains "$R9" cmd/api cmd/worker
mkcfg "$R9" >"$T/c9.yaml"
run_once "$T/c9.yaml"
check "two mains: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "two mains: both listed ($(grep -o 'directories hold a package main[^"]*' "$T/out" | head -1))" \
  grep -q 'no file named default.pgo .* 2 directories hold a package main: cmd/api, cmd/worker; set target_file' "$T/out"
check "two mains: nothing pushed" [ -z "$(git -C "$R9" for-each-ref refs/heads/cpgo)" ]
mkcfg "$R9" "target_file: cmd/worker/default.pgo" >"$T/c9b.yaml"
run_once "$T/c9b.yaml"
check "two mains, a path chosen: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "two mains, a path chosen: there" \
  [ "$(git -C "$R9" diff --name-only main cpgo/main/cmd/worker/default.pgo)" = cmd/worker/default.pgo ]

R10="$T/existing-elsewhere"
mkmains "$R10" cmd/app
mkdir -p "$R10/deploy/pgo"
cp "$P" "$R10/deploy/pgo/default.pgo"
git -C "$R10" add -A && git -C "$R10" -c user.name=H -c user.email=h@x commit -q -m pgo
mkcfg "$R10" >"$T/c10.yaml"
run_once "$T/c10.yaml"
check "existing elsewhere: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
B10=cpgo/main/deploy/pgo/default.pgo
check "existing elsewhere: that file is updated, as before" [ "$(git -C "$R10" diff --name-only main "$B10")" = deploy/pgo/default.pgo ]
check "existing elsewhere: existing + two scrapes" [ "$(branch_samples "$R10" "$B10" deploy/pgo/default.pgo)" -eq $((3 * S)) ]
check "existing elsewhere: nothing beside the main package" [ -z "$(git -C "$R10" ls-tree "$B10" cmd/app/default.pgo)" ]

R11="$T/no-main"
mkmains "$R11"
mkcfg "$R11" >"$T/c11.yaml"
run_once "$T/c11.yaml"
check "no main package: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "no main package: the root, as before" [ "$(git -C "$R11" diff --name-only main "$BR")" = default.pgo ]

# 9. the daemon: scrapes every 2 s, publishes at most once per min_interval
R5="$T/cadence"
mkrepo "$R5"
mkcfg "$R5" "" "@every 2s" 1h >"$T/c5.yaml"
"$CPGO" run -c "$T/c5.yaml" >"$T/d5.log" 2>&1 &
pid=$!
check "daemon: first publish" wait_for "grep -q 'published: branch' '$T/d5.log'" 15
check "daemon: scraping goes on" wait_for "[ \$(grep -c 'scrape merged' '$T/d5.log') -ge 8 ]" 20
check "daemon: one publish per min_interval (1h)" [ "$(grep -c 'published: branch' "$T/d5.log")" -eq 1 ]
kill -TERM "$pid"; wait "$pid"
check "daemon: exit 0" [ $? -eq 0 ]
mkcfg "$R5" "" "@every 2s" 3s >"$T/c5.yaml"
"$CPGO" run -c "$T/c5.yaml" >"$T/d5b.log" 2>&1 &
pid=$!
sleep 9
kill -TERM "$pid"; wait "$pid"
n=$(grep -c 'published: branch updated' "$T/d5b.log")
check "daemon: min_interval 3s over 9s: 2 to 4 publishes ($n)" [ "$n" -ge 2 ] && [ "$n" -le 4 ]
check "daemon: still one commit on top" [ "$(git -C "$R5" rev-list --count "main..$BR")" = 1 ]
scr=$(($(grep -c 'scrape merged' "$T/d5.log") + $(grep -c 'scrape merged' "$T/d5b.log")))
pend=$(grep 'msg=stopped\|pending' "$T/d5b.log" | tail -1)
got=$(branch_samples "$R5" "$BR" default.pgo)
check "daemon: the branch holds at most every scrape ($got vs $scr x $S)" [ "$got" -le $((scr * S)) ] && [ "$got" -ge $((2 * S)) ]
[ -n "$pend" ] || true

stop_fleet
finish

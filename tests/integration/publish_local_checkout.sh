#!/usr/bin/env bash
# Local forge, reliability T12: when the head branch is checked out in a working tree of the
# local repository -- the main one, a linked one (`git worktree add`, also of a bare
# repository), or as an unborn branch (`git checkout --orphan`) -- cpgo does not move it
# under that working tree (its index and files would then describe the old commit, and
# the next commit there would revert cpgo's). The round is refused as `git push` refuses
# it, with a message naming the branch and the working tree; the branch, HEAD and the
# files stay as they were; once the branch is no longer checked out, the next round
# publishes everything still pending.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 11 -samples 200 -locations 100 -functions 50
S=$(samples_in "$P")
start_fleet "$T" --profile "$P" --count 1 || finish
PORT=$(awk '{print $1; exit}' "$T/ports")
BR=cpgo/main/default.pgo
mkrepo() { # mkrepo DIR
  rm -rf "$1"
  git init -q -b main "$1"
  echo 'package main' >"$1/main.go"
  git -C "$1" add -A
  git -C "$1" -c user.name=Human -c user.email=human@example.com commit -q -m init
}
mkcfg() { # mkcfg REPO
  echo "state_dir: $T/state-$(basename "$1")"
  echo "backends:"
  echo "- url: http://127.0.0.1:$PORT/debug/pprof/profile?seconds=1"
  echo "  schedule: '@every 1m'"
  echo "  timeout: 1500ms"
  echo "  open_pull_request: {repository: $1, target_branch: main}"
}
run_once() { # run_once CONFIG -> $T/out, $rc
  timeout -s KILL 120 "$CPGO" run -c "$1" --once >"$T/out" 2>&1
  rc=$?
  cat "$T/out" >>"$T/all.log"
}
branch_samples() { # branch_samples REPO REV
  git -C "$1" show "$2:default.pgo" >"$T/f.pgo" 2>/dev/null || { echo 0; return; }
  samples_in "$T/f.pgo"
}
tip() { git -C "$1" rev-parse -q --verify "refs/heads/$BR"; }
refused() { grep -q "refusing to update branch '$BR' of .*: it is checked out in the working tree $1" "$T/out"; }

# 1. the head branch checked out in the repository's own working tree
R="$T/repo"
mkrepo "$R"
mkcfg "$R" >"$T/c1.yaml"
run_once "$T/c1.yaml"
check "first round publishes (rc $rc: $(tail -2 "$T/out"))" [ "$rc" -eq 0 ]
git -C "$R" checkout -q "$BR"
t1=$(tip "$R")
run_once "$T/c1.yaml"
check "checked out: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "checked out: refused naming the branch and the working tree ($(grep -o 'error=.*' "$T/out" | head -1))" refused "$R"
check "checked out: the branch did not move" [ "$(tip "$R")" = "$t1" ]
check "checked out: HEAD still names the branch" [ "$(git -C "$R" symbolic-ref HEAD)" = "refs/heads/$BR" ]
check "checked out: the working tree and index are clean" [ -z "$(git -C "$R" status --porcelain)" ]
check "checked out: the file in the working tree is the branch's" \
  cmp -s "$R/default.pgo" <(git -C "$R" show "$BR:default.pgo")
check "checked out: still one scrape on the branch" [ "$(branch_samples "$R" "$BR")" -eq "$S" ]

# 2. a linked working tree (git worktree add) has it checked out
git -C "$R" checkout -q main
git -C "$R" worktree add -q "$T/linked" "$BR"
run_once "$T/c1.yaml"
check "linked worktree: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "linked worktree: refused naming it" refused "$T/linked"
check "linked worktree: the branch did not move" [ "$(tip "$R")" = "$t1" ]
check "linked worktree: its HEAD is unchanged" [ "$(git -C "$T/linked" rev-parse HEAD)" = "$t1" ]
check "linked worktree: its files are clean" [ -z "$(git -C "$T/linked" status --porcelain)" ]

# 3. no longer checked out: the next round publishes everything still pending
git -C "$R" worktree remove "$T/linked"
run_once "$T/c1.yaml"
check "released: published (rc $rc: $(tail -2 "$T/out"))" [ "$rc" -eq 0 ]
check "released: the branch moved" [ "$(tip "$R")" != "$t1" ]
check "released: no scrape lost while refused (4 rounds)" [ "$(branch_samples "$R" "$BR")" -eq $((4 * S)) ]
check "released: main's working tree is untouched" [ -z "$(git -C "$R" status --porcelain)" ]

# 4. a bare repository with a linked working tree on the head branch
B="$T/bare.git"
git init -q --bare -b main "$B"
git -C "$R" push -q "$B" main
mkcfg "$B" >"$T/c4.yaml"
run_once "$T/c4.yaml"
check "bare: first round publishes (rc $rc: $(tail -2 "$T/out"))" [ "$rc" -eq 0 ]
git -C "$B" worktree add -q "$T/bare-linked" "$BR"
bt=$(tip "$B")
run_once "$T/c4.yaml"
check "bare + worktree: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "bare + worktree: refused naming the linked tree" refused "$T/bare-linked"
check "bare + worktree: the branch did not move" [ "$(tip "$B")" = "$bt" ]

# 5. an unborn branch: `git checkout --orphan` of the head branch's name
U="$T/unborn"
mkrepo "$U"
git -C "$U" checkout -q --orphan "$BR"
mkcfg "$U" >"$T/c5.yaml"
run_once "$T/c5.yaml"
check "unborn: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "unborn: refused" refused "$U"
check "unborn: the branch was not created" [ -z "$(tip "$U")" ]
stop_fleet
finish

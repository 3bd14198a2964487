#!/usr/bin/env bash
# `cpgo --version` names the commit cpgo was built from, never a date in its place:
#  (a) the build under test: "cpgo VERSION (commit HASH[-dirty])", HASH the checkout's HEAD
#      (12 hex digits, so `git rev-parse --short HEAD` is a prefix of it);
#  (b) cmake/version.cmake on a scratch repository: the commit, "-dirty" for a changed
#      tracked file (not for an untracked one), the header rewritten only when the commit
#      changes; with no .git, the commit `git archive` wrote into cmake/commit.txt (also
#      when the tarball is extracted inside another repository), else "unknown";
#  (c) a `git archive HEAD` tarball of this tree, configured and built (cpgo only): its
#      --version names HEAD; after a new commit, an incremental build names the new one
#      (the commit is read at build time, not only at configure time), and a build with no
#      new commit relinks nothing.
. "$(dirname "$0")/lib.sh"
: "${CPGO_SRC:?run through ctest}"
command -v git >/dev/null 2>&1 || { echo "SKIP: git is not installed"; exit 77; }
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t \
  GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
note() { echo "NOTE: $*"; }
G=(git -c "safe.directory=$CPGO_SRC" -C "$CPGO_SRC")
is_prefix() { [ -n "$1" ] && [ "${2#"$1"}" != "$2" ]; } # is_prefix P S
commit_of() { sed -n 's/^cpgo [^ ]* (commit \([^)]*\))$/\1/p' <<<"$1"; }

# ---------------------------------------------------------------- (a) the build under test
out=$("$CPGO" --version)
check "--version is 'cpgo VERSION (commit HASH[-dirty])' or '(commit unknown)': $out" \
  grep -qE '^cpgo [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)$' <<<"$out"
check "--version has no date ($out)" sh -c '! printf "%s" "$1" | grep -qE "[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2}:[0-9]{2}"' _ "$out"
have_head=0
if [ -e "$CPGO_SRC/.git" ] && head=$("${G[@]}" rev-parse --verify HEAD 2>/dev/null); then
  have_head=1
  short=$("${G[@]}" rev-parse --short HEAD)
  c=$(commit_of "$out")
  c=${c%-dirty}
  check "--version's commit ($c) is HEAD ($head); a commit since the build? rebuild" \
    is_prefix "$c" "$head"
  check "git rev-parse --short HEAD ($short) is a prefix of --version's commit ($c)" \
    is_prefix "$short" "$c"
else
  note "(a, c) $CPGO_SRC is not a git checkout: the commit is not compared with HEAD"
fi

# ---------------------------------------------------------------- (b) cmake/version.cmake
V=$CPGO_SRC/cmake/version.cmake
gen() { # gen SRC OUT : runs the script, prints CPGO_COMMIT
  cmake -DSRC="$1" -DOUT="$2" -P "$V" >/dev/null 2>"$T/gen.err" || {
    fail "version.cmake failed on $1: $(head -3 "$T/gen.err")"
    return
  }
  sed -n 's/^#define CPGO_COMMIT "\(.*\)"$/\1/p' "$2"
}
R=$T/repo
mkdir -p "$R/cmake"
cp "$CPGO_SRC/cmake/commit.txt" "$R/cmake/commit.txt"
cp "$CPGO_SRC/.gitattributes" "$R/.gitattributes"
echo one >"$R/file"
git -C "$R" init -q && git -C "$R" add -A && git -C "$R" commit -qm one
A=$(git -C "$R" rev-parse HEAD)
check "a clean checkout: its HEAD, 12 digits" [ "$(gen "$R" "$T/v.h")" = "${A:0:12}" ]
inode=$(stat -c %i "$T/v.h")
gen "$R" "$T/v.h" >/dev/null
check "the same commit again: the header is not rewritten" [ "$(stat -c %i "$T/v.h")" = "$inode" ]
echo untracked >"$R/new-file"
check "an untracked file does not make it dirty" [ "$(gen "$R" "$T/v.h")" = "${A:0:12}" ]
echo two >"$R/file"
check "a changed tracked file: -dirty" [ "$(gen "$R" "$T/v.h")" = "${A:0:12}-dirty" ]
git -C "$R" commit -qam two
B=$(git -C "$R" rev-parse HEAD)
check "a new commit: the new HEAD, clean" [ "$(gen "$R" "$T/v.h")" = "${B:0:12}" ]
mkdir -p "$T/arch"
git -C "$R" archive HEAD | tar -x -C "$T/arch"
check "git archive expands cmake/commit.txt (export-subst)" [ "$(cat "$T/arch/cmake/commit.txt")" = "$B" ]
check "a tarball: the commit git archive wrote" [ "$(gen "$T/arch" "$T/v2.h")" = "${B:0:12}" ]
mkdir -p "$R/inner"
git -C "$R" archive "$A" | tar -x -C "$R/inner"
check "a tarball inside another repository: its own commit, not the outer HEAD" \
  [ "$(gen "$R/inner" "$T/v3.h")" = "${A:0:12}" ]
mkdir -p "$T/plain/cmake"
cp "$CPGO_SRC/cmake/commit.txt" "$T/plain/cmake/"
check "no .git, commit.txt not expanded: unknown" [ "$(gen "$T/plain" "$T/v4.h")" = unknown ]
check "no .git, CPGO_COMMIT in the environment (a docker build): that commit" \
  [ "$(CPGO_COMMIT=$B gen "$T/plain" "$T/v6.h")" = "${B:0:12}" ]
check "CPGO_COMMIT that is not a hash: unknown" \
  [ "$(CPGO_COMMIT=2026-12-02 gen "$T/plain" "$T/v7.h")" = unknown ]
check "a checkout's own HEAD wins over CPGO_COMMIT" [ "$(CPGO_COMMIT=$A gen "$R" "$T/v8.h")" = "${B:0:12}" ]
rm -f "$T/plain/cmake/commit.txt"
check "no .git, no commit.txt: unknown" [ "$(gen "$T/plain" "$T/v5.h")" = unknown ]

# ---------------------------------------------------------------- (c) a tarball, built
if [ "$have_head" -eq 1 ]; then
  S=$T/src
  mkdir -p "$S"
  "${G[@]}" archive HEAD | tar -x -C "$S"
  check "the tarball's cmake/commit.txt is HEAD" [ "$(cat "$S/cmake/commit.txt")" = "$head" ]
  if cmake -S "$S" -B "$T/b" >"$T/configure.log" 2>&1 &&
    cmake --build "$T/b" --target cpgo -j2 >"$T/build.log" 2>&1; then
    out=$("$T/b/cpgo" --version)
    check "a tarball's build names HEAD: $out (HEAD ${head:0:12})" [ "$(commit_of "$out")" = "${head:0:12}" ]
    # the tarball becomes a repository; a commit there must reach the next build
    git -C "$S" init -q && git -C "$S" add -A && git -C "$S" commit -qm tarball
    C=$(git -C "$S" rev-parse HEAD)
    cmake --build "$T/b" --target cpgo -j2 >"$T/build2.log" 2>&1
    out=$("$T/b/cpgo" --version)
    check "an incremental build after a commit names it: $out (HEAD ${C:0:12})" \
      [ "$(commit_of "$out")" = "${C:0:12}" ]
    mtime=$(stat -c %Y.%y "$T/b/cpgo")
    cmake --build "$T/b" --target cpgo -j2 >"$T/build3.log" 2>&1
    check "a build with no new commit relinks nothing" [ "$(stat -c %Y.%y "$T/b/cpgo")" = "$mtime" ]
  else
    fail "the tarball does not configure and build: $(tail -5 "$T/configure.log" "$T/build.log" 2>/dev/null)"
  fi
fi
finish

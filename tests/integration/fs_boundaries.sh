#!/usr/bin/env bash
# Trust boundaries on the file system (reliability T10, T11): below `--output DIR` no symlink
# is followed (DIR/<host> -> /victim, a deeper directory, the file itself), and a FIFO as
# the output file or as github.token_file is refused at once: `--once` exits 1 promptly
# with an error naming the path, and a running daemon still stops on SIGTERM. DIR itself
# may be a symlink (the user's choice). A configuration read from a FIFO still loads at
# start; a reload refuses it at once instead of blocking.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 9 -samples 200 -locations 100 -functions 50
S=$(samples_in "$P")
start_fleet "$T" --profile "$P" --count 1 || finish
PORT=$(awk '{print $1; exit}' "$T/ports")
mkcfg() { # mkcfg STATE [extra top-level lines]
  echo "state_dir: $1"
  echo "shutdown_timeout: 30s"
  [ -n "${2:-}" ] && printf '%s\n' "$2"
  echo "backends:"
  echo "- url: http://127.0.0.1:$PORT/debug/pprof/profile?seconds=1"
  echo "  schedule: '@every 3s'"
  echo "  timeout: 1500ms"
  echo "  open_pull_request: {repository: ${REPO:-https://github.com/acme/svc}, target_file: default.pgo, target_branch: main}"
}
REL=github.com/acme/svc/main/default.pgo
# once NAME OUTDIR [CONFIG]: `cpgo run --once` bounded by 60 s (124 = it hung); sets rc, took, $T/NAME.log
once() {
  local start
  start=$(date +%s)
  timeout -s KILL 60 "$CPGO" run --once -c "${3:-$T/$1.yaml}" --output "$2" >"$T/$1.log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
}
victim_empty() { [ -z "$(find "$T/victim" -mindepth 1 ! -name keep.txt)" ]; }
fresh_victim() { rm -rf "$T/victim"; mkdir -p "$T/victim"; echo mine >"$T/victim/keep.txt"; }

# 0. the good path, through DIR given as a symlink (allowed: the user chose it)
mkcfg "$T/s0" >"$T/c0.yaml"
mkdir -p "$T/real-out"
ln -s "$T/real-out" "$T/out0"
once c0 "$T/out0"
check "DIR as a symlink: published (rc $rc: $(tail -2 "$T/c0.log"))" [ "$rc" -eq 0 ]
check "the file is in the real directory" [ "$(samples_in "$T/real-out/$REL")" -eq "$S" ]

# 1. DIR/<host> -> victim: nothing written there, a clear error, exit 1
fresh_victim
mkcfg "$T/s1" >"$T/c1.yaml"
mkdir -p "$T/out1"
ln -s "$T/victim" "$T/out1/github.com"
once c1 "$T/out1"
check "host symlink: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "host symlink: nothing written into the victim" victim_empty
check "host symlink: the error names the component" \
  grep -q "github.com is a symlink: refused (not followed)" "$T/c1.log"
check "host symlink: the error names the output directory" grep -q -- "--output $T/out1" "$T/c1.log"
check "host symlink: the link is left as it was" [ -L "$T/out1/github.com" ]

# 2. a deeper component: DIR/github.com/acme/svc -> victim
fresh_victim
mkcfg "$T/s2" >"$T/c2.yaml"
mkdir -p "$T/out2/github.com/acme"
ln -s "$T/victim" "$T/out2/github.com/acme/svc"
once c2 "$T/out2"
check "deep symlink: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "deep symlink: nothing written into the victim" victim_empty
check "deep symlink: the error names the component" grep -q "svc is a symlink: refused" "$T/c2.log"

# 3. the file itself is a symlink to a profile elsewhere: not read (its samples would leak
#    into the output), not replaced, reported
fresh_victim
cp "$P" "$T/victim/secret.pgo"
mkcfg "$T/s3" >"$T/c3.yaml"
mkdir -p "$T/out3/github.com/acme/svc/main"
ln -s "$T/victim/secret.pgo" "$T/out3/$REL"
once c3 "$T/out3"
check "file symlink: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "file symlink: the error names the file" grep -q "default.pgo is a symlink: refused" "$T/c3.log"
check "file symlink: still the same link" [ "$(readlink "$T/out3/$REL")" = "$T/victim/secret.pgo" ]
check "file symlink: the victim's file is unchanged" cmp -s "$P" "$T/victim/secret.pgo"

# 4. a FIFO as the output file: refused at once, not waited on
mkcfg "$T/s4" >"$T/c4.yaml"
mkdir -p "$T/out4/github.com/acme/svc/main"
mkfifo "$T/out4/$REL"
once c4 "$T/out4"
check "FIFO output: exit 1, no hang (rc $rc, ${took}s)" [ "$rc" -eq 1 ]
check "FIFO output: prompt (${took}s)" [ "$took" -lt 30 ]
check "FIFO output: the error says FIFO" grep -q "default.pgo is a FIFO: refused, not a regular file" "$T/c4.log"
check "FIFO output: the FIFO is still there" [ -p "$T/out4/$REL" ]
# the daemon: the publish fails each round, and SIGTERM still stops it
"$CPGO" run -c "$T/c4.yaml" --output "$T/out4" >"$T/d4.log" 2>&1 &
pid=$!
wait_for "grep -q 'is a FIFO' '$T/d4.log'" 30
check "daemon: the FIFO output is reported" grep -q 'msg="publish failed".*is a FIFO' "$T/d4.log"
kill -TERM "$pid"
if wait_for "! kill -0 $pid 2>/dev/null" 20; then ok; else fail "SIGTERM did not stop the daemon (FIFO output)"; kill -KILL "$pid"; fi
wait "$pid" 2>/dev/null

# 5. a FIFO as github.token_file: `--once` fails at once naming the file (a github target
#    needs the token); a SIGHUP that meets a FIFO keeps running and SIGTERM stops it
mkfifo "$T/token.fifo"
mkcfg "$T/s5" "github: {token_file: $T/token.fifo}" >"$T/c5.yaml"
start=$(date +%s)
timeout -s KILL 60 "$CPGO" run --once -c "$T/c5.yaml" >"$T/c5.log" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
check "FIFO token: exit 1, no hang (rc $rc)" [ "$rc" -eq 1 ]
check "FIFO token: prompt (${took}s)" [ "$took" -lt 30 ]
check "FIFO token: the error names the setting and the file" \
  grep -q "github.token_file: $T/token.fifo is a FIFO: refused" "$T/c5.log"
printf 'tok-%s\n' 0123456789abcdef >"$T/token.txt"
chmod 600 "$T/token.txt"
# a local repository (forge local): the token is read on reload, but not needed
git init -q -b main "$T/repo"
git -C "$T/repo" -c user.name=Human -c user.email=human@example.com commit -q --allow-empty -m init
REPO="$T/repo" mkcfg "$T/s6" "github: {token_file: $T/token.txt}" >"$T/c6.yaml"
"$CPGO" run -c "$T/c6.yaml" >"$T/d6.log" 2>&1 &
pid=$!
wait_for "grep -q 'GitHub token loaded' '$T/d6.log'" 30
check "the token file is read at start" grep -q 'GitHub token loaded' "$T/d6.log"
rm -f "$T/token.txt"
mkfifo "$T/token.txt"
kill -HUP "$pid"
wait_for "grep -q 'token_file.*is a FIFO' '$T/d6.log'" 20
check "reload: the FIFO token is reported" grep -q "token_file: $T/token.txt is a FIFO" "$T/d6.log"
check "reload: the daemon keeps running" kill -0 "$pid"
kill -TERM "$pid"
if wait_for "! kill -0 $pid 2>/dev/null" 20; then ok; else fail "SIGTERM did not stop the daemon (FIFO token on reload)"; kill -KILL "$pid"; fi
wait "$pid" 2>/dev/null
check "no token in the log" bash -c "! grep -q 0123456789abcdef '$T/d6.log'"

# 6. the configuration read from a FIFO: the first load reads it (a pipe is fine on the main
#    thread); a reload cannot read it again and says so at once, and SIGTERM still works
mkcfg "$T/s7" >"$T/c7.yaml"
mkfifo "$T/config.fifo"
"$CPGO" run -c "$T/config.fifo" --output "$T/out7" >"$T/d7.log" 2>&1 &
pid=$!
cat "$T/c7.yaml" >"$T/config.fifo"
wait_for "grep -q 'msg=published' '$T/d7.log'" 30
check "config from a FIFO: the daemon runs and publishes" grep -q 'msg=published' "$T/d7.log"
kill -HUP "$pid"
wait_for "grep -q 'reload refused' '$T/d7.log'" 20
check "reload of a FIFO config: refused with a reason" \
  grep -q "reload refused.*config.fifo: cannot read again: it is a FIFO or pipe" "$T/d7.log"
kill -TERM "$pid"
if wait_for "! kill -0 $pid 2>/dev/null" 20; then ok; else fail "SIGTERM did not stop the daemon (FIFO config on reload)"; kill -KILL "$pid"; fi
wait "$pid" 2>/dev/null
stop_fleet
finish

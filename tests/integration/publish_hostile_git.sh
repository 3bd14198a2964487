#!/usr/bin/env bash
# Hostile git servers: one that accepts connections and never answers, one that answers
# garbage, and a port where nothing listens. Each publish fails with a clear, transient
# error naming the repository within the configured deadlines (git.timeout), no pool thread
# stays stuck (--once ends, the daemon stops on SIGTERM within shutdown_timeout), and the
# scrapes gathered meanwhile stay pending.
. "$(dirname "$0")/lib.sh"
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 8 -samples 100 -locations 60 -functions 30
start_fleet "$T" --profile "$P" --count 1 || finish
FP=$(awk '{print $1}' "$T/ports")
python3 - "$T/hostile.ports" <<'PY' &
import socket, sys, threading, time
def serve(kind, s):
    conns = []
    while True:
        c, _ = s.accept()
        conns.append(c)
        if kind == "garbage":
            try:
                c.recv(65536)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\nContent-Length: 20\r\n\r\n\x00\x01\x02garbage-garbage!!")
                c.close()
            except OSError:
                pass
ports = []
for kind in ("silent", "garbage"):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
    ports.append(s.getsockname()[1])
    threading.Thread(target=serve, args=(kind, s), daemon=True).start()
s = socket.socket(); s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1]); s.close()  # closed
open(sys.argv[1] + ".tmp", "w").write(" ".join(map(str, ports)))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(300)
PY
HOST_PID=$!
trap 'kill $HOST_PID 2>/dev/null; stop_fleet' EXIT
wait_for "[ -s '$T/hostile.ports' ]" 10
read -r SILENT GARBAGE CLOSED <"$T/hostile.ports"
mkcfg() { # mkcfg PORT
  cat <<YAML
state_dir: $T/state-$1
shutdown_timeout: 2s
git: {timeout: 2s}
backends:
- url: http://127.0.0.1:$FP/debug/pprof/profile?seconds=1
  schedule: '@every 2s'
  timeout: 1500ms
  open_pull_request: {repository: 'http://127.0.0.1:$1/acme/app.git', forge: local, target_branch: main, min_interval: 1s}
YAML
}
for case in "silent $SILENT" "garbage $GARBAGE" "closed $CLOSED"; do
  set -- $case
  mkcfg "$2" >"$T/$1.yaml"
  start=$(date +%s%N)
  timeout 60 "$CPGO" run -c "$T/$1.yaml" --once >"$T/$1.out" 2>&1
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  check "$1 server: --once ends with 1 (rc $rc, ${ms} ms)" [ "$rc" -eq 1 ]
  check "$1 server: within the deadlines (${ms} ms)" [ "$ms" -lt 15000 ]
  check "$1 server: the error names the repository ($(grep -m1 'publish failed' "$T/$1.out" | head -c 300))" \
    grep -q "publish failed; the next round retries.*127.0.0.1:$2" "$T/$1.out"
  check "$1 server: the scrape stays pending" grep -q 'pending_scrapes=1' "$T/$1.out"
done
# the daemon against the silent server: it keeps scraping, and stops on SIGTERM
"$CPGO" run -c "$T/silent.yaml" >"$T/daemon.out" 2>&1 &
pid=$!
check "daemon: publishes keep failing cleanly" wait_for "[ \$(grep -c 'publish failed' '$T/daemon.out') -ge 2 ]" 30
check "daemon: scraping goes on" [ "$(grep -c 'scrape merged' "$T/daemon.out")" -ge 2 ]
start=$(date +%s%N)
kill -TERM $pid; wait $pid
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "daemon: SIGTERM exits 0 (rc $rc) within shutdown_timeout + git timeout (${ms} ms)" [ "$rc" -eq 0 ] && [ "$ms" -lt 8000 ]

# one target stuck on a silent git server must not stall the others' scraping: its bodies
# may not fill the shared work queue while its git round holds its lane
stop_fleet
start_fleet "$T" --profile "$P" --count 8 || finish
mapfile -t FP8 < <(awk '{print $1}' "$T/ports")
git init -q -b main "$T/good"
echo 'package main' >"$T/good/main.go"
git -C "$T/good" add -A && git -C "$T/good" -c user.name=H -c user.email=h@x commit -q -m init
{
  echo "state_dir: $T/state-stall"
  echo "shutdown_timeout: 2s"
  echo "git: {timeout: 60s}"
  echo "limits: {max_queued_bodies: 8}"
  echo "backends:"
  for i in 0 1 2 3 4 5; do
    echo "- {name: stuck-$i, url: 'http://127.0.0.1:${FP8[$i]}/debug/pprof/profile?seconds=1', schedule: '@every 2s', timeout: 1500ms,"
    echo "   open_pull_request: {repository: 'http://127.0.0.1:$SILENT/acme/app.git', forge: local, target_branch: main, min_interval: 1s}}"
  done
  for i in 6 7; do
    echo "- {name: good-$i, url: 'http://127.0.0.1:${FP8[$i]}/debug/pprof/profile?seconds=1', schedule: '@every 2s', timeout: 1500ms,"
    echo "   open_pull_request: {repository: '$T/good', min_interval: 1s}}"
  done
} >"$T/stall.yaml"
"$CPGO" run -c "$T/stall.yaml" >"$T/stall.out" 2>&1 &
pid=$!
sleep 14
good=$(grep -c 'scrape merged" backend=good' "$T/stall.out")
check "a stuck target does not stall the others ($good scrapes of the healthy target in 14 s)" [ "$good" -ge 8 ]
check "the stuck target's ticks are skipped and said so" grep -q 'target is busy publishing' "$T/stall.out"
check "the healthy target publishes" grep -q 'published: branch updated" target=local' "$T/stall.out"
start=$(date +%s%N)
kill -TERM $pid; wait $pid
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "stuck transfer: SIGTERM still exits 0 soon after shutdown_timeout (rc $rc, ${ms} ms)" [ "$rc" -eq 0 ] && [ "$ms" -lt 6000 ]
check "stuck transfer: said why it did not wait" grep -q 'git transfer still running' "$T/stall.out"
finish

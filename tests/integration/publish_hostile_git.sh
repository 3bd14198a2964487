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
  open_pull_request: {repository: 'http://127.0.0.1:$1/acme/app.git', forge: local, min_interval: 1s}
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
finish

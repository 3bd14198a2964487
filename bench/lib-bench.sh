# lib-bench.sh - shared helpers for bench/soak and bench/report (sourced, not run).
# The tools come from the environment when set, else from build/:
#   CPGO            the cpgo binary                      (default build/cpgo)
#   CPGO_FAKEFLEET  the fake fleet                       (default <cpgo's dir>/tests/fakefleet/cpgo-fakefleet)
#   CPGO_TESTGEN    the profile generator                (default <cpgo's dir>/tests/cpgo-testgen)
# Paths are made absolute, so callers may cd.

# bench_tools NAME: sets CPGO, CPGO_FAKEFLEET, CPGO_TESTGEN and BENCH_BUILD (cpgo's
# directory), or prints what to do and exits 2.
bench_tools() {
  local name=$1 missing=0 v
  CPGO=${CPGO:-build/cpgo}
  BENCH_BUILD=$(dirname "$CPGO")
  CPGO_FAKEFLEET=${CPGO_FAKEFLEET:-$BENCH_BUILD/tests/fakefleet/cpgo-fakefleet}
  CPGO_TESTGEN=${CPGO_TESTGEN:-$BENCH_BUILD/tests/cpgo-testgen}
  for v in CPGO CPGO_FAKEFLEET CPGO_TESTGEN; do
    if [ ! -x "${!v}" ]; then
      echo "$name: $v=${!v} is not an executable" >&2
      missing=1
    fi
  done
  if [ "$missing" -ne 0 ]; then
    echo "$name: build first with scripts/build (-> build/), or point CPGO=, CPGO_FAKEFLEET=" \
      "and CPGO_TESTGEN= at another build" >&2
    exit 2
  fi
  CPGO=$(realpath "$CPGO")
  CPGO_FAKEFLEET=$(realpath "$CPGO_FAKEFLEET")
  CPGO_TESTGEN=$(realpath "$CPGO_TESTGEN")
  BENCH_BUILD=$(dirname "$CPGO")
  export CPGO CPGO_FAKEFLEET CPGO_TESTGEN
}

# bench_free_port: a TCP port on 127.0.0.1 that was free a moment ago.
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# bench_alive PID: true while PID exists and is not a zombie (a child not yet reaped).
bench_alive() {
  local st
  st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# bench_stop PID [GRACE_S]: SIGTERM, then SIGKILL after GRACE_S (default 5) seconds, then
# reaps it. Only for processes this script started.
bench_stop() {
  local pid=$1 grace=${2:-5} i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 $((grace * 10))); do
    bench_alive "$pid" || break
    sleep 0.1
  done
  bench_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

# bench_machine: one "key: value" line per fact about this machine and tree.
bench_machine() {
  local mem cpu os gov
  mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
  os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")
  if command -v go >/dev/null 2>&1; then gov=$(go version | awk '{print $3}'); else gov="not on PATH"; fi
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "cpus: $(nproc) (${cpu:-unknown model})"
  echo "memory: $mem"
  echo "os: ${os:-unknown}"
  echo "kernel: $(uname -sr) $(uname -m)"
  echo "go: $gov"
  echo "cpgo: $("$CPGO" --version 2>&1 | head -1) ($CPGO)"
  echo "tree: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ -z "$(git status --porcelain -- src 2>/dev/null)" ] || echo ' + uncommitted changes in src/')"
  echo "fd limit: $(ulimit -Sn) soft, $(ulimit -Hn) hard"
}

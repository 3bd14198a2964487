#!/usr/bin/env bash
# Secrets never shown, by construction (issue 9, section 4), seen from outside a running
# daemon:
# - backends that echo what they are sent (the Basic credential curl builds from a URL
#   password, a Bearer header, an API-key header, secret query values) back in a 403's
#   first line and in a 200 HTML page, in every form: as received, percent-decoded,
#   percent-encoded, base64, and placed where the error text is cut (120 characters of a
#   first line, 64 bytes of a body prefix);
# - a fake GitHub that echoes the token in every form (raw, the credential alone,
#   percent-encoded, base64, as Basic) and across the cut of its error line, then a 401
#   that stops GitHub work;
# then not one 6-character piece of any secret, in any form, is in the logs (debug level),
# /status, /metrics or anywhere under state_dir; and the daemon is not dumpable once it
# holds a token (and dumpable without one: the check can tell).
. "$(dirname "$0")/lib.sh"
BACKEND=/usr/lib/git-core/git-http-backend
if ! command -v lighttpd >/dev/null 2>&1 || [ ! -x "$BACKEND" ] || ! command -v python3 >/dev/null; then
  echo "SKIP: needs lighttpd, git http-backend and python3 (scripts/setup-deps installs them)"
  exit 77
fi
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
TOKEN="ghs_$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PASS='p@ss/w0rd-S3CRETpw'       # in the URL as p%40ss%2Fw0rd-S3CRETpw
QSECRET='QUERY/SECRET-99xyz'    # ?token=QUERY%2FSECRET-99xyz
HDR='HDRSECRET-0123456789abcdef' # Authorization: Bearer ...
APIKEY='APIKEY-abcdef012345'    # X-Api-Key
SIG='SIGN4TURE-value-42'        # ?sig=...

# the git server and the fake GitHub (both check the token)
start_git_http "$T/srv" "$TOKEN" acme || finish
GIT_PID=$GIT_HTTP_PID
GPORT=$GIT_HTTP_PORT_USED
FAKE_GITHUB_TOKEN="$TOKEN" python3 "$CPGO_SRC/tests/support/fake_github.py" --port-file "$T/gh.port" \
  --lifetime 600 >"$T/gh.out" 2>&1 &
GH_PID=$!
# the echoing backend: /<form>/<status>/debug/pprof/profile
python3 - "$T/echo.port" <<'PY' &
import base64, http.server, os, sys, threading
from urllib.parse import quote, unquote
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        _, form, status, _ = self.path.split("/", 3)
        status = int(status)
        auth = self.headers.get("Authorization") or ""
        cred = auth.split(" ", 1)[-1]
        basic = base64.b64decode(cred).decode() if auth.startswith("Basic ") else ""
        items = [x for x in (auth, cred, basic, self.path, self.headers.get("X-Api-Key") or "") if x]
        if form == "raw":
            text = " ".join(items)
        elif form == "decoded":
            text = " ".join(unquote(x) for x in items)
        elif form == "percent":
            text = " ".join(quote(x, safe="") for x in items)
        elif form == "base64":
            text = " ".join(base64.b64encode(unquote(x).encode()).decode() for x in items)
        else:  # pad, padq: one secret where the error text is cut
            pad = 105 if status >= 400 else 50
            text = "." * pad + (cred if form == "pad" else unquote(self.path.rsplit("=", 1)[1]))
        body = ("<html>%s</html>\n" % text).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
threading.Timer(300, srv.shutdown).start()
srv.serve_forever()
PY
ECHO_PID=$!
pid=
trap 'kill $GIT_PID $GH_PID $ECHO_PID $pid 2>/dev/null; stop_fleet; wait 2>/dev/null' EXIT
wait_for "[ -s '$T/gh.port' ] && [ -s '$T/echo.port' ]" 10 || { fail "helpers did not start"; finish; }
API="http://127.0.0.1:$(cat "$T/gh.port")"
EP=$(cat "$T/echo.port")
ctl() { curl -s -X POST -d "$1" "$API/_control" >/dev/null; }
# every GitHub request fails once, echoing the token: in every form, across the 160-character
# cut of the message (JSON and an HTML page), and last a 401 that stops GitHub work
for f in '"form": "all"' '"form": "raw", "pad": 130' '"form": "token", "pad": 140, "html": true' \
  '"form": "base64", "pad": 120' '"form": "basic", "pad": 125, "html": true' \
  '"form": "percent", "pad": 128' '"form": "all", "status": 401'; do
  ctl "{\"action\": \"fault\", \"kind\": \"echo_auth\", $f}"
done

P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 21 -samples 100 -locations 60 -functions 30
start_fleet "$T" --profile "$P" --count 1 || finish
FP=$(awk '{print $1}' "$T/ports")
git init -q -b main "$T/repo"
echo 'package main' >"$T/repo/main.go"
git -C "$T/repo" add -A && git -C "$T/repo" -c user.name=H -c user.email=h@x commit -q -m init
NAMES=()
{
  echo "state_dir: $T/state"
  echo "listen: 127.0.0.1:0"
  echo "github: {api_url: '$API'}"
  echo "backends:"
  echo "- url: http://127.0.0.1:$FP/debug/pprof/profile?seconds=1"
  echo "  name: good"
  echo "  schedule: '@every 2s'"
  echo "  timeout: 1500ms"
  echo "  open_pull_request: {repository: 'http://127.0.0.1:$GPORT/acme/app.git', forge: github, min_interval: 1s}"
  for form in raw decoded percent base64 pad padq; do
    for st in 403 200; do
      echo "- url: 'http://scraper:p%40ss%2Fw0rd-S3CRETpw@127.0.0.1:$EP/$form/$st/debug/pprof/profile?seconds=1&token=QUERY%2FSECRET-99xyz'"
      echo "  name: echo-basic-$form-$st"
      echo "  schedule: '@every 2s'"
      echo "  timeout: 1500ms"
      echo "  open_pull_request: {repository: '$T/repo', target_file: echo/default.pgo}"
      echo "- url: 'http://127.0.0.1:$EP/$form/$st/debug/pprof/profile?seconds=1&sig=$SIG'"
      echo "  name: echo-bearer-$form-$st"
      echo "  schedule: '@every 2s'"
      echo "  timeout: 1500ms"
      echo "  headers: {Authorization: 'Bearer $HDR', X-Api-Key: '$APIKEY'}"
      echo "  open_pull_request: {repository: '$T/repo', target_file: echo/default.pgo}"
    done
  done
} >"$T/config.yaml"
for form in raw decoded percent base64 pad padq; do
  for st in 403 200; do NAMES+=("echo-basic-$form-$st" "echo-bearer-$form-$st"); done
done

GITHUB_TOKEN="$TOKEN" "$CPGO" run -c "$T/config.yaml" -v 2>"$T/log" &
pid=$!
check "listening" wait_for "grep -q 'admin endpoint listening' '$T/log'" 20
PORT=$(grep -o 'admin endpoint listening.* port=[0-9]*' "$T/log" | grep -o '[0-9]*$')
all_failed() {
  local n
  for n in "${NAMES[@]}"; do grep -q "backend=$n .*class=" "$T/log" || return 1; done
}
check "every echoing backend was scraped and failed" wait_for all_failed 90
check "GitHub echoed every form, then stopped GitHub work (401)" \
  wait_for "grep -q 'forge authentication failed' '$T/log'" 120
curl -s "http://127.0.0.1:$PORT/status" >"$T/status.json"
curl -s "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
kill -TERM $pid
wait $pid
check "exit 0" [ $? -eq 0 ]
pid=

# what was shown is still useful: the class, the quoted text, the scrub mark
check "403 echoes: first line quoted, scrubbed" \
  grep -q 'backend=echo-bearer-raw-403 .*class=http_4xx.*HTTP 403: <html>\*\*\*\* ' "$T/log"
check "200 echoes: body prefix quoted, scrubbed" \
  grep -q 'backend=echo-basic-raw-200 .*class=bad_payload.*body starts: \\"<html>Basic \*\*\*\*' "$T/log"
check "the cut: dots up to the mark, nothing after" \
  grep -q 'backend=echo-bearer-pad-403 .*HTTP 403: <html>\.*\*\*\*\*' "$T/log"
check "a secret query value at the cut, likewise" \
  grep -q 'backend=echo-basic-padq-403 .*HTTP 403: <html>\.*\*\*\*\*' "$T/log"
check "GitHub errors quote the message, scrubbed" grep -q 'pull request failed.*Token Bearer \*\*\*\*' "$T/log"
check "/status carries the scrubbed errors" python3 - "$T/status.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
b = {x["name"]: x for x in d["backends"]}
assert "****" in b["echo-bearer-raw-403"]["last_error"], b["echo-bearer-raw-403"]
assert "xxxxx" in b["echo-basic-raw-403"]["url"] and "scraper:xxxxx@" in b["echo-basic-raw-403"]["url"]
assert d["github"]["stopped"] and "****" in d["github"]["stop_reason"], d["github"]
PY

# not one piece of any secret, in any form, anywhere
check "no piece of any secret in logs, /status, /metrics or state_dir" python3 - "$T" "$TOKEN" \
  "$PASS" "$QSECRET" "$HDR" "$APIKEY" "$SIG" <<'PY'
import base64, os, re, sys
from urllib.parse import quote
t, token, pw, qs, hdr, apikey, sig = sys.argv[1:]
K = 6
def pieces(s, start=0, end=None):
    end = len(s) if end is None else end
    return {s[i:i + K] for i in range(start, end - K + 1)}
def b64_pieces(prefix, secret):
    """the base64 characters of prefix+secret that come from the secret alone"""
    enc = base64.b64encode((prefix + secret).encode()).decode()
    first = (8 * len(prefix) + 5) // 6
    last = 8 * len(prefix + secret) // 6
    return pieces(enc, first, last)
want = set()
for s in (token, pw, qs, hdr, apikey, sig):
    enc = quote(s, safe="")
    for form in (s, enc, re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), enc)):
        want |= pieces(form)
    for pad in ("", "a", "ab"):
        want |= b64_pieces(pad, s)
want |= b64_pieces("scraper:", pw) | b64_pieces("Bearer ", hdr) | b64_pieces("Bearer ", token)
want |= b64_pieces("x-access-token:", token)
files = [os.path.join(t, n) for n in ("log", "status.json", "metrics")]
for root, _, names in os.walk(os.path.join(t, "state")):
    files += [os.path.join(root, n) for n in names]
bad = []
for f in files:
    data = open(f, "rb").read().decode("latin-1")
    bad += ["%s: %r" % (f, p) for p in want if p in data]
print("\n".join(sorted(bad)[:10]), file=sys.stderr)
print("%d files, %d pieces looked for" % (len(files), len(want)))
sys.exit(1 if bad else 0)
PY

# not dumpable once a token is loaded: as an unprivileged user, a non-dumpable process's
# /proc/<pid> files belong to root
ND="$T/nd"
mkdir -p "$ND"
cat >"$ND/config.yaml" <<YAML
state_dir: $ND/state
backends:
- url: http://127.0.0.1:$FP/debug/pprof/profile?seconds=1
  schedule: '@hourly'
  open_pull_request: {repository: '$T/repo', target_file: nd/default.pgo}
YAML
RUNAS=()
if ldd "$CPGO" 2>/dev/null | grep -q libtsan; then
  # ThreadSanitizer's runtime does not start as another user from a copied binary here;
  # the normal and ASan builds check dumpability, this build checks races
  echo "note: ThreadSanitizer build: the dumpable check is left to the other builds"
  finish
fi
if [ "$(id -u)" = 0 ]; then
  chown -R 65534:65534 "$ND"
  RUNAS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  # the build may sit below a directory only root can enter (a mktemp -d clone): then the
  # binary and the configuration move to a directory the unprivileged user can reach
  if ! "${RUNAS[@]}" sh -c "test -x '$CPGO' && test -r '$ND/config.yaml' && test -w '$ND'" 2>/dev/null; then
    ND2=$(mktemp -d /tmp/cpgo-nd.XXXXXX)
    chmod 755 "$ND2"
    cp "$CPGO" "$ND2/cpgo"
    sed "s|$ND/state|$ND2/state|" "$ND/config.yaml" >"$ND2/config.yaml"
    chown -R 65534:65534 "$ND2"
    CPGO_ND="$ND2/cpgo"
    ND="$ND2"
    trap 'rm -rf "$ND2"' EXIT
  fi
fi
owner_of_proc() { # CONFIG [ENV...] -> the uid owning /proc/<pid>/status once it runs
  local cfg=$1 p
  shift
  env "$@" "${RUNAS[@]}" "${CPGO_ND:-$CPGO}" run -c "$cfg" 2>"$ND/log" &
  p=$!
  # "starting" comes after the token is loaded
  wait_for "grep -q 'msg=starting' '$ND/log'" 20
  stat -c %u "/proc/$p/status"
  [ "$(awk '/^Uid:/ {print $2}' "/proc/$p/status")" != 0 ] || echo "runs-as-root"
  kill -TERM $p
  wait $p 2>/dev/null
}
with=$(owner_of_proc "$ND/config.yaml" GITHUB_TOKEN="$TOKEN")
without=$(owner_of_proc "$ND/config.yaml" GITHUB_TOKEN=)
if echo "$with $without" | grep -q runs-as-root; then
  echo "note: cannot run the daemon unprivileged here; dumpable check skipped"
else
  check "with a token loaded: not dumpable (/proc/pid owned by root, was $with)" [ "$with" = 0 ]
  check "without secrets: dumpable (so the check can tell; owner $without)" [ "$without" != 0 ]
fi
finish

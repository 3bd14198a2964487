#!/usr/bin/env bash
# What the daemon says about itself (issue 15, "what cpgo says"):
#  - `listen: ':0'` binds every interface (logged so) and 127.0.0.1 reaches it;
#  - /metrics parses with prometheus_client's parser and names exactly the families of
#    docs/METRICS.md; cpgo_build_info, the process_* metrics, the reload gauges; no value
#    below zero (no -1 placeholder); GitHub's gauges absent without GitHub;
#  - a configured backend's counters exist at zero before its first scrape, a target's
#    last-publish timestamp is absent until it published;
#  - attempts and outcomes apart: a busy backend with 2 retries makes 3 attempts per
#    scheduled scrape, counted once in cpgo_scrapes_total, as /status counts it;
#  - a publish deferred by min_interval is logged at info with its time (RFC 3339), which
#    /status shows as next_publish (null where nothing waits);
#  - /status names the head branch after a restart, before any publish (the one the last
#    round resolved: the profile was found at cmd/app/default.pgo, not at the root);
#  - a refused reload sets cpgo_config_last_reload_successful to 0, a good one back to 1
#    and the removed backends' and targets' series leave /metrics.
. "$(dirname "$0")/lib.sh"
export HOME="$T" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
# Debian's python3-prometheus-client is for the system python3, which may not be the first
# python3 on PATH
PYPROM=
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import prometheus_client' 2>/dev/null; then PYPROM=$py; break; fi
done
if [ -z "$PYPROM" ]; then
  echo "SKIP: python3-prometheus-client is missing (scripts/setup-deps installs it)"
  exit 77
fi
T0=$(date +%s)
P="$T/p.pb.gz"
"$CPGO_TESTGEN" -o "$P" -seed 5 -samples 100 -locations 60 -functions 30
start_fleet "$T" --profile "$P" --count 1 || finish
APP=$(awk '{print $1}' "$T/ports")
"$CPGO_FAKEFLEET" --profile "$P" --port-file "$T/ports.busy" --behaviour busy --count 1 \
  --duration 300 2>>"$T/fleet.log" &
F2=$!
wait_for "[ -s '$T/ports.busy' ]" 10
BUSY=$(awk '{print $1}' "$T/ports.busy")
# the repository holds the profile below cmd/app: a bare target_file finds it there, and
# the head branch is named after that path
git init -q -b main "$T/repo"
mkdir -p "$T/repo/cmd/app"
echo 'package main' >"$T/repo/cmd/app/main.go"
cp "$P" "$T/repo/cmd/app/default.pgo"
git -C "$T/repo" add -A && git -C "$T/repo" -c user.name=H -c user.email=h@x commit -q -m init
mkcfg() { # mkcfg [all]: app; with "all" also busy and idle
  cat <<YAML
state_dir: $T/state
listen: ':0'
backends:
- url: http://127.0.0.1:$APP/debug/pprof/profile?seconds=1
  name: app
  schedule: '@every 2s'
  timeout: 1500ms
  open_pull_request: {repository: $T/repo, min_interval: 1h}
YAML
  [ "${1:-}" = all ] || return 0
  cat <<YAML
- url: http://127.0.0.1:$BUSY/debug/pprof/profile?seconds=1
  name: busy
  schedule: '@every 20s'
  timeout: 1500ms
  retries: 2
  open_pull_request: {repository: $T/repo, target_file: busy/default.pgo, min_interval: 1h}
- url: http://127.0.0.1:$APP/debug/pprof/profile?seconds=1
  name: idle
  schedule: '0 0 1 1 *'
  timeout: 1500ms
  open_pull_request: {repository: $T/repo, target_file: idle/default.pgo}
YAML
}
mkcfg all >"$T/config.yaml"
start_daemon() { # start_daemon LOG: sets pid and A (the admin endpoint on 127.0.0.1)
  "$CPGO" run -c "$T/config.yaml" 2>"$1" &
  pid=$!
  wait_for "grep -q 'admin endpoint listening' '$1'" 10 || { fail "no admin endpoint: $(tail -3 "$1")"; return 1; }
  A="http://127.0.0.1:$(grep -o 'admin endpoint listening.* port=[0-9]*' "$1" | grep -o '[0-9]*$')"
}
start_daemon "$T/log" || finish
trap 'kill $pid $F2 2>/dev/null; stop_fleet' EXIT
metrics() { curl -s "$A/metrics"; }
status() { curl -s "$A/status"; }

# ---- listen ':0': every interface, reached on 127.0.0.1
check "':0' is logged as every interface" \
  grep -qE 'admin endpoint listening.* address=("?\[::\]|"?0\.0\.0\.0):[0-9]+.* interfaces="every interface"' "$T/log"
check "127.0.0.1 reaches it" [ "$(curl -s -o /dev/null -w '%{http_code}' "$A/healthz")" = 200 ]

# ---- counters at zero before the first event; absent timestamps
metrics >"$T/m0"
check "idle backend: its scrapes counter exists at 0" \
  grep -q '^cpgo_scrapes_total{backend="idle",target="[^"]*idle/default.pgo",class="ok"} 0$' "$T/m0"
check "idle backend: its attempts counter exists at 0" \
  grep -q '^cpgo_scrape_attempts_total{backend="idle",target="[^"]*idle/default.pgo",class="ok"} 0$' "$T/m0"
check "idle backend: its missed ticks exist at 0" grep -q '^cpgo_missed_ticks_total{backend="idle"} 0$' "$T/m0"
check "idle target: merges and failed publishes exist at 0" bash -c \
  "grep -q '^cpgo_profiles_merged_total{target=\"[^\"]*idle/default.pgo\"} 0$' '$T/m0' &&
   grep -q '^cpgo_publishes_total{target=\"[^\"]*idle/default.pgo\",outcome=\"failed\"} 0$' '$T/m0'"
check "idle: no success and no publish timestamp yet" \
  bash -c "! grep -E '^cpgo_(backend_last_success|target_last_publish)_timestamp_seconds\{[^}]*idle' '$T/m0'"

# ---- the app target publishes once, then min_interval defers the next one
check "app published" wait_for "grep -q 'published: branch updated' '$T/log'" 20
check "the next publish is deferred, logged at info with its time" \
  wait_for "grep -qE 'level=info msg=\"publish deferred by min_interval\" target=[^ ]*default.pgo at=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z in=' '$T/log'" 15
AT=$(grep -o 'publish deferred by min_interval.* at=[^ ]*' "$T/log" | head -1 | sed 's/.* at=//')
sleep 1.1 # /status is rendered at most once a second
status >"$T/s1.json"
check "/status: next_publish is the logged time, min_interval after the last publish" python3 - "$T/s1.json" "$AT" <<'PY'
import json, sys, datetime
d = json.load(open(sys.argv[1]))
t = {x["target"]: x for x in d["targets"]}
app = [v for k, v in t.items() if k.endswith(":default.pgo") and "/busy/" not in k and "/idle/" not in k][0]
idle = [v for k, v in t.items() if k.endswith("idle/default.pgo")][0]
ts = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
assert app["next_publish"] == sys.argv[2], (app["next_publish"], sys.argv[2])
delta = ts(app["next_publish"]) - ts(app["last_publish"])
assert 3590 <= delta <= 3610, delta
assert idle["next_publish"] is None, idle
# known from the configuration before any round
assert idle["head_branch"] == "cpgo/main/idle/default.pgo", idle
assert app["head_branch"] == "cpgo/main/cmd/app/default.pgo", app
PY

# ---- attempts and outcomes: busy, 2 retries
BC='backend="busy"'
busy_agree() { # /metrics' failed scrapes of busy == /status' scrapes_failed >= 1
  metrics >"$T/mb"; status >"$T/sb.json"
  python3 - "$T/mb" "$T/sb.json" <<'PY'
import json, re, sys
m = open(sys.argv[1]).read()
s = sum(float(v) for c, v in re.findall(r'^cpgo_scrapes_total\{backend="busy",target="[^"]*",class="(\w+)"\} (\S+)$', m, re.M) if c != "ok")
b = [x for x in json.load(open(sys.argv[2]))["backends"] if x["name"] == "busy"][0]
sys.exit(0 if s >= 1 and s == b["scrapes_failed"] and b["scrapes_ok"] == 0 else 1)
PY
}
# its retries (1-2 s apart: the profile's seconds) end well before its next tick
check "busy: cpgo_scrapes_total counts what /status counts" wait_for busy_agree 60
check "busy: 3 attempts (1 + 2 retries) per scheduled scrape, each outcome once" python3 - "$T/mb" <<'PY'
import re, sys
m = open(sys.argv[1]).read()
def get(fam, cls):
    r = re.search(r'^%s\{backend="busy",target="[^"]*",class="%s"\} (\S+)$' % (fam, cls), m, re.M)
    return float(r.group(1)) if r else 0
s, a = get("cpgo_scrapes_total", "busy"), get("cpgo_scrape_attempts_total", "busy")
# a scheduled scrape may have begun its attempts since the last one ended
ok = s >= 1 and 3 * s <= a <= 3 * s + 3
print(f"scrapes {s}, attempts {a}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY

# ---- the whole page through a real parser; the documented families; no placeholders
metrics >"$T/m1"
status >"$T/s2.json"
check "/metrics: prometheus_client parses it; families, values and documentation agree" \
  "$PYPROM" - "$T/m1" "$CPGO_SRC/docs/METRICS.md" "$T/s2.json" "$T0" <<'PY'
import json, re, sys, time
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fams = {f.name: f for f in text_string_to_metric_families(text)}
# the parser strips _total from counters: the names as written on # TYPE lines
typed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
documented = set(re.findall(r"^\| `([a-z_:]+)` \|", open(sys.argv[2]).read(), re.M))
errs = []
if typed != documented:
    errs.append(f"undocumented: {sorted(typed - documented)}, documented but absent: {sorted(documented - typed)}")
samples = [s for f in fams.values() for s in f.samples]
neg = [s for s in samples if s.value < 0]
if neg: errs.append(f"negative values: {neg[:3]}")
def one(name, **labels):
    got = [s for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return got[0].value if len(got) == 1 else None
st = json.load(open(sys.argv[3]))
bi = [s for s in samples if s.name == "cpgo_build_info"]
if len(bi) != 1 or bi[0].value != 1 or bi[0].labels.get("version") != st["version"] or not bi[0].labels.get("commit"):
    errs.append(f"build_info: {bi}")
now, t0 = time.time(), float(sys.argv[4])
pf = {n: one(n) for n in ("process_cpu_seconds_total", "process_resident_memory_bytes",
      "process_virtual_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds")}
if None in pf.values(): errs.append(f"process metrics missing: {pf}")
else:
    if not (0 < pf["process_open_fds"] <= pf["process_max_fds"]): errs.append(f"fds: {pf}")
    if not (0 < pf["process_resident_memory_bytes"] <= pf["process_virtual_memory_bytes"]): errs.append(f"memory: {pf}")
    if not (t0 - 5 <= pf["process_start_time_seconds"] <= now + 1): errs.append(f"start time: {pf} t0 {t0}")
    if fams["process_cpu_seconds"].type != "counter": errs.append("process_cpu_seconds_total is not a counter")
if one("cpgo_config_last_reload_successful") != 1: errs.append("reload successful != 1")
rt = one("cpgo_config_last_reload_success_timestamp_seconds")
if rt is None or not (t0 - 5 <= rt <= now + 1): errs.append(f"reload timestamp {rt}")
for g in ("cpgo_github_rate_limit_remaining", "cpgo_github_stopped"):
    if any(s.name == g for s in samples): errs.append(f"{g} has a value without GitHub")
lp = {s.labels["target"]: s.value for s in samples if s.name == "cpgo_target_last_publish_timestamp_seconds"}
app = [k for k in lp if k.endswith(":default.pgo") and "/busy/" not in k and "/idle/" not in k]
if not app or not (t0 <= lp[app[0]] <= now + 1): errs.append(f"app's last publish timestamp: {lp}")
if any(k.endswith("idle/default.pgo") for k in lp): errs.append(f"idle has a last publish timestamp: {lp}")
print("\n".join(errs), file=sys.stderr)
sys.exit(1 if errs else 0)
PY
check "no -1 anywhere on the page" bash -c "! grep -E ' -1$' '$T/m1'"

# ---- a restart: the head branch is known before any publish
kill -TERM $pid
wait $pid
check "exit 0" [ $? -eq 0 ]
start_daemon "$T/log2" || finish
check "ready after the restart" wait_for "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $A/readyz)\" = 200 ]" 15
sleep 1.1
status >"$T/s3.json"
check "/status: the head branch the last round resolved, after a restart" python3 - "$T/s3.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
app = [x for x in d["targets"] if x["target"].endswith(":default.pgo") and "/busy/" not in x["target"] and "/idle/" not in x["target"]][0]
assert app["head_branch"] == "cpgo/main/cmd/app/default.pgo", app
PY
check "no publish since the restart (min_interval holds)" bash -c "! grep -q 'published:' '$T/log2'"
check "the deferral is logged after the restart too" \
  wait_for "grep -q 'level=info msg=\"publish deferred by min_interval\"' '$T/log2'" 10

# ---- reloads: refused, then one that removes busy and idle
metrics >"$T/m2"
RT1=$(awk '$1 == "cpgo_config_last_reload_success_timestamp_seconds" {print $2}' "$T/m2")
printf 'backends:\n- url: ftp://nope\n' >"$T/config.yaml"
kill -HUP $pid
check "a bad file is refused" wait_for "grep -q 'config reload refused' '$T/log2'" 10
metrics >"$T/m3"
check "refused: cpgo_config_last_reload_successful 0, the timestamp kept" bash -c \
  "grep -q '^cpgo_config_last_reload_successful 0$' '$T/m3' &&
   grep -qx 'cpgo_config_last_reload_success_timestamp_seconds $RT1' '$T/m3'"
sleep 1.1 # a later timestamp
mkcfg >"$T/config.yaml"
kill -HUP $pid
check "the good file is loaded" wait_for "grep -q 'configuration reloaded' '$T/log2'" 10
metrics >"$T/m4"
check "reloaded: successful 1, a later timestamp" python3 - "$T/m4" "$RT1" <<'PY'
import re, sys
m = open(sys.argv[1]).read()
ok = re.search(r"^cpgo_config_last_reload_successful 1$", m, re.M)
t = re.search(r"^cpgo_config_last_reload_success_timestamp_seconds (\S+)$", m, re.M)
sys.exit(0 if ok and t and float(t.group(1)) > float(sys.argv[2]) else 1)
PY
check "removed backends' series are gone (scrapes, attempts, missed ticks)" \
  bash -c "! grep -E 'backend=\"(busy|idle)\"' '$T/m4'"
check "and those of their targets" bash -c "! grep -E 'target=\"[^\"]*(busy|idle)/default.pgo\"' '$T/m4'"
check "the app's series stay" grep -q '^cpgo_scrapes_total{backend="app",target="[^"]*",class="ok"} [1-9]' "$T/m4"
kill -TERM $pid
wait $pid
check "exit 0 at the end" [ $? -eq 0 ]
finish

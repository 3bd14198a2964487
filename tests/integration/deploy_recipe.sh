#!/usr/bin/env bash
# The deployment recipe cannot rot, even where no Docker engine or cluster runs:
#  (a) scripts/runtime-packages (the runtime stage's apt list) prints real Debian packages;
#  (b) every library the built binary loads (ldd) comes from a listed package, a dependency
#      of one, or the short base whitelist; every direct NEEDED library from a listed one;
#  (c) the Dockerfile: multi-stage on debian:12, the runtime stage installs exactly
#      $(scripts/runtime-packages) and no build dependency, non-root USER, VOLUME
#      /var/lib/cpgo, HEALTHCHECK on /healthz with a tool the image has, no token in
#      ARG/ENV, every COPY source exists and is not excluded by .dockerignore;
#  (d) deploy/kubernetes: valid YAML (PyYAML), the ConfigMap's configuration passes
#      `cpgo check-config`, the StatefulSet's shard comes from the pod index with N ==
#      replicas, mounts/ports/grace period agree with the configuration, the Secret holds
#      a placeholder; `kubectl kustomize` builds (where kubectl is installed); cpgo refuses
#      a malformed shard (where this cpgo has --shard);
#  (e) deploy/systemd: `systemd-analyze verify` and an exposure score (where systemd-analyze
#      exists); the unit and its sample configuration agree.
# Parts whose tool is missing are skipped with a message; the whole test is skipped only
# when nothing can be checked.
. "$(dirname "$0")/lib.sh"
: "${CPGO_SRC:?run through ctest}"
S=$CPGO_SRC
note() { echo "NOTE: $*"; }

if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP: python3 is missing; it parses the Dockerfile and the manifests"
  exit 77
fi

# ---------------------------------------------------------------- (a) runtime packages
is_debian12=0
if command -v dpkg-query >/dev/null 2>&1 && [ -r /etc/os-release ] &&
   (. /etc/os-release && [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ]); then
  is_debian12=1
fi

PKGS=()
if RP_OUT=$("$S/scripts/runtime-packages" 2>"$T/rp.err"); then
  ok
  mapfile -t PKGS <<<"$RP_OUT"
else
  fail "scripts/runtime-packages failed: $(cat "$T/rp.err")"
fi
check "runtime-packages prints at least one package" [ "${#PKGS[@]}" -gt 0 ]
check "runtime-packages prints no duplicates" \
  [ "$(printf '%s\n' "${PKGS[@]}" | sort | uniq -d | wc -l)" -eq 0 ]
for p in "${PKGS[@]}"; do
  check "runtime package name '$p' is one Debian package name per line" \
    grep -qE '^[a-z0-9][a-z0-9+.-]+$' <<<"$p"
done
for want in ca-certificates tzdata; do
  check "runtime-packages lists $want" grep -qx "$want" <<<"$RP_OUT"
done

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if [ "$is_debian12" -eq 1 ]; then
  for p in "${PKGS[@]}"; do
    if pkg_installed "$p"; then ok
    elif apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then ok
    else fail "runtime package '$p' is neither installed here nor known to apt (Debian 12)"
    fi
  done
else
  note "(a,b) skipped: this is not Debian 12 with dpkg, and the image's runtime stage is"
fi

# ---------------------------------------------------------------- (b) ldd against the list
# The package that owns a file; ldd prints /lib/... paths that dpkg may know as /usr/lib/...
# (merged /usr) or through a symlink.
pkg_of() {
  local f=$1 c r out
  for c in "$f" "$(readlink -f "$f")"; do
    for r in "$c" "${c#/usr}" "/usr$c"; do
      [ -n "$r" ] || continue
      if out=$(dpkg-query -S "$r" 2>/dev/null); then
        # "libc6:amd64: /lib/..." or "a, b: /path" (diversions): the first owner, no arch
        sed -n '1{s/: .*//; s/,.*//; s/:.*//; p}' <<<"$out"
        return 0
      fi
    done
  done
  return 1
}

# Base packages every Debian image has, allowed without being listed.
BASE_WHITELIST=(libc6 libgcc-s1)

if [ "$is_debian12" -eq 1 ]; then
  if ! ldd "$CPGO" >"$T/ldd" 2>&1; then
    fail "ldd $CPGO failed: $(head -3 "$T/ldd")"
  fi
  check "ldd resolves every library (no 'not found')" sh -c "! grep -q 'not found' '$T/ldd'"
  # every loaded file: 'name => /path (addr)' and the interpreter '/lib64/ld-... (addr)'
  sed -n -e 's/^[[:space:]]*[^ ]* => \(\/[^ ]*\) (.*/\1/p' \
         -e 's/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' "$T/ldd" | sort -u > "$T/libs"
  : > "$T/lib-pkgs"
  while IFS= read -r lib; do
    if p=$(pkg_of "$lib"); then printf '%s %s\n' "$p" "$lib" >> "$T/lib-pkgs"; ok
    else fail "no Debian package owns $lib (dpkg -S); the image could not provide it"
    fi
  done < "$T/libs"

  # A sanitizer build (scripts/test runs this test on build-asan too) loads the sanitizer
  # runtimes, which the image never ships (it builds without sanitizers): allow them and
  # what they pull in, and say so.
  SAN=()
  while read -r p _; do
    case "$p" in libasan[0-9]*|libubsan[0-9]*|libtsan[0-9]*|liblsan[0-9]*|libhwasan[0-9]*) SAN+=("$p");; esac
  done < "$T/lib-pkgs"
  if [ "${#SAN[@]}" -gt 0 ]; then
    mapfile -t SAN < <(printf '%s\n' "${SAN[@]}" | sort -u)
    note "$CPGO is a sanitizer build: ${SAN[*]} (and their dependencies) allowed, the image does not ship them"
  fi

  # Closure of the allowed packages over installed Depends/Pre-Depends: what apt installs
  # along with the list in the runtime stage.
  dpkg-query -W -f='${Package}\t${Status}\t${Depends}, ${Pre-Depends}\n' > "$T/dpkg-deps"
  python3 - "$T/dpkg-deps" "${PKGS[@]}" "${BASE_WHITELIST[@]}" "${SAN[@]}" > "$T/closure" <<'PY'
import re, sys
deps, installed = {}, set()
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    name, status, dl = (line.rstrip("\n").split("\t") + ["", ""])[:3]
    if "install ok installed" not in status: continue
    installed.add(name)
    alts = []
    for group in dl.split(","):
        for alt in group.split("|"):
            alt = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alt).strip()
            alt = alt.split(":")[0]
            if alt: alts.append(alt)
    deps[name] = alts
seen, todo = set(), [p for p in sys.argv[2:] if p]
while todo:
    p = todo.pop()
    if p in seen: continue
    seen.add(p)
    todo.extend(d for d in deps.get(p, []) if d in installed)
print("\n".join(sorted(seen)))
PY
  while read -r p lib; do
    if grep -qx "$p" "$T/closure"; then ok
    else fail "$lib belongs to $p, which is neither in scripts/runtime-packages, nor a dependency of a listed package, nor whitelisted (${BASE_WHITELIST[*]}): add it to scripts/runtime-packages"
    fi
  done < "$T/lib-pkgs"

  # Direct dependencies must be named, not reached by accident through another package.
  if command -v readelf >/dev/null 2>&1; then
    readelf -d "$CPGO" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' > "$T/needed"
    check "readelf lists NEEDED libraries" [ -s "$T/needed" ]
    while IFS= read -r so; do
      path=$(awk -v so="$so" '$1 == so && $2 == "=>" {print $3}' "$T/ldd")
      [ -n "$path" ] || { fail "NEEDED $so is not in ldd's output"; continue; }
      p=$(pkg_of "$path") || continue
      case " ${SAN[*]} " in *" $p "*) continue;; esac
      if printf '%s\n' "${PKGS[@]}" "${BASE_WHITELIST[@]}" | grep -qx "$p"; then ok
      else fail "cpgo links $so directly (package $p): list $p in scripts/runtime-packages"
      fi
    done < "$T/needed"
  else
    note "(b) direct NEEDED check skipped: readelf (binutils) is missing"
  fi
fi

# ---------------------------------------------------------------- (c) Dockerfile
check "Dockerfile exists" [ -f "$S/Dockerfile" ]
check "scripts/build takes --dir (the Dockerfile builds with it)" grep -q -- '--dir)' "$S/scripts/build"
# -Werror: on in the project's builds (scripts/build), off for packaging (CMake's default and
# the image), so a newer compiler's new warning cannot break an image build
check "CPGO_WERROR is off by default" grep -qE '^option\(CPGO_WERROR "[^"]*" OFF\)' "$S/CMakeLists.txt"
check "scripts/build turns -Werror on" grep -q -- '-DCPGO_WERROR="$werror"' "$S/scripts/build"
check "the image builds without -Werror" grep -qE '^RUN (CPGO_COMMIT=[^ ]+ )?scripts/build --no-werror' "$S/Dockerfile"
check "the image's build is given the commit (no .git in its context)" grep -q '^ARG CPGO_COMMIT' "$S/Dockerfile"
check "scripts/setup-deps is executable (the build stage runs it)" [ -x "$S/scripts/setup-deps" ]
check "scripts/runtime-packages is executable" [ -x "$S/scripts/runtime-packages" ]
python3 - "$S" "$RP_OUT" > "$T/dockerfile.out" 2>&1 <<'PY'
import fnmatch, os, re, shlex, sys
src, pkgs = sys.argv[1], sys.argv[2].split()
fails = []
def fail(m): fails.append(m)

# Instructions, with continuation lines joined and comments dropped.
lines, cur = [], ""
for raw in open(os.path.join(src, "Dockerfile"), encoding="utf-8"):
    s = raw.rstrip("\n")
    if not cur and (s.lstrip().startswith("#") or not s.strip()): continue
    if cur and s.lstrip().startswith("#"): continue
    if s.endswith("\\"):
        cur += s[:-1] + " "; continue
    cur += s
    lines.append(cur.strip()); cur = ""
instr = [(l.split(None, 1)[0].upper(), (l.split(None, 1) + [""])[1]) for l in lines]

stages = []
for op, arg in instr:
    if op == "FROM": stages.append([(op, arg)])
    elif stages: stages[-1].append((op, arg))
    elif op != "ARG": fail(f"{op} before the first FROM")
if len(stages) < 2: fail(f"not multi-stage: {len(stages)} FROM")
for st in stages:
    img = st[0][1].split()[0]
    if not re.fullmatch(r"debian:12(-slim)?(@sha256:[0-9a-f]{64})?", img):
        fail(f"FROM {img}: want debian:12 or debian:12-slim (optionally by digest)")
final = stages[-1] if stages else []
final_text = "\n".join(f"{o} {a}" for o, a in final)

# No secret as a build argument or baked-in environment, in any stage.
for op, arg in instr:
    if op in ("ARG", "ENV") and re.search(r"token|secret|password|credential", arg, re.I):
        fail(f"{op} {arg}: a token must come at run time (environment or a mounted file)")
if re.search(r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_", open(os.path.join(src, "Dockerfile")).read()):
    fail("the Dockerfile contains something that looks like a GitHub token")

# The runtime stage installs $(runtime-packages) and nothing built from -dev packages.
runs = [a for o, a in final if o == "RUN"]
if not any("runtime-packages" in r and "apt-get install" in r and "--no-install-recommends" in r for r in runs):
    fail("the runtime stage does not `apt-get install --no-install-recommends $(...runtime-packages)`")
if not any(o == "COPY" and "scripts/runtime-packages" in a for o, a in final):
    fail("the runtime stage does not COPY scripts/runtime-packages")
if re.search(r"setup-deps|scripts/build|cmake|build-essential|-dev\b", "\n".join(runs)):
    fail("the runtime stage runs build steps or installs build dependencies")
if any(re.search(r"apt-get install", r) and not re.search(r"rm -rf /var/lib/apt/lists", r) for r in runs):
    fail("the runtime stage keeps apt lists (rm -rf /var/lib/apt/lists/* in the same RUN)")
if not any(o == "COPY" and "--from=" in a for o, a in final):
    fail("the runtime stage copies nothing from the build stage")

users = [a.strip() for o, a in final if o == "USER"]
if not users: fail("no USER in the runtime stage")
elif re.fullmatch(r"(root|0)(:.*)?", users[-1]): fail(f"USER {users[-1]} is root")
elif not re.fullmatch(r"\d+(:\d+)?", users[-1]):
    fail(f"USER {users[-1]}: use a numeric uid so Kubernetes runAsNonRoot can verify it")
else:
    print("uid", users[-1].split(":")[0])

vols = " ".join(a for o, a in final if o == "VOLUME")
if "/var/lib/cpgo" not in vols: fail("no VOLUME /var/lib/cpgo")
hc = [a for o, a in final if o == "HEALTHCHECK"]
if not hc or hc[-1].strip().upper() == "NONE": fail("no HEALTHCHECK")
else:
    h = hc[-1]
    if "/healthz" not in h: fail("HEALTHCHECK does not probe /healthz")
    m = re.search(r"CMD\s+\[\s*\"([^\"]+)\"", h)
    tool = m.group(1) if m else None
    if not m: fail("HEALTHCHECK is not exec form (no shell needed): CMD [\"...\", ...]")
    elif not tool.startswith("/") and tool not in pkgs:
        fail(f"HEALTHCHECK runs {tool}, which scripts/runtime-packages does not install")
    pm = re.search(r"https?://[^/:]+:(\d+)/", h)
    if pm: print("healthport", pm.group(1))
exposes = " ".join(a for o, a in final if o == "EXPOSE").split()
for e in exposes: print("expose", e.split("/")[0])
cmd = " ".join(a for o, a in final if o in ("CMD", "ENTRYPOINT"))
if "/etc/cpgo/config.yaml" not in cmd or '"run"' not in cmd:
    fail("ENTRYPOINT/CMD does not run `cpgo run -c /etc/cpgo/config.yaml`")

# Every COPY source from the context exists and survives .dockerignore.
ign = []
dip = os.path.join(src, ".dockerignore")
if os.path.exists(dip):
    for l in open(dip):
        l = l.strip()
        if l and not l.startswith("#"): ign.append(l)
def ignored(path):
    parts = path.strip("/").split("/")
    res = False
    for pat in ign:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.strip("/")
        rx = re.escape(p).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        for i in range(1, len(parts) + 1):  # the path or one of its parent directories
            if re.fullmatch(rx, "/".join(parts[:i])):
                res = not neg; break
    return res
for st in stages:
    for o, a in st:
        if o not in ("COPY", "ADD") or "--from=" in a: continue
        words = [w for w in shlex.split(a) if not w.startswith("--")]
        for s in words[:-1]:
            if s in (".", "./"): continue
            if not os.path.exists(os.path.join(src, s)): fail(f"COPY source {s} does not exist")
            elif ignored(s): fail(f"COPY source {s} is excluded by .dockerignore")
for need in ("CMakeLists.txt", "src/main.c", "scripts/build", "scripts/setup-deps", "deps/CMakeLists.txt"):
    if ignored(need): fail(f".dockerignore excludes {need}, which the build stage needs")
for f in fails: print("FAIL", f)
PY
while read -r kind rest; do
  case "$kind" in
    FAIL) fail "Dockerfile: $rest" ;;
    uid) DOCKER_UID=$rest; ok ;;
    healthport) HEALTH_PORT=$rest ;;
    expose) EXPOSE_PORT=$rest ;;
    *) fail "Dockerfile check: $kind $rest" ;;
  esac
done < "$T/dockerfile.out"
check "HEALTHCHECK port (${HEALTH_PORT:-none}) is the EXPOSEd port (${EXPOSE_PORT:-none})" \
  [ -n "${HEALTH_PORT:-}" ] && [ "${HEALTH_PORT:-}" = "${EXPOSE_PORT:-}" ]

# ---------------------------------------------------------------- (d) Kubernetes
K=$S/deploy/kubernetes
for f in statefulset.yaml configmap.yaml secret.yaml service.yaml README.md; do
  check "deploy/kubernetes/$f exists" [ -f "$K/$f" ]
done
check "the Kubernetes README has sizing from the benchmark" grep -q '8 ms' "$K/README.md"
if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$K" "$T" "${DOCKER_UID:-}" "${EXPOSE_PORT:-}" > "$T/k8s.out" 2>&1 <<'PY'
import base64, glob, os, re, sys, yaml
kdir, tdir, docker_uid, expose = sys.argv[1:5]
fails = []
def fail(m): fails.append(m)
docs = {}
for f in sorted(glob.glob(os.path.join(kdir, "*.yaml"))):
    try:
        for d in yaml.safe_load_all(open(f)):
            if d is None: continue
            if not all(k in d for k in ("apiVersion", "kind")): fail(f"{os.path.basename(f)}: a document without apiVersion/kind"); continue
            if d["kind"] == "Kustomization": continue
            if not d.get("metadata", {}).get("name"): fail(f"{os.path.basename(f)}: {d['kind']} without metadata.name")
            docs.setdefault(d["kind"], []).append(d)
    except yaml.YAMLError as e:
        fail(f"{os.path.basename(f)}: invalid YAML: {e}")
for k in ("StatefulSet", "ConfigMap", "Secret", "Service"):
    if len(docs.get(k, [])) != 1: fail(f"want one {k}, found {len(docs.get(k, []))}")
if fails:
    for f in fails: print("FAIL", f)
    sys.exit(0)
sts, cm, sec, svc = (docs[k][0] for k in ("StatefulSet", "ConfigMap", "Secret", "Service"))

# the configuration, for cpgo check-config (run by the shell) and for cross-checks
cfgtext = cm.get("data", {}).get("config.yaml")
if not cfgtext: fail("the ConfigMap has no data config.yaml"); cfgtext = "{}"
open(os.path.join(tdir, "k8s-config.yaml"), "w").write(cfgtext)
cfg = yaml.safe_load(cfgtext) or {}
listen = str(cfg.get("listen", ""))
m = re.fullmatch(r"0\.0\.0\.0:(\d+)|\[::\]:(\d+)|:(\d+)", listen)
if not m: fail(f"ConfigMap: listen '{listen}' must bind every interface (:PORT)")
port = int(next(g for g in m.groups() if g)) if m else None
if expose and port and int(expose) != port: fail(f"listen port {port} != the Dockerfile's EXPOSE {expose}")
state_dir = cfg.get("state_dir")
if state_dir != "/var/lib/cpgo": fail(f"ConfigMap: state_dir {state_dir!r}, want /var/lib/cpgo (the image's VOLUME)")
token_file = (cfg.get("github") or {}).get("token_file")
def dur(s):
    t = 0
    for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(s)): t += float(n) * {"ms": .001, "s": 1, "m": 60, "h": 3600}[u]
    return t
shutdown = dur(cfg.get("shutdown_timeout", "30s"))

spec = sts["spec"]; pod = spec["template"]["spec"]
cs = pod.get("containers", [])
if len(cs) != 1: fail(f"StatefulSet: want one container, found {len(cs)}")
c = cs[0]
replicas = spec.get("replicas", 1)
env = c.get("env", [])
names = [e["name"] for e in env]
shard_n, how = None, None
for i, e in enumerate(env):
    if e["name"] != "CPGO_SHARD": continue
    m = re.fullmatch(r"\$\((\w+)\)/(\d+)", str(e.get("value", "")))
    if not m: fail(f"CPGO_SHARD value {e.get('value')!r}: want \"$(VAR)/N\""); continue
    var, shard_n = m.group(1), int(m.group(2))
    src = [x for x in env[:i] if x["name"] == var]
    fp = src[0].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath", "") if src else ""
    if fp != "metadata.labels['apps.kubernetes.io/pod-index']":
        fail(f"CPGO_SHARD: {var} must be defined before it from the downward API label apps.kubernetes.io/pod-index (got {fp!r})")
    how = "pod-index label"
cmdline = " ".join(map(str, c.get("command", []) + c.get("args", [])))
m = re.search(r"--shard[ =]\"?\$\{HOSTNAME##\*-\}/(\d+)", cmdline)
if m and shard_n is None: shard_n, how = int(m.group(1)), "hostname ordinal"
if shard_n is None: fail("StatefulSet: no shard from the pod index (CPGO_SHARD=$(POD_INDEX)/N or --shard ${HOSTNAME##*-}/N)")
elif shard_n != replicas: fail(f"StatefulSet: shard N={shard_n} but replicas={replicas}")
else: print("shard", how, shard_n)
if "run" not in cmdline.split() or "/etc/cpgo/config.yaml" not in cmdline:
    fail(f"StatefulSet: the container does not run `cpgo run -c /etc/cpgo/config.yaml` ({cmdline})")

tgp = pod.get("terminationGracePeriodSeconds", 30)
if tgp < shutdown + 5: fail(f"terminationGracePeriodSeconds {tgp} < shutdown_timeout {shutdown:g}s + 5")
psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")): fail("StatefulSet: runAsNonRoot is not set")
uid = csc.get("runAsUser", psc.get("runAsUser"))
if uid == 0: fail("StatefulSet: runAsUser 0")
if docker_uid and uid is not None and str(uid) != docker_uid: fail(f"runAsUser {uid} != the Dockerfile's USER {docker_uid}")
if csc.get("allowPrivilegeEscalation") is not False: fail("allowPrivilegeEscalation is not false")

vols = {v["name"]: v for v in pod.get("volumes", [])}
claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
cv = vols.get(mounts.get("/etc/cpgo"), {})
if cv.get("configMap", {}).get("name") != cm["metadata"]["name"]: fail("the ConfigMap is not mounted at /etc/cpgo")
if mounts.get(state_dir) not in claims: fail(f"state_dir {state_dir} is not a volumeClaimTemplate mount")
if token_file:
    d, b = os.path.split(token_file)
    sv = vols.get(mounts.get(d), {}).get("secret", {})
    if sv.get("secretName") != sec["metadata"]["name"]:
        fail(f"token_file {token_file}: the Secret {sec['metadata']['name']} is not mounted at {d}")
    else:
        keys = set((sec.get("stringData") or {}).keys()) | set((sec.get("data") or {}).keys())
        items = {i["path"]: i["key"] for i in sv.get("items", [])} or {k: k for k in keys}
        if items.get(b) not in keys: fail(f"token_file {token_file}: no Secret key is mounted as {b}")
        mode = sv.get("defaultMode", 0o644)
        if uid not in (None, 0) and not (mode & 0o004 or (mode & 0o040 and psc.get("fsGroup") is not None)):
            fail(f"the token (mode {mode:o}) is not readable by uid {uid}: give fsGroup and a group-readable mode")
    if re.match(r"/(var/)?run/secrets/?$|/(var/)?run/secrets/kubernetes\.io(/|$)", d) and pod.get("automountServiceAccountToken") is not False:
        fail("the Secret is mounted over the service account token's directory")
else:
    print("note the ConfigMap has no github.token_file: the token comes from the environment")

cports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    hg = c.get(probe, {}).get("httpGet")
    if not hg: fail(f"no {probe}"); continue
    if hg.get("path") != path: fail(f"{probe} path {hg.get('path')}, want {path}")
    p = hg.get("port"); p = cports.get(p, p)
    if port and p != port: fail(f"{probe} port {p} != listen port {port}")

if spec.get("serviceName") != svc["metadata"]["name"]: fail("serviceName is not the Service")
sp = svc["spec"]
sel = sp.get("selector", {})
labels = spec["template"]["metadata"].get("labels", {})
if not sel or any(labels.get(k) != v for k, v in sel.items()): fail("the Service does not select the pods")
tp = [p.get("targetPort") for p in sp.get("ports", [])]
if not any(cports.get(t, t) == port for t in tp): fail(f"no Service port targets the listen port {port}")
ann = svc["metadata"].get("annotations", {})
if sp.get("clusterIP") != "None" and ann.get("prometheus.io/scrape") != "true":
    fail("the metrics Service is neither headless nor annotated for Prometheus")

# the Secret is a template
vals = [str(v) for v in (sec.get("stringData") or {}).values()]
for k, v in (sec.get("data") or {}).items():
    try: vals.append(base64.b64decode(v).decode(errors="replace"))
    except Exception: fail(f"Secret data.{k} is not base64")
allv = " ".join(vals)
if re.search(r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}", allv): fail("secret.yaml holds something that looks like a real GitHub token")
if not re.search(r"REPLACE|CHANGE|PLACEHOLDER", allv, re.I): fail("secret.yaml does not hold an obvious placeholder")
for f in fails: print("FAIL", f)
PY
  while read -r kind rest; do
    case "$kind" in
      FAIL) fail "deploy/kubernetes: $rest" ;;
      shard) echo "shard index: $rest"; ok ;;
      note) note "$rest" ;;
      *) fail "kubernetes check: $kind $rest" ;;
    esac
  done < "$T/k8s.out"
  if [ -s "$T/k8s-config.yaml" ]; then
    "$CPGO" check-config -q -c "$T/k8s-config.yaml" >/dev/null 2>"$T/k8s-cc.err"
    rc=$?
    check "the ConfigMap's configuration passes cpgo check-config ($(head -c 400 "$T/k8s-cc.err"))" [ "$rc" -eq 0 ]
  fi
else
  note "(d) YAML checks skipped: python3 has no PyYAML (apt-get install python3-yaml)"
fi
if command -v kubectl >/dev/null 2>&1 && [ -f "$K/kustomization.yaml" ]; then
  if kubectl kustomize "$K" > "$T/kustomize.yaml" 2>"$T/kustomize.err"; then
    ok
    check "kustomize output has the StatefulSet" grep -q '^kind: StatefulSet' "$T/kustomize.yaml"
    check "kustomize output leaves the Secret template out" sh -c "! grep -q '^kind: Secret' '$T/kustomize.yaml'"
  else
    fail "kubectl kustomize deploy/kubernetes: $(head -5 "$T/kustomize.err")"
  fi
else
  note "(d) kubectl kustomize skipped: kubectl is not installed"
fi

# The shard option as the StatefulSet uses it: a missing index (old cluster: "/4") or an
# index out of range must stop cpgo with a usage error, never run as some shard.
if "$CPGO" help run 2>&1 | grep -q -- '--shard'; then
  mkdir -p "$T/shard"
  cat > "$T/shard/config.yaml" <<EOF
state_dir: $T/shard/state
backends:
- url: http://127.0.0.1:9/debug/pprof/profile?seconds=1
  schedule: '@every 1h'
  retries: 0
  open_pull_request: {repository: $T/shard/repo}
EOF
  for bad in "/4" "4/4" "x/4" "1/0"; do
    timeout 30 "$CPGO" run --once -c "$T/shard/config.yaml" --output "$T/shard/out" --shard "$bad" \
      >/dev/null 2>"$T/shard/err"
    rc=$?
    check "--shard '$bad' is refused with exit 2 (got $rc: $(head -c 200 "$T/shard/err"))" [ "$rc" -eq 2 ]
    CPGO_SHARD=$bad timeout 30 "$CPGO" run --once -c "$T/shard/config.yaml" --output "$T/shard/out" \
      >/dev/null 2>"$T/shard/err"
    rc=$?
    check "CPGO_SHARD='$bad' is refused with exit 2 (got $rc: $(head -c 200 "$T/shard/err"))" [ "$rc" -eq 2 ]
  done
else
  note "this cpgo has no --shard yet (cpgo help run): the StatefulSet's CPGO_SHARD is not exercised"
fi

# ---------------------------------------------------------------- (e) systemd
U=$S/deploy/systemd/cpgo.service
check "deploy/systemd/cpgo.service exists" [ -f "$U" ]
check "deploy/systemd/README.md exists" [ -f "$S/deploy/systemd/README.md" ]
key() { sed -n "s/^$1=//p" "$U" | tail -1; }
check "unit: DynamicUser=yes" [ "$(key DynamicUser)" = yes ]
check "unit: StateDirectory=cpgo" [ "$(key StateDirectory)" = cpgo ]
check "unit: ConfigurationDirectory=cpgo" [ "$(key ConfigurationDirectory)" = cpgo ]
check "unit: ExecReload sends SIGHUP" grep -q '^ExecReload=.*kill -HUP \$MAINPID' "$U"
check "unit: Restart=on-failure" [ "$(key Restart)" = on-failure ]
cred=$(key LoadCredential); cred=${cred%%:*}
check "unit: the token is a credential (LoadCredential=NAME:PATH)" [ -n "$cred" ]
check "unit: no token in Environment=" sh -c "! grep -qiE '^Environment=.*(token|secret)' '$U'"
check "unit: LimitCORE=0 (a core file would hold the token)" [ "$(key LimitCORE)" = 0 ]
SC=$S/deploy/systemd/config.yaml
"$CPGO" check-config -q -c "$SC" >/dev/null 2>"$T/sd-cc.err"
rc=$?
check "deploy/systemd/config.yaml passes cpgo check-config ($(head -c 300 "$T/sd-cc.err"))" [ "$rc" -eq 0 ]
check "systemd config: token_file is the credential's fixed path" \
  grep -qE "^[[:space:]]*token_file: /run/credentials/cpgo.service/$cred\$" "$SC"
check "systemd config: state_dir is the StateDirectory" grep -q '^state_dir: /var/lib/cpgo$' "$SC"
sd_shutdown=$(sed -n 's/^shutdown_timeout: \([0-9]*\)s$/\1/p' "$SC"); sd_shutdown=${sd_shutdown:-30}
stop=$(key TimeoutStopSec)
check "unit: TimeoutStopSec ($stop) exceeds shutdown_timeout ($sd_shutdown s) by 5 s or more" \
  [ "${stop:-0}" -ge $((sd_shutdown + 5)) ]
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify needs the executables to exist: point ExecStart at the binary under test
  mkdir -p "$T/systemd"
  sed "s#/usr/local/bin/cpgo#$CPGO#g" "$U" > "$T/systemd/cpgo.service"
  systemd-analyze verify "$T/systemd/cpgo.service" >"$T/systemd/verify" 2>&1
  rc=$?
  check "systemd-analyze verify cpgo.service (exit $rc: $(grep -m3 cpgo.service "$T/systemd/verify"))" \
    [ "$rc" -eq 0 ]
  check "systemd-analyze verify has nothing to say about cpgo.service" \
    sh -c "! grep -q 'cpgo.service' '$T/systemd/verify'"
  if systemd-analyze security --offline=yes "$T/systemd/cpgo.service" >"$T/systemd/security" 2>&1; then
    score=$(sed -n 's/.*Overall exposure level for cpgo.service: \([0-9.]*\).*/\1/p' "$T/systemd/security")
    echo "systemd-analyze security: exposure ${score:-?}"
    check "the unit's exposure level (${score:-?}) is at most 2.0" \
      python3 -c "import sys; sys.exit(0 if float('${score:-99}') <= 2.0 else 1)"
  else
    note "(e) systemd-analyze security --offline is not supported by this systemd"
  fi
else
  note "(e) systemd-analyze verify skipped: systemd-analyze is not installed"
fi

finish

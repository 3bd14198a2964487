#!/usr/bin/env bash
# `cpgo check-config` of issue 12's pgo: section: examples/config/pgo.yaml loads and its
# dump shows the normalised values (weight as a decimal, min_change as a percent,
# half_life as a Go duration, no_inline as a list) and loads again into the same dump; a
# refused value exits 2 with file:line:column and the key path; members of one target that
# disagree on a target key are named with the key; an old configuration's dump differs
# only by the pgo section at its defaults.
. "$(dirname "$0")/lib.sh"

export XDG_STATE_HOME="$T/xdg"

expect() { # expect STATUS NEEDLE_IN_STDERR DESCRIPTION -- COMMAND...
  local want=$1 needle=$2 d=$3; shift 4
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$d: exit $rc, want $want ($(head -c 600 "$T/err"))"; return; fi
  if [ -n "$needle" ] && ! grep -qF -- "$needle" "$T/err"; then
    fail "$d: stderr lacks '$needle': $(cat "$T/err")"; return
  fi
  ok
}
# has DESCRIPTION FILE TEXT: FILE holds TEXT (several lines) as written
has() {
  if python3 -c 'import sys; sys.exit(sys.argv[2] not in open(sys.argv[1]).read())' "$2" "$3"; then
    ok
  else
    fail "$1: $(basename "$2") lacks: $3"
  fi
}

EX="$CPGO_SRC/examples/config/pgo.yaml"
expect 0 "" "the pgo example loads" -- "$CPGO" check-config -c "$EX"
check "nothing on stderr but what is resolved at run time" bash -c "! grep -v '^warning: resolved at run time: ' '$T/err'"
cp "$T/out" "$T/pgo.dump"
# the canary: its own weight, the target's keys from defaults
has "canary's pgo" "$T/pgo.dump" "- name: checkout-canary
  url: http://checkout-canary.shop.svc:6060/debug/pprof/profile?seconds=30"
has "canary's pgo values" "$T/pgo.dump" "    reopen_growth: 100
    labels: []
    reviewers: []
    assignees: []
    draft: false
    auto_merge: false
    commit_prefix: \"\"
  pgo:
    half_life: 168h0m0s
    weight: 0.1
    no_inline:
    - runtime.gopark
    - \"google.golang.org/grpc/internal/transport.(*loopyWriter).processData\"
    - \"github.com/acme/shop/internal/log.(*Logger).Debugf\"
    min_change: 5%
    verify_with_go: false
services:"
has "a service's weight" "$T/pgo.dump" "    weight: 2.5
"
has "another target's pgo" "$T/pgo.dump" "  pgo:
    half_life: 0s
    weight: 1
    no_inline: []
    min_change: 0.5%
    verify_with_go: true
  static_configs:"
check "one target with three backends and a service" \
  grep -q '^#     backends: checkout-0 checkout-1 checkout-canary$' "$T/pgo.dump"
check "2 targets" grep -q '^# 2 targets' "$T/pgo.dump"
# the dump is configuration: it loads again into the same text
(cd "$(dirname "$EX")" && "$CPGO" check-config -c "$T/pgo.dump" > "$T/pgo2.dump" 2>"$T/err")
check "the dump loads ($(head -c 300 "$T/err"))" [ -s "$T/pgo2.dump" ]
check "the dump is stable" cmp -s <(tail -n +2 "$T/pgo.dump") <(tail -n +2 "$T/pgo2.dump")

# refusals: exit 2, file:line:column, the key path, every error
cat > "$T/bad.yaml" <<'YAML'
defaults:
  pgo:
    weight: 0.0000001
backends:
- url: http://a:6060/debug/pprof/profile
  schedule: '@hourly'
  pgo:
    weight: .nan
    min_change: 5%%
    half_life: 30s
    no_inline: ['']
  open_pull_request:
    repository: https://github.com/org/app
YAML
expect 2 "$T/bad.yaml:3:13: defaults.pgo.weight: '0.0000001' has more than 6 decimals" \
  "bad pgo values" -- "$CPGO" check-config -c "$T/bad.yaml"
check "weight NaN named" grep -qF "$T/bad.yaml:8:13: backends[0].pgo.weight: '.nan' is not a decimal number (e.g. 0.1)" "$T/err"
check "min_change named" grep -qF "$T/bad.yaml:9:17: backends[0].pgo.min_change: '5%%' is not a percentage (e.g. 5% or 0.5%)" "$T/err"
check "half_life named" grep -qF "$T/bad.yaml:10:16: backends[0].pgo.half_life: 30s is below 1m; give 0 (no decay) or at least 1m (e.g. 168h)" "$T/err"
check "empty no_inline entry named" grep -qF "$T/bad.yaml:11:17: backends[0].pgo.no_inline[0]: expected a string, got an empty one" "$T/err"
check "summary line" grep -qF "cpgo check-config: $T/bad.yaml: 5 errors" "$T/err"
check "nothing on stdout" [ ! -s "$T/out" ]

# two members of one target that disagree on a target key; a weight may differ
cat > "$T/disagree.yaml" <<'YAML'
defaults:
  schedule: '@hourly'
  open_pull_request:
    repository: https://github.com/org/app
backends:
- url: http://a:6060/debug/pprof/profile
  pgo: {weight: 0.1, half_life: 168h}
services:
- name: checkout
  static_configs: [{targets: ['10.0.0.7:6060']}]
  pgo: {weight: 3, half_life: 24h}
YAML
expect 2 "$T/disagree.yaml:11:31: services[0].pgo.half_life: 24h0m0s differs from backends[0] (168h0m0s), which writes the same target github.com/org/app@<default>:default.pgo" \
  "members disagree on half_life" -- "$CPGO" check-config -c "$T/disagree.yaml"
check "one error" grep -qF "1 error" "$T/err"
sed -i 's/half_life: 24h/half_life: 10080m/' "$T/disagree.yaml"
expect 0 "" "the same half-life written otherwise, weights differ" -- "$CPGO" check-config -c "$T/disagree.yaml"

# an old configuration: the same dump as before issue 12 but for the pgo section's defaults
expect 0 "" "the original sample" -- "$CPGO" check-config -c "$CPGO_SRC/config.sample.yaml"
python3 - "$T/out" > "$T/sample-pgo.txt" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index("  pgo:")
print("\n".join(lines[i:i + 8]))
PY
cat > "$T/sample-pgo.want" <<'TXT'
  pgo:
    half_life: 0s
    weight: 1
    no_inline:
    - runtime.gopark
    - "google.golang.org/grpc/internal/transport.(*loopyWriter).processData"
    min_change: 0%
    verify_with_go: false
TXT
check "the sample's pgo section is the defaults" cmp -s "$T/sample-pgo.txt" "$T/sample-pgo.want"
check "the pgo section follows open_pull_request" \
  grep -qzF "    commit_prefix: \"\"
  pgo:" "$T/out"
finish

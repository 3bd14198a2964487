#!/usr/bin/env bash
# `cpgo check-config`: the original sample and every example load (exit 0); errors exit 2
# with file:line:column lines on stderr; so does a missing or unreadable file (a usage
# error, as for every command that takes -c: the systemd unit's RestartPreventExitStatus=2);
# the original tool's -configPath flag works; secrets (header values, URL passwords,
# literal tokens) never reach the output; what run refuses (head_branch: the target branch,
# or refs/...) is refused; the normalised dump loads again unchanged; --reference is
# docs/CONFIG.md.
. "$(dirname "$0")/lib.sh"

# the state_dir default depends on the environment: pin it
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

# the original tool's configuration, unchanged, in every flag spelling
S="$CPGO_SRC/config.sample.yaml"
expect 0 "" "sample with -c" -- "$CPGO" check-config -c "$S"
check "sample dump names the backend" grep -q '^- name: localhost:6060$' "$T/out"
check "sample dump has the default timeout" grep -q '^  timeout: 45s$' "$T/out"
check "sample dump lists the target" grep -q '^#   [0-9a-f]\{16\} github.com/my-org/my-repo@main:default.pgo' "$T/out"
check "nothing on stderr when valid but what is resolved at run time" bash -c "! grep -v '^warning: resolved at run time: ' '$T/err'"
cp "$T/out" "$T/sample.dump"
expect 0 "" "sample with --config" -- "$CPGO" check-config --config "$S"
check "--config gives the same dump" cmp -s "$T/out" "$T/sample.dump"
expect 0 "" "sample with --config=" -- "$CPGO" check-config --config="$S"
expect 0 "" "sample with -configPath" -- "$CPGO" check-config -configPath "$S"
check "-configPath gives the same dump" cmp -s "$T/out" "$T/sample.dump"
expect 0 "" "sample with -configPath=" -- "$CPGO" check-config -configPath="$S"
expect 0 "" "sample as an argument" -- "$CPGO" check-config "$S"
expect 0 "" "sample, quiet" -- "$CPGO" check-config -q -c "$S"
check "quiet prints nothing" [ ! -s "$T/out" ]
expect 0 "" "sample from stdin" -- sh -c "'$CPGO' check-config -c - < '$S'"
check "stdin dump names the backend" grep -q '^- name: localhost:6060$' "$T/out"
# the default file is ./config.yaml, as in the original tool
(cd "$T" && cp "$S" config.yaml && "$CPGO" check-config >"$T/out" 2>"$T/err")
check "./config.yaml is the default (exit $?)" grep -q '^- name: localhost:6060$' "$T/out"
rm -f "$T/config.yaml"

# every example
for f in "$CPGO_SRC"/examples/config/*.yaml; do
  expect 0 "" "example $(basename "$f")" -- "$CPGO" check-config -c "$f"
done
expect 0 "" "fleet" -- "$CPGO" check-config -c "$CPGO_SRC/examples/config/fleet.yaml"
check "fleet has 3 targets" grep -q '^# 3 targets' "$T/out"
check "fleet merges three checkout instances" \
  grep -q 'backends: checkout-0.shop.svc:6060 checkout-1.shop.svc:6060 checkout-2.shop.svc:6060' "$T/out"

# the dump is configuration: it loads again and gives the same text
for f in "$S" "$CPGO_SRC"/examples/config/*.yaml; do
  "$CPGO" check-config -c "$f" > "$T/d1.yaml" 2>/dev/null
  (cd "$(dirname "$f")" && "$CPGO" check-config -c "$T/d1.yaml" > "$T/d2.yaml" 2>"$T/err")
  check "dump of $(basename "$f") loads ($(head -c 300 "$T/err"))" [ -s "$T/d2.yaml" ]
  check "dump of $(basename "$f") is stable" cmp -s <(tail -n +2 "$T/d1.yaml") <(tail -n +2 "$T/d2.yaml")
done

# errors: exit 2, every error on stderr as file:line:column: key: problem, and a summary
cat > "$T/bad.yaml" <<'EOF'
backends:
- url: http://localhost:6060/debug/pprof/profile
  schedule: '*/5 * * * *'
  timeout: 45
  scheduel: '@hourly'
  open_pull_request:
    repository: ftp://example.com/org/app
    target_file: /etc/passwd
EOF
expect 2 "$T/bad.yaml:4:12: backends[0].timeout: '45' is not a duration (e.g. 45s)" "bad config" -- \
  "$CPGO" check-config -c "$T/bad.yaml"
check "unknown key suggested" grep -qF "$T/bad.yaml:5:3: backends[0].scheduel: unknown key; did you mean 'schedule'?" "$T/err"
check "repository named" grep -qF "$T/bad.yaml:7:17: backends[0].open_pull_request.repository: repository 'ftp://example.com/org/app': unsupported scheme ftp" "$T/err"
check "target_file named" grep -qF "$T/bad.yaml:8:18: backends[0].open_pull_request.target_file: '/etc/passwd' must be a relative path" "$T/err"
check "summary line" grep -qF "cpgo check-config: $T/bad.yaml: 4 errors" "$T/err"
check "nothing on stdout on errors" [ ! -s "$T/out" ]
check "5 lines on stderr" [ "$(wc -l < "$T/err")" -eq 5 ]

printf 'backends: []\n' > "$T/empty-list.yaml"
expect 2 "empty-list.yaml:1:11: backends: the list is empty" "empty backends" -- "$CPGO" check-config -c "$T/empty-list.yaml"
printf 'backends:\n- url: [x\n' > "$T/syntax.yaml"
expect 2 "syntax.yaml:3:1: YAML syntax error" "syntax error" -- "$CPGO" check-config -c "$T/syntax.yaml"
printf 'x: &a 1\ny: *a\n' > "$T/alias.yaml"
expect 2 "alias.yaml:1:4: x: anchors and aliases are not allowed" "anchors" -- "$CPGO" check-config -c "$T/alias.yaml"
head -c 5000000 /dev/zero | tr '\0' '#' > "$T/huge.yaml"
expect 2 "huge.yaml: the file is larger than the limit of 4 MiB" "file over 4 MiB" -- "$CPGO" check-config -c "$T/huge.yaml"
expect 2 "<stdin>: the file is larger than the limit of 4 MiB" "stdin over 4 MiB" -- \
  sh -c "'$CPGO' check-config -c - < '$T/huge.yaml'"

# a file that cannot be read is a usage error (exit 2), as for every command with -c
expect 2 "$T/missing.yaml: cannot open: No such file or directory" "missing file" -- "$CPGO" check-config -c "$T/missing.yaml"
expect 2 "is a directory" "directory" -- "$CPGO" check-config -c "$T"
if [ "$(id -u)" -ne 0 ]; then
  cp "$S" "$T/unreadable.yaml" && chmod 000 "$T/unreadable.yaml"
  expect 2 "Permission denied" "unreadable file" -- "$CPGO" check-config -c "$T/unreadable.yaml"
fi

# usage
expect 2 "cpgo help check-config" "unknown option" -- "$CPGO" check-config --bogus
expect 2 "needs a FILE" "-c without a file" -- "$CPGO" check-config -c
expect 2 "needs a FILE" "-configPath without a file" -- "$CPGO" check-config -configPath
expect 2 "expects one configuration file" "two files" -- "$CPGO" check-config "$S" "$S"
expect 0 "" "help" -- "$CPGO" help check-config
check "help mentions -configPath" grep -q -- '-configPath' "$T/out"
expect 2 "Run 'cpgo help check-config' for details." "--help" -- "$CPGO" check-config --help

# secrets never reach the output, valid or not
TOKEN='ghp_Z9yX8wV7uT6sR5qP4oN3mL2kJ1iH0gF'
cat > "$T/secrets.yaml" <<EOF
backends:
- url: http://scraper:pw-$TOKEN@localhost:6060/debug/pprof/profile?seconds=20
  schedule: '*/5 * * * *'
  headers:
    Authorization: Bearer $TOKEN
    Cookie: session=cookie-$TOKEN
    X-Auth-Token: hdr-$TOKEN
    Proxy-Authorization: Basic proxy-$TOKEN
    X-Scope-OrgID: team-a
  open_pull_request:
    repository: https://github.com/org/app
EOF
expect 0 "" "config with secrets" -- "$CPGO" check-config -c "$T/secrets.yaml"
check "the token is not in the dump" sh -c "! grep -qF -- '$TOKEN' '$T/out' '$T/err'"
check "Authorization is masked" grep -qF 'Authorization: "****"' "$T/out"
check "the URL password is masked" grep -qF 'http://scraper:xxxxx@localhost:6060' "$T/out"
check "other headers are shown" grep -qF 'X-Scope-OrgID: team-a' "$T/out"
# the same with errors elsewhere, and a bad header value
sed -e 's/seconds=20/seconds=zz/' -e "s/X-Scope-OrgID: team-a/X-Scope-OrgID: \"a\\\\nb $TOKEN\"/" \
  "$T/secrets.yaml" > "$T/secrets-bad.yaml"
printf 'github:\n  token: lit-%s\n' "$TOKEN" >> "$T/secrets-bad.yaml"
expect 2 "github.token: tokens must not be written in the configuration" "secrets with errors" -- \
  "$CPGO" check-config -c "$T/secrets-bad.yaml"
check "errors name the bad url" grep -qF "backends[0].url: 'http://scraper:xxxxx@localhost:6060" "$T/err"
check "errors name the bad header" grep -qF "backends[0].headers.X-Scope-OrgID: the value contains a line break" "$T/err"
check "the token is not in the errors" sh -c "! grep -qF -- '$TOKEN' '$T/out' '$T/err'"
check "the token_env hint is given" grep -qF "github.token_env" "$T/err"

# check-config refuses what run refuses: the head branch is force-pushed, so never the target
# branch (whatever the forge), and a branch name, not a ref; run refuses it at its start now,
# with the same line, instead of at the first publish
git init -q -b main "$T/hb-repo"
cat > "$T/hb.yaml" <<EOF
state_dir: $T/hb-state
backends:
- url: http://127.0.0.1:9/debug/pprof/profile?seconds=1
  schedule: '@hourly'
  open_pull_request:
    repository: $T/hb-repo
    head_branch: main
    target_branch: main
EOF
HB_ERR="$T/hb.yaml:7:18: backends[0].open_pull_request.head_branch: 'main' is the target branch"
expect 2 "$HB_ERR" "head_branch: main (forge local)" -- "$CPGO" check-config -c "$T/hb.yaml"
expect 2 "$HB_ERR" "run refuses head_branch: main at its start" -- "$CPGO" run --once -c "$T/hb.yaml"
check "run refused it before any state" [ ! -e "$T/hb-state" ]
sed 's|head_branch: main|head_branch: refs/heads/pgo|' "$T/hb.yaml" > "$T/hb-ref.yaml"
expect 2 "$T/hb-ref.yaml:7:18: backends[0].open_pull_request.head_branch: 'refs/heads/pgo' is not a valid branch name (must not start with 'refs/'" \
  "head_branch: refs/heads/pgo" -- "$CPGO" check-config -c "$T/hb-ref.yaml"
expect 2 "must not start with 'refs/'" "run refuses head_branch: refs/..." -- \
  "$CPGO" run --once -c "$T/hb-ref.yaml"

# paths are printed cleaned (no "/./", no "//", no trailing "/."), and every value left to
# run time is said on stderr, one "warning: resolved at run time: " line each
mkdir -p "$T/rt/sub"
cat > "$T/rt/sub/rt.yaml" <<EOF
state_dir: ./st//x/.
github: {token_file: ./tok/./en}
backends:
- url: http://127.0.0.1:1/debug/pprof/profile?seconds=1
  schedule: '@hourly'
  open_pull_request: {repository: https://github.com/acme/svc}
- url: http://127.0.0.1:2/debug/pprof/profile?seconds=1
  schedule: '@hourly'
  open_pull_request: {repository: ./repo/./x//, target_branch: main, target_file: pgo/x.pgo}
- url: http://127.0.0.1:3/debug/pprof/profile?seconds=1
  schedule: '@hourly'
  open_pull_request: {repository: 'git@gitlab.com:acme/svc.git', target_branch: main, target_file: a/b.pgo}
services:
- name: s
  schedule: '@hourly'
  dns_sd_configs: [{names: [a.example], type: A, port: 6060}]
  file_sd_configs: [{files: [./sd//./*.json]}]
  open_pull_request: {repository: https://gitea.example/acme/svc, forge: gitea, target_branch: main, target_file: c/d.pgo}
gitea: {api_url: https://gitea.example/api/v1}
EOF
(cd "$T/rt" && env -u GITLAB_TOKEN GITEA_TOKEN=x "$CPGO" check-config -c sub/rt.yaml >"$T/out" 2>"$T/err")
check "run-time config valid (exit $?: $(head -3 "$T/err"))" [ -s "$T/out" ]
R="$T/rt/sub"
check "state_dir cleaned" grep -qxF "state_dir: $R/st/x" "$T/out"
check "token_file cleaned" grep -qxF "  token_file: $R/tok/en" "$T/out"
check "local repository cleaned" grep -qxF "    repository: $R/repo/x" "$T/out"
check "file_sd pattern cleaned" grep -qF "\"$R/sd/*.json\"" "$T/out"
check "no /./ nor // nor a trailing /. in any path" bash -c "! grep -E '/\\./|[^:]//|/\\.\$' '$T/out'"
rt() { grep -cF "warning: resolved at run time: $1" "$T/err"; }
check "target_branch not written: said once, for its target" \
  [ "$(rt 'target github.com/acme/svc@<default>:default.pgo: target_branch not written')" -eq 1 ]
check "target_file without a directory: said" \
  [ "$(rt 'target github.com/acme/svc@<default>:default.pgo: target_file default.pgo has no directory')" -eq 1 ]
check "target_file with a directory: not said" [ "$(grep -c 'has no directory' "$T/err")" -eq 1 ]
check "github token file: said" [ "$(rt "github.token_file $R/tok/en: the token is read at start")" -eq 1 ]
check "gitlab token from the environment, unset here: said" \
  [ "$(rt 'gitlab.token_env: the token is read from the environment variable GITLAB_TOKEN at start and on reload (not set in this environment)')" -eq 1 ]
check "gitea token from the environment, set here: said, never its value" \
  [ "$(rt 'gitea.token_env: the token is read from the environment variable GITEA_TOKEN at start and on reload (set in this environment)')" -eq 1 ]
check "ssh without git.ssh_key: the agent" [ "$(rt 'git.ssh_key not written')" -eq 1 ]
check "the service's discovery: said" \
  [ "$(rt 'services[0] s: instances are discovered (dns_sd_configs[0]: 1 name asked every 30s; file_sd_configs[0]: 1 file pattern read when they change)')" -eq 1 ]
check "state_dir written: not said" [ "$(rt 'state_dir')" -eq 0 ]
check "only run-time warnings" bash -c "! grep -v '^warning: resolved at run time: ' '$T/err'"
(cd "$T/rt" && "$CPGO" check-config -q -c sub/rt.yaml >"$T/out" 2>"$T/err")
check "-q: quiet about run time too" [ ! -s "$T/err" ]
sed -i '/^state_dir:/d' "$T/rt/sub/rt.yaml"
(cd "$T/rt" && "$CPGO" check-config -c sub/rt.yaml >"$T/out" 2>"$T/err")
check "state_dir not written: said, with the path this environment gives" \
  [ "$(rt "state_dir not written: $T/xdg/cpgo comes from this environment")" -eq 1 ]

# the reference is docs/CONFIG.md
expect 0 "" "--reference" -- "$CPGO" check-config --reference
check "docs/CONFIG.md is current (regenerate: cpgo check-config --reference > docs/CONFIG.md)" \
  cmp -s "$T/out" "$CPGO_SRC/docs/CONFIG.md"
finish

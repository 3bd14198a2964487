#!/usr/bin/env bash
# `cpgo check-config` of issue 13's configuration: the gitlab and gitea examples load, their
# dumps show the forge sections and the pull request's options and load again into the same
# dump; the default forge follows the repository's host; each bad value exits 2 with one
# file:line:column: key-path line (a forge typo, a label with a comma, an empty label, a
# reviewer with a space, 51 labels, a commit_prefix with a newline, a non-loopback http
# api_url, a gitea target without gitea.api_url, targets whose backends disagree on labels
# or draft); forge local's ignored options are warnings on stderr, the exit status 0.
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
# only DESCRIPTION NEEDLE: stderr is exactly the one error line NEEDLE and the summary
only() {
  if [ "$(head -n 1 "$T/err")" = "$2" ] && [ "$(wc -l < "$T/err")" -eq 2 ]; then
    ok
  else
    fail "$1: stderr is not the one line '$2': $(cat "$T/err")"
  fi
}

# ---- the examples: load, show the new keys, load again into the same dump ----------------
EX="$CPGO_SRC/examples/config"
expect 0 "" "the gitlab example loads" -- "$CPGO" check-config -c "$EX/gitlab.yaml"
check "nothing on stderr but what is resolved at run time" bash -c "! grep -v '^warning: resolved at run time: ' '$T/err'"
has "gitlab section" "$T/out" "gitlab:
  api_url: https://gitlab.com/api/v4
  token_env: GITLAB_TOKEN
  token_file: null
"
has "gitlab options" "$T/out" "    forge: gitlab
    reopen_growth: 100
    labels:
    - pgo
    - performance
    reviewers:
    - alice
    assignees:
    - bob.smith
    draft: false
    auto_merge: true
    commit_prefix: \"perf(pgo): \"
"
check "gitlab target" grep -q '^#   [0-9a-f]\{16\} gitlab.com/acme/backend/search@main:cmd/search/default.pgo -> .* (gitlab)$' "$T/out"

expect 0 "" "the gitea example loads" -- "$CPGO" check-config -c "$EX/gitea.yaml"
has "gitea section" "$T/out" "gitea:
  api_url: https://git.example.com/api/v1
  token_env: GITEA_TOKEN
  token_file: /run/secrets/cpgo-gitea-token
"
check "no gitlab section when unused" sh -c "! grep -q '^gitlab:' '$T/out'"
check "both members take the labels from defaults" [ "$(grep -c '^    - pgo$' "$T/out")" -eq 2 ]
check "gitea target, both members" grep -q '(gitea)$' "$T/out"
check "one target" grep -q '^# 1 target ' "$T/out"

expect 0 "" "the github example loads" -- "$CPGO" check-config -c "$EX/github.yaml"
has "github options" "$T/out" "    commit_prefix: \"chore(pgo): \"
"
check "a github config shows no gitlab or gitea section" sh -c "! grep -q '^gitlab:\|^gitea:' '$T/out'"

for f in "$EX/gitlab.yaml" "$EX/gitea.yaml" "$EX/github.yaml"; do
  "$CPGO" check-config -c "$f" > "$T/d1.yaml" 2>/dev/null
  "$CPGO" check-config -c "$T/d1.yaml" > "$T/d2.yaml" 2>"$T/err"
  check "dump of $(basename "$f") loads ($(head -c 300 "$T/err"))" [ -s "$T/d2.yaml" ]
  check "dump of $(basename "$f") is stable" cmp -s <(tail -n +2 "$T/d1.yaml") <(tail -n +2 "$T/d2.yaml")
done

# ---- the default forge by host --------------------------------------------------------------
backend() { # backend REPOSITORY [EXTRA open_pull_request LINES]
  printf 'backends:\n- url: http://a:6060/debug/pprof/profile\n  schedule: "@hourly"\n'
  printf '  open_pull_request:\n    repository: %s\n' "$1"
  [ -n "${2:-}" ] && printf '%s\n' "$2"
  return 0
}
forge_of() { # forge_of FILE: the forge of the first target line of its dump
  "$CPGO" check-config -c "$1" 2>/dev/null | sed -n 's/^#   \([0-9a-f]\{16\} \)\{0,1\}[^ ]* -> .* (\([a-z]*\))$/\2/p' | head -n 1
}
backend https://gitlab.com/acme/app > "$T/f1.yaml"
check "gitlab.com is gitlab" [ "$(forge_of "$T/f1.yaml")" = gitlab ]
backend https://github.com/acme/app > "$T/f2.yaml"
check "github.com is github" [ "$(forge_of "$T/f2.yaml")" = github ]
{ echo "gitlab: {api_url: 'https://gitlab.example.com/api/v4'}"; backend git@gitlab.example.com:grp/sub/app.git; } > "$T/f3.yaml"
check "gitlab.api_url's host is gitlab" [ "$(forge_of "$T/f3.yaml")" = gitlab ]
{ echo "gitea: {api_url: 'https://forgejo.example.com/api/v1'}"; backend https://forgejo.example.com/o/app; } > "$T/f4.yaml"
check "gitea.api_url's host is gitea" [ "$(forge_of "$T/f4.yaml")" = gitea ]
{ echo "github: {api_url: 'https://ghe.example.com/api/v3'}"; backend https://ghe.example.com/o/app; } > "$T/f5.yaml"
check "github.api_url's host is github" [ "$(forge_of "$T/f5.yaml")" = github ]
backend "$T/repo" > "$T/f6.yaml"
check "a local path is local" [ "$(forge_of "$T/f6.yaml")" = local ]

# ---- refusals: exit 2, one file:line:col: key-path line each --------------------------------
bad() { # bad NAME EXPECTED-LINE (the file is on stdin)
  cat > "$T/$1.yaml"
  (cd "$T" && "$CPGO" check-config -c "$1.yaml" > "$T/out" 2> "$T/err")
  local rc=$?
  if [ "$rc" -ne 2 ]; then fail "$1: exit $rc, want 2 ($(cat "$T/err"))"; return; fi
  only "$1" "$2"
}
backend https://gitlab.com/acme/app "    forge: gitlba" | bad forge-typo \
  "forge-typo.yaml:6:12: backends[0].open_pull_request.forge: 'gitlba' is not one of github, gitlab, gitea, local"
backend https://gitlab.com/acme/app "    labels: [pgo, 'perf,cpu']" | bad label-comma \
  "label-comma.yaml:6:19: backends[0].open_pull_request.labels[1]: label 'perf,cpu' contains ','; GitLab separates labels with commas"
backend https://gitlab.com/acme/app "    labels: [pgo, '']" | bad label-empty \
  "label-empty.yaml:6:19: backends[0].open_pull_request.labels[1]: expected a string, got an empty one"
backend https://github.com/acme/app "    reviewers: ['alice smith']" | bad reviewer-space \
  "reviewer-space.yaml:6:17: backends[0].open_pull_request.reviewers[0]: 'alice smith' is not a user name (1 to 255 of A-Z a-z 0-9 . _ -)"
backend https://github.com/acme/app "    labels: [$(seq -s ', ' -f 'l%g' 1 51)]" | bad labels-51 \
  "labels-51.yaml:6:13: backends[0].open_pull_request.labels: 51 entries; at most 50 are allowed"
backend https://github.com/acme/app '    commit_prefix: "chore:\nx"' | bad prefix-newline \
  "prefix-newline.yaml:6:20: backends[0].open_pull_request.commit_prefix: 'chore:?x' contains a line break or control character; the prefix goes before the commit subject and the pull request's title, one line of printable UTF-8"
{ echo "gitlab:"; echo "  api_url: http://gitlab.example.com/api/v4"; backend https://gitlab.com/acme/app; } | bad http-api \
  "http-api.yaml:2:12: gitlab.api_url: 'http://gitlab.example.com/api/v4' is plain http; the token goes with every request, so use https (http only on loopback: 127.0.0.1, [::1], localhost)"
backend https://gitea.example.com/acme/app "    forge: gitea" | bad gitea-no-api \
  "gitea-no-api.yaml:6:12: backends[0].open_pull_request.forge: gitea needs gitea.api_url (the Gitea or Forgejo API, https://HOST/api/v1); Gitea has no default host"
backend https://github.com/acme/app "    forge: gitlab" | bad token-host \
  "token-host.yaml:5:17: backends[0].open_pull_request.repository: 'https://github.com/acme/app' is not on gitlab.com, the host of gitlab.api_url (https://gitlab.com/api/v4): forge gitlab would send the GitLab token there; set gitlab.api_url to that server's API, or another forge"
{ backend https://gitlab.com/acme/app "    labels: [pgo]"
  printf -- '- url: http://b:6060/debug/pprof/profile\n  schedule: "@hourly"\n'
  printf '  open_pull_request:\n    repository: git@gitlab.com:acme/app.git\n    labels: [pgo, perf]\n'
} | bad disagree-labels \
  "disagree-labels.yaml:11:13: backends[1].open_pull_request.labels: [pgo, perf] differs from backends[0] ([pgo]), which writes the same target gitlab.com/acme/app@<default>:default.pgo; backends of one target must agree on open_pull_request settings"
{ backend https://gitlab.com/acme/app
  printf -- '- url: http://b:6060/debug/pprof/profile\n  schedule: "@hourly"\n'
  printf '  open_pull_request:\n    repository: https://gitlab.com/acme/app\n    draft: true\n'
} | bad disagree-draft \
  "disagree-draft.yaml:10:12: backends[1].open_pull_request.draft: true differs from backends[0] (false), which writes the same target gitlab.com/acme/app@<default>:default.pgo; backends of one target must agree on open_pull_request settings"
{ echo "gitlab:"; echo "  token: glpat-NOTREALLYSECRET"; backend https://gitlab.com/acme/app; } | bad token-in-file \
  "token-in-file.yaml:2:3: gitlab.token: tokens must not be written in the configuration; put the token in the environment (gitlab.token_env names the variable, default GITLAB_TOKEN) or in a file (gitlab.token_file)"
check "the token is not echoed" sh -c "! grep -q NOTREALLYSECRET '$T/err'"

# ---- forge local: the pull request's options but commit_prefix are warnings ----------------
backend "$T/repo" "    labels: [pgo]
    draft: true
    commit_prefix: 'pgo: '" > "$T/local.yaml"
(cd "$T" && "$CPGO" check-config -c local.yaml > "$T/out" 2> "$T/err")
check "forge local loads (exit $?)" [ -s "$T/out" ]
check "a warning for labels" grep -qxF "warning: local.yaml:6:13: backends[0].open_pull_request.labels: ignored: forge local opens no pull request (of the pull request's options it uses commit_prefix only)" "$T/err"
check "a warning for draft" grep -qF "warning: local.yaml:7:12: backends[0].open_pull_request.draft: ignored" "$T/err"
check "no warning for commit_prefix" sh -c "! grep -q open_pull_request.commit_prefix '$T/err'"
check "two warnings (and those of what is resolved at run time)" [ "$(grep -vc '^warning: resolved at run time: ' "$T/err")" -eq 2 ]
finish

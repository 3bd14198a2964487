#!/usr/bin/env bash
# `cpgo check-config` of issue 11's configuration: services with every discovery kind, dns:,
# and the scrape options; the secret files' contents never reach check-config's output or
# its errors (valid or not); relative paths resolve against the configuration's directory;
# the dump loads again unchanged; a bad secret file or an inline secret exits 2 naming the
# file and key.
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

PW='pw-Q7wE2rT9yU4iO1pA'
CRED='cred-Z3xC8vB5nM6lK0jH'
mkdir -p "$T/cfg/secrets" "$T/cfg/tls"
printf '%s\n' "$PW" > "$T/cfg/secrets/password"
printf '%s\n\n' "$CRED" > "$T/cfg/secrets/credentials"
chmod 600 "$T/cfg/secrets/password" "$T/cfg/secrets/credentials"
printf -- '-----BEGIN CERTIFICATE-----\n' > "$T/cfg/tls/ca.pem"

cat > "$T/cfg/services.yaml" <<'EOF'
dns:
  servers: ['127.0.0.1:5353']
defaults:
  basic_auth:
    username: scraper
    password_file: secrets/password
  open_pull_request:
    repository: https://github.com/org/shop
backends:
- url: http://127.0.0.1:6060/debug/pprof/profile?seconds=10
  schedule: '*/10 * * * *'
  open_pull_request:
    target_file: cmd/checkout/default.pgo
services:
- name: checkout
  schedule: '*/10 * * * *'
  seconds: 10
  static_configs:
  - targets: ['10.0.0.7:6060', 'checkout-1.internal:6060']
  dns_sd_configs:
  - names: ['_pprof._tcp.checkout.prod.internal']
  - names: [checkout.prod.internal]
    type: A
    port: 6060
  file_sd_configs:
  - files: ['targets/*.json', more.yaml]
  open_pull_request:
    target_file: cmd/checkout/default.pgo
- name: cart
  schedule: '@hourly'
  scheme: https
  max_instances: 0
  basic_auth: null
  authorization:
    credentials_file: secrets/credentials
  tls_config:
    ca_file: tls/ca.pem
  proxy_url: http://proxyuser:proxy-pw-9988@proxy:3128
  kubernetes_sd_configs:
  - role: pod
    api_server: https://kubernetes.default.svc
    namespaces: {names: [prod]}
    selectors: [{role: pod, label: 'app=cart'}]
    port: pprof
    bearer_token_file: secrets/token
  open_pull_request:
    target_file: cmd/cart/default.pgo
EOF

# valid: exit 0, every service dumped, both sources of checkout's target grouped
expect 0 "" "services config" -- "$CPGO" check-config -c "$T/cfg/services.yaml"
check "nothing on stderr but what is resolved at run time" bash -c "! grep -v '^warning: resolved at run time: ' '$T/err'"
check "checkout dumped" grep -q '^- name: checkout$' "$T/out"
check "cart dumped" grep -q '^- name: cart$' "$T/out"
check "max_instances 0 kept" grep -q '^  max_instances: 0$' "$T/out"
check "dns servers dumped" grep -qF -- '- "127.0.0.1:5353"' "$T/out"
check "relative file_sd pattern resolved" grep -qF -- "- \"$T/cfg/targets/*.json\"" "$T/out"
check "bearer_token_file resolved" grep -qF "bearer_token_file: $T/cfg/secrets/token" "$T/out"
check "password file shown by path" grep -qF "password_file: $T/cfg/secrets/password" "$T/out"
check "credentials file shown by path" grep -qF "credentials_file: $T/cfg/secrets/credentials" "$T/out"
check "authorization type defaults to Bearer" grep -q '^    type: Bearer$' "$T/out"
check "proxy password masked" grep -qF 'proxy_url: http://proxyuser:xxxxx@proxy:3128' "$T/out"
check "2 targets" grep -q '^# 2 targets' "$T/out"
grep -A3 -F 'github.com/org/shop@<default>:cmd/checkout/default.pgo' "$T/out" > "$T/checkout.target"
check "checkout's target holds the backend" grep -q '^#     backends: 127.0.0.1:6060$' "$T/checkout.target"
check "checkout's target holds the service" grep -q '^#     services: checkout$' "$T/checkout.target"
grep -A2 -F 'github.com/org/shop@<default>:cmd/cart/default.pgo' "$T/out" > "$T/cart.target"
check "cart's target is the service alone" grep -q '^#     services: cart$' "$T/cart.target"
check "no secret in the dump" sh -c "! grep -qF -e '$PW' -e '$CRED' -e 'proxy-pw-9988' '$T/out' '$T/err'"

# the dump is configuration: it loads again and gives the same text
cp "$T/out" "$T/d1.yaml"
(cd "$T" && "$CPGO" check-config -c "$T/d1.yaml" > "$T/d2.yaml" 2>"$T/err")
check "the dump loads ($(head -c 300 "$T/err"))" [ -s "$T/d2.yaml" ]
check "the dump is stable" cmp -s <(tail -n +2 "$T/d1.yaml") <(tail -n +2 "$T/d2.yaml")
# (the dump masks the proxy password, so its reload checks the masked URL: still valid)

# errors: a secret file others can write, an empty one, one that is missing; never the
# content of any of them in the errors
cp "$T/cfg/secrets/password" "$T/cfg/secrets/open"
chmod 666 "$T/cfg/secrets/open"
: > "$T/cfg/secrets/empty"
chmod 600 "$T/cfg/secrets/empty"
sed -e 's|password_file: secrets/password|password_file: secrets/open|' \
    -e 's|credentials_file: secrets/credentials|credentials_file: secrets/empty|' \
    -e 's|ca_file: tls/ca.pem|ca_file: tls/missing.pem|' \
    "$T/cfg/services.yaml" > "$T/cfg/bad.yaml"
expect 2 "$T/cfg/bad.yaml:6:20: defaults.basic_auth.password_file: $T/cfg/secrets/open is writable by every user: refused (chmod 600 it)" \
  "world-writable password file" -- "$CPGO" check-config -c "$T/cfg/bad.yaml"
check "empty credentials named" grep -qF "$T/cfg/bad.yaml:35:23: services[1].authorization.credentials_file: $T/cfg/secrets/empty is empty" "$T/err"
check "missing CA named" grep -qF "$T/cfg/bad.yaml:37:14: services[1].tls_config.ca_file: $T/cfg/tls/missing.pem does not exist" "$T/err"
check "nothing on stdout on errors" [ ! -s "$T/out" ]
check "no secret in the errors" sh -c "! grep -qF -e '$PW' -e '$CRED' -e 'proxy-pw-9988' '$T/out' '$T/err'"

# a FIFO as the password file is refused at once (never waits for a writer)
mkfifo "$T/cfg/secrets/fifo"
sed 's|password_file: secrets/password|password_file: secrets/fifo|' "$T/cfg/services.yaml" > "$T/cfg/fifo.yaml"
expect 2 "defaults.basic_auth.password_file: $T/cfg/secrets/fifo is a FIFO" "FIFO password file" -- \
  timeout 20 "$CPGO" check-config -c "$T/cfg/fifo.yaml"

# secrets written inline are refused, naming the _file key, without echoing them
sed "s|    password_file: secrets/password|    password: $PW|" "$T/cfg/services.yaml" > "$T/cfg/inline.yaml"
expect 2 "$T/cfg/inline.yaml:6:5: defaults.basic_auth.password: secrets must not be written in the configuration; put it in a file and set basic_auth.password_file" \
  "inline password" -- "$CPGO" check-config -c "$T/cfg/inline.yaml"
check "inline password not echoed" sh -c "! grep -qF -- '$PW' '$T/out' '$T/err'"

# the rules that name a service's key path
cat > "$T/cfg/rules.yaml" <<'EOF'
dns:
  servers: [ns1.example.com]
services:
- name: a
  schedule: '@hourly'
  dns_sd_configs:
  - names: [a.internal]
  - names: [b.internal]
    type: A
  open_pull_request: {repository: 'https://github.com/org/shop'}
- name: a
  schedule: '@hourly'
  open_pull_request: {repository: 'https://github.com/org/shop', target_file: b.pgo}
EOF
expect 2 "$T/cfg/rules.yaml:2:13: dns.servers[0]: 'ns1.example.com' is not an IP address" \
  "dns server name" -- "$CPGO" check-config -c "$T/cfg/rules.yaml"
check "port required for A" grep -qF "$T/cfg/rules.yaml:8:5: services[0].dns_sd_configs[1].port: required for type A" "$T/err"
check "duplicate name" grep -qF "$T/cfg/rules.yaml:11:9: services[1].name: 'a' is also the name of services[0]" "$T/err"
check "no source" grep -qF "$T/cfg/rules.yaml:11:3: services[1]: no discovery source" "$T/err"

# services alone: backends may be left out
cat > "$T/cfg/only.yaml" <<'EOF'
services:
- name: only
  schedule: '@hourly'
  static_configs: [{targets: ['127.0.0.1:6060']}]
  open_pull_request: {repository: 'https://github.com/org/shop'}
EOF
expect 0 "" "services without backends" -- "$CPGO" check-config -c "$T/cfg/only.yaml"
check "backends dumped empty" grep -q '^backends: \[\]$' "$T/out"
finish

#!/usr/bin/env bash
# GitHub App authentication (publish/ghapp) against the fake GitHub, which verifies every
# JWT with the app's public key: keys made by openssl here (genrsa, genpkey); the driver
# tests/support/ghapp_token.c (cpgo-ghapp-token) asks for installation tokens as the
# daemon will. Checked: the installation looked up once per repository, one mint for
# many requests and for repositories of the same installation, the cache on the second
# round, a token that expires within the refresh margin minted again, the token accepted
# by the pulls API, a wrong key (a clear 401 error, one request, then a replaced key
# works), an app not installed (a clear 404 error), key files refused (encrypted, EC,
# garbage, mode 0644), and no token, JWT or key in any output.
. "$(dirname "$0")/lib.sh"
: "${CPGO_GHAPP_TOKEN:?run through ctest}"
command -v openssl >/dev/null || { echo "SKIP: no openssl"; exit 77; }

APP_ID=4242
openssl genrsa -out "$T/app.pem" 2048 2>/dev/null
openssl rsa -in "$T/app.pem" -pubout -out "$T/app.pub" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-256-cbc -pass pass:hunter2 \
  -out "$T/enc.pem" 2>/dev/null
printf -- '-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n' >"$T/junk.pem"
chmod 600 "$T"/*.pem

python3 "$CPGO_SRC/tests/support/fake_github.py" --port-file "$T/gh.port" --token unused-pat \
  --app-id "$APP_ID" --app-public-key "$T/app.pub" --lifetime 300 &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null' EXIT
wait_for "test -s $T/gh.port" 10 || { fail "the fake GitHub did not start"; finish; }
API="http://127.0.0.1:$(cat "$T/gh.port")"
ctl() { curl -s -X POST -d "$1" "$API/_control" >/dev/null; }
mints() { curl -s "$API/_log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mints"])'; }
# requests whose path contains $1, with credential kind $2
count() {
  curl -s "$API/_log" | python3 -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin)["requests"] if sys.argv[1] in r["path"] and r["auth_kind"] == sys.argv[2]))' "$1" "$2"
}
absent() { ! grep -q "$@"; }
run() { # run NAME ARGS...: stdout in $T/NAME.out, stderr (debug logs) in $T/NAME.err
  local name=$1; shift
  "$CPGO_GHAPP_TOKEN" --api "$API" --app-id "$APP_ID" "$@" >"$T/$name.out" 2>"$T/$name.err"
  echo $? >"$T/$name.rc"
}
rc() { cat "$T/$1.rc"; }

ctl '{"action":"app_install","repo":"acme/svc","installation_id":77}'
ctl '{"action":"app_install","repo":"acme/lib","installation_id":77}'
ctl '{"action":"app_install","repo":"beta/api","installation_id":88}'

# --- lookup, one mint for many, the cache -------------------------------------------------
run many --key "$T/app.pem" --rounds 2 --use acme/svc acme/svc acme/lib acme/svc beta/api
check "every request got a token (rc $(rc many): $(head -c 300 "$T/many.out"))" [ "$(rc many)" = 0 ]
check "ten answers" [ "$(grep -c '^ok ' "$T/many.out")" = 10 ]
check "installation 77 for acme/*" [ "$(grep -c 'repo=acme/.* installation=77 ' "$T/many.out")" = 8 ]
check "installation 88 for beta/api" [ "$(grep -c 'repo=beta/api installation=88 ' "$T/many.out")" = 2 ]
check "one token for installation 77" \
  [ "$(grep 'installation=77 ' "$T/many.out" | sed 's/.*token_sha=\([0-9a-f]*\).*/\1/' | sort -u | wc -l)" = 1 ]
check "tokens differ per installation" \
  [ "$(grep '^ok' "$T/many.out" | sed 's/.*token_sha=\([0-9a-f]*\).*/\1/' | sort -u | wc -l)" = 2 ]
check "the tokens work on the pulls API" [ "$(grep -c ' use=200$' "$T/many.out")" = 10 ]
check "one lookup per repository ($(count /installation app_jwt) with the JWT)" \
  [ "$(count svc/installation app_jwt)" = 1 ] && [ "$(count lib/installation app_jwt)" = 1 ]
check "two mints in all (one per installation): $(mints)" [ "$(mints)" = 2 ]
check "the pulls API saw installation tokens only" [ "$(count /pulls installation)" = 10 ]
check "the second round came from the cache" grep -q 'status jwts=1 lookups=3 mints=2 cached=5' "$T/many.out"
check "expiry about an hour ahead" grep -q 'expires_in=3[56][0-9][0-9] ' "$T/many.out"

# --- a token that expires within the 5-minute margin is minted again ------------------------
ctl '{"action":"app_token_ttl","seconds":299}'
before=$(mints)
run short --key "$T/app.pem" --rounds 3 acme/svc
check "short-lived tokens: answered (rc $(rc short))" [ "$(rc short)" = 0 ]
check "one mint per round: $before -> $(mints)" [ "$(mints)" = $((before + 3)) ]
check "three different tokens" \
  [ "$(grep '^ok' "$T/short.out" | sed 's/.*token_sha=//' | sort -u | wc -l)" = 3 ]
ctl '{"action":"app_token_ttl","seconds":3600}'

# --- an installation token expired early by GitHub is refused by the API --------------------
ctl '{"action":"app_expire_tokens"}'
run expired --key "$T/app.pem" --use acme/svc
check "a new token after the old ones expired works (a new process mints)" grep -q ' use=200$' "$T/expired.out"

# --- a fixed installation id: no lookup ------------------------------------------------------
lookups=$(count /installation app_jwt)
run fixed --key "$T/app.pem" --installation 88 beta/api acme/whatever
check "fixed installation: answered (rc $(rc fixed))" [ "$(rc fixed)" = 0 ]
check "fixed installation: no lookup" grep -q 'status jwts=1 lookups=0 mints=1' "$T/fixed.out"

# --- the wrong key: a clear 401, one request, then the right key (a reload) works -----------
before=$(count svc/installation app_jwt)
run wrong --key "$T/other.pem" --key2 "$T/app.pem" --rounds 2 acme/svc acme/svc
check "wrong key: exit 1 (rc $(rc wrong))" [ "$(rc wrong)" = 1 ]
check "wrong key: the error says the JWT was refused ($(grep -m1 error "$T/wrong.out"))" \
  grep -q "error repo=acme/svc class=auth: github app $APP_ID: GitHub refused the app's JWT looking up acme/svc (HTTP 401: A JSON web token could not be decoded): check github.app.app_id, github.app.private_key_file and this machine's clock" "$T/wrong.out"
check "wrong key: both requests of the round fail" [ "$(sed -n '/round 1/,/key replaced/p' "$T/wrong.out" | grep -c '^error')" = 2 ]
check "wrong key: the replaced key works in round 2" [ "$(sed -n '/round 2/,$p' "$T/wrong.out" | grep -c '^ok')" = 2 ]
check "wrong key: one refused lookup, one good one" [ "$(count svc/installation app_jwt)" = $((before + 2)) ]

# --- the app not installed on the repository ------------------------------------------------
run missing --key "$T/app.pem" acme/nothere
check "not installed: exit 1" [ "$(rc missing)" = 1 ]
check "not installed: says so ($(cat "$T/missing.out" | head -1))" \
  grep -q "class=not_found: github app $APP_ID is not installed on acme/nothere (GitHub answered 404 to GET /repos/acme/nothere/installation): install the app on that repository, or set github.app.installation_id" "$T/missing.out"

# --- key files refused, each with a clear error -----------------------------------------------
run enc --key "$T/enc.pem" acme/svc
check "encrypted key refused (rc $(rc enc))" [ "$(rc enc)" = 2 ]
check "encrypted: $(cat "$T/enc.err" | tail -1)" grep -q "github.app.private_key_file $T/enc.pem: encrypted keys are not supported" "$T/enc.err"
run ec --key "$T/ec.pem" acme/svc
check "EC key refused: $(tail -1 "$T/ec.err")" grep -q "github.app.private_key_file $T/ec.pem: not an RSA key" "$T/ec.err"
run junk --key "$T/junk.pem" acme/svc
check "garbage refused: $(tail -1 "$T/junk.err")" grep -q "github.app.private_key_file $T/junk.pem: not a PEM private key" "$T/junk.err"
cp "$T/app.pem" "$T/open.pem" && chmod 644 "$T/open.pem"
run open --key "$T/open.pem" acme/svc
check "mode 0644 refused: $(tail -1 "$T/open.err")" grep -q "github.app.private_key_file $T/open.pem is readable or writable by every user (mode 0644): refused (chmod 600 it)" "$T/open.err"
check "no request was made with a refused key" [ "$(grep -c . "$T/open.out")" = 0 ]

# --- no secret in any output (debug logs included) ---------------------------------------------
body=$(sed -n 2p "$T/app.pem" | cut -c5-40)
for f in "$T"/*.out "$T"/*.err; do
  check "no installation token in $(basename "$f")" absent 'ghs_' "$f"
  check "no JWT in $(basename "$f")" absent 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9' "$f"
  check "no key bytes in $(basename "$f")" absent -F -- "$body" "$f"
done
check "the debug logs did run" grep -q 'pull request API request' "$T/many.err"
finish

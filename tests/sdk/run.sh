#!/usr/bin/env bash
# Azure SDK compatibility suite: starts a fresh vault (HTTPS, its own private CA) on loopback,
# creates the identities the suite needs with the pgcmk CLI, and runs sdk.test.mjs and
# identity.test.mjs with Node's built-in test runner against it using the official
# @azure/keyvault-keys and @azure/identity (MSAL) packages.
# Usage: run.sh PATH_TO_PGCMK
set -euo pipefail
PGCMK=${1:?usage: run.sh PATH_TO_PGCMK}
cd "$(dirname "$0")"
if [[ ! -d node_modules/@azure/keyvault-keys || ! -d node_modules/@azure/identity ]]; then
  npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
fi
WORK=$(mktemp -d /tmp/vault-sdk-XXXXXX)
source ../../scripts/lib/throwaway_vault.sh
start_throwaway_vault "$PGCMK" "$WORK" --retention-days 7 -- --scheduler-interval 1
export VAULT_URL
export VAULT_CA="$WORK/vault/tls/ca.pem"
export VAULT_ADMIN_CREDENTIAL="$WORK/vault/admin.credential"
export PGCMK VAULT_DATA_DIR="$WORK/vault" VAULT_WORK="$WORK"
# MSAL (inside @azure/identity) has no per-call CA option: trust the vault's CA process-wide.
export NODE_EXTRA_CA_CERTS="$VAULT_CA"
timeout 540 node --test --test-concurrency=1 --test-reporter=spec sdk.test.mjs identity.test.mjs

# The by-hand example of docs/vault.md's quick start, exactly as a person runs it (from the repo
# root, without NODE_EXTRA_CA_CERTS), with an identity that may only get/wrap/unwrap.
"$PGCMK" vault identity create example-app --secret-file "$WORK/example-app.secret" --output json \
  --identity-credential-file "$WORK/example-app.credential" --data-dir "$WORK/vault" \
  >"$WORK/example-app.json"
"$PGCMK" vault key create example-kek --kty RSA --size 3072 --data-dir "$WORK/vault" >/dev/null
"$PGCMK" vault policy set example-app --role "Key Vault Crypto Service Encryption User" \
  --data-dir "$WORK/vault" >/dev/null
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/example-app.json" "$1"; }
out=$(cd ../.. && env -u NODE_EXTRA_CA_CERTS -u VAULT_URL -u VAULT_CA VAULT_DIR="$WORK/vault" \
  TENANT_ID=$(field tenantId) CLIENT_ID=$(field clientId) SECRET_FILE="$WORK/example-app.secret" \
  KEY=example-kek timeout 120 node tests/sdk/wrap-unwrap.mjs)
echo "$out"
grep -q "unwrapped it again with the vault: identical" <<<"$out"
# The quick start's CLI part: wrap and unwrap as the identity (its credential file), and nothing
# else (listing keys is refused with the CLI's "denied" exit code 4).
as_app=(--data-dir "$WORK/vault" --credential-file "$WORK/example-app.credential")
head -c 32 /dev/urandom >"$WORK/dek"
"$PGCMK" vault key wrap example-kek --alg RSA-OAEP-256 --in "$WORK/dek" --out "$WORK/dek.wrapped" \
  "${as_app[@]}" >/dev/null
"$PGCMK" vault key unwrap example-kek --alg RSA-OAEP-256 --in "$WORK/dek.wrapped" \
  --out "$WORK/dek.again" "${as_app[@]}" >/dev/null
cmp "$WORK/dek" "$WORK/dek.again"
set +e
"$PGCMK" vault key list "${as_app[@]}" >"$WORK/list.out" 2>&1
rc=$?
set -e
[[ $rc == 4 ]] || { echo "key list as example-app: exit $rc, expected 4"; cat "$WORK/list.out"; exit 1; }
echo "CLI wrap/unwrap as the identity: ok (and key list refused)"
# Without the role the same example is refused (403 from the vault, non-zero exit).
"$PGCMK" vault policy delete example-app --data-dir "$WORK/vault" >/dev/null
if (cd ../.. && env -u NODE_EXTRA_CA_CERTS -u VAULT_URL -u VAULT_CA VAULT_DIR="$WORK/vault" \
  TENANT_ID=$(field tenantId) CLIENT_ID=$(field clientId) SECRET_FILE="$WORK/example-app.secret" \
  KEY=example-kek timeout 120 node tests/sdk/wrap-unwrap.mjs >"$WORK/denied.out" 2>&1); then
  echo "wrap-unwrap.mjs succeeded without a policy"; exit 1
fi
grep -q -i "forbidden\|403\|not authorized\|does not have" "$WORK/denied.out" || { cat "$WORK/denied.out"; exit 1; }
echo "wrap-unwrap.mjs example: ok (and refused once the policy is deleted)"

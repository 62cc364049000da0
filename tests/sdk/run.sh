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
DAEMON=""
cleanup() {
  if [[ -n "$DAEMON" ]]; then kill "$DAEMON" 2>/dev/null || true; wait "$DAEMON" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
"$PGCMK" vault init --data-dir "$WORK/vault" --retention-days 7 >/dev/null
"$PGCMK" vault serve --data-dir "$WORK/vault" --listen 127.0.0.1:0 --scheduler-interval 1 >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 1 200); do [[ -s "$WORK/vault/vault.url" ]] && break; sleep 0.05; done
[[ -s "$WORK/vault/vault.url" ]] || { cat "$WORK/daemon.log"; exit 1; }
export VAULT_URL=$(tr -d '\n' < "$WORK/vault/vault.url")
export VAULT_CA="$WORK/vault/tls/ca.pem"
export VAULT_ADMIN_CREDENTIAL="$WORK/vault/admin.credential"
export PGCMK VAULT_DATA_DIR="$WORK/vault" VAULT_WORK="$WORK"
# MSAL (inside @azure/identity) has no per-call CA option: trust the vault's CA process-wide.
export NODE_EXTRA_CA_CERTS="$VAULT_CA"
timeout 540 node --test --test-concurrency=1 --test-reporter=spec sdk.test.mjs identity.test.mjs

#!/usr/bin/env bash
# End-to-end crypto-shredding: once the KEK is purged, the server cannot be started and its backing
# files and manifest reveal nothing. Needs a purgeable key, so this test's vault has no purge
# protection and the server is created with the test-only --allow-purgeable-key.
TEST_NAME=shred
source "$(dirname "$0")/lib.sh"

init_vault
start_vault
CID=$(make_identity pg-identity)
grant pg-identity
make_key pg-key --kty RSA --size 3072
# Without the unsafe flag, a key without purge protection is refused.
printf 'pw\n' >"$WORK/x.password"
if out=$(server create x --key "$VAULT_URL/keys/pg-key" --identity "$CID" --identity-secret-file \
  "$WORK/pg-identity.secret" --vault-ca "$VAULT_CA" --admin-password-file "$WORK/x.password" 2>&1); then
  fail "a key without purge protection was accepted"
fi
grep -q "purge protection" <<<"$out" || fail "refusal does not name purge protection: $out"

create_cmk_server db4 pg-key pg-identity "$CID" --check-interval 1 \
  --allow-purgeable-key=yes-destroy-on-purge >/dev/null
server start db4 >/dev/null || fail "start failed"
wait_state db4 Ready 30
MARKER="shred-marker-$(date +%s%N)"
sql db4 "create table secrets(v text); insert into secrets select '$MARKER' from generate_series(1,2000); checkpoint;"
server stop db4 >/dev/null

vault key delete pg-key >/dev/null
vault key purge pg-key >/dev/null || fail "purge failed"
if server start db4 --timeout 20 >"$WORK/start.out" 2>&1; then fail "started after the KEK was purged"; fi
grep -qi "not accessible\|Inaccessible\|not found" "$WORK/start.out" || fail "start error unclear: $(cat "$WORK/start.out")"
server stop db4 >/dev/null
D="$STATE/servers/db4"
if grep -rqa "$MARKER" "$D/backing" "$D/manifest.json" "$D/activity.log" "$D/status.json"; then
  fail "the marker is readable without the key"
fi
grep -q '"wrapped_dek"' "$D/manifest.json" || fail "manifest has no wrapped DEK"
python3 - "$D/manifest.json" <<'PY' || fail "manifest holds more than a wrapped DEK"
import json, sys, base64
m = json.load(open(sys.argv[1]))
w = m["encryption"]["wrapped_dek"]
raw = base64.urlsafe_b64decode(w + "=" * (-len(w) % 4))
assert len(raw) == 384, len(raw)          # one RSA-3072 OAEP block, nothing else
assert set(m["encryption"]) == {"type", "key_uri", "identity_client_id", "wrapping_kid", "wrap_alg", "wrapped_dek"}
PY
log "after purge: start refused, marker absent from backing files and manifest"
log "PASS"

#!/usr/bin/env bash
# End-to-end: a CMK server whose identity authenticates with a certificate credential instead of
# a client secret. The vault CLI generates the key + self-signed certificate (0600, registered);
# create refuses a credential file others can read, and both credentials at once; the server is
# created, stores the credential 0600 beside its manifest (and no secret), starts Ready and
# serves queries; the vault's audit shows certificate logins only; `update` switches the stored
# credential to the secret and back.
TEST_NAME=cert-identity
source "$(dirname "$0")/lib.sh"

init_vault --purge-protection
start_vault
CID=$(make_identity pg-cert)
vault identity cert create pg-cert --out "$WORK/pg-cert.pem" >/dev/null || fail "cert create failed"
[[ $(stat -c %a "$WORK/pg-cert.pem") == 600 ]] || fail "credential file is not 0600"
grant pg-cert
make_key pg-key --kty RSA --size 2048

printf 'pw\n' >"$WORK/bad.password"
cp "$WORK/pg-cert.pem" "$WORK/loose.pem"
chmod 644 "$WORK/loose.pem"
if out=$(server create bad --key "$VAULT_URL/keys/pg-key" --identity "$CID" \
  --identity-certificate-file "$WORK/loose.pem" --vault-ca "$VAULT_CA" \
  --admin-password-file "$WORK/bad.password" --port "$(free_port)" 2>&1); then
  fail "a world-readable key file was accepted"
fi
grep -q "owner only" <<<"$out" || fail "unexpected error: $out"
if out=$(server create bad --key "$VAULT_URL/keys/pg-key" --identity "$CID" \
  --identity-certificate-file "$WORK/pg-cert.pem" --identity-secret-file "$WORK/pg-cert.secret" \
  --vault-ca "$VAULT_CA" --admin-password-file "$WORK/bad.password" --port "$(free_port)" 2>&1); then
  fail "two credentials were accepted"
fi
grep -q "exactly one" <<<"$out" || fail "unexpected error: $out"
[[ ! -e "$STATE/servers/bad" ]] || fail "a failed create left files"

SERVERS+=(db1)
printf 'pw-db1-secret\n' >"$WORK/db1.password"
server create db1 --key "$VAULT_URL/keys/pg-key" --identity "$CID" \
  --identity-certificate-file "$WORK/pg-cert.pem" --vault-ca "$VAULT_CA" \
  --admin-password-file "$WORK/db1.password" --port "$(free_port)" --check-interval 1 >/dev/null ||
  fail "create with a certificate identity failed"
P="$STATE/servers/db1/identity-$CID.pem"
[[ $(stat -c '%a %U' "$P") == "600 pgcmk" ]] || fail "stored credential is $(stat -c '%a %U' "$P")"
[[ ! -e "$STATE/servers/db1/identity-$CID.secret" ]] || fail "a secret file was stored"
server start db1 >/dev/null || fail "start failed"
[[ $(state_of db1) == Ready ]] || fail "not Ready"
sql db1 "create table t as select 42 as x"
[[ $(sql db1 "select x from t") == 42 ]] || fail "query failed"
server restart db1 >/dev/null || fail "restart failed"
[[ $(sql db1 "select x from t") == 42 ]] || fail "data lost across restart"

vault audit show --operation Authentication --identity pg-cert --limit 1000 --output json >"$WORK/auth.json"
python3 - "$WORK/auth.json" <<'PY' || fail "audit does not show certificate logins only"
import json, sys
records = json.load(open(sys.argv[1]))["value"]
ok = [r for r in records if r["resultType"] == "Success"]
assert ok, "no successful logins"
assert all(r["properties"].get("id", "").startswith("certificates/") for r in ok), ok
PY

# update can switch the stored credential to the secret and back; the supervisor follows.
D="$STATE/servers/db1"
server update db1 --key "$VAULT_URL/keys/pg-key" --identity "$CID" \
  --identity-secret-file "$WORK/pg-cert.secret" >/dev/null || fail "update to the secret failed"
[[ -e "$D/identity-$CID.secret" && ! -e "$D/identity-$CID.pem" ]] || fail "secret not stored alone"
server update db1 --key "$VAULT_URL/keys/pg-key" --identity "$CID" \
  --identity-certificate-file "$WORK/pg-cert.pem" >/dev/null || fail "update to the certificate failed"
[[ -e "$D/identity-$CID.pem" && ! -e "$D/identity-$CID.secret" ]] || fail "certificate not stored alone"
server restart db1 >/dev/null || fail "restart after update failed"
[[ $(sql db1 "select x from t") == 42 ]] || fail "query after update failed"
server stop db1 >/dev/null
log "PASS"

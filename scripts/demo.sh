#!/usr/bin/env bash
# The README's main job (`make demo`, after the build): starts a local key vault, creates an
# identity and an RSA-3072 key with purge protection, grants the identity the database role,
# creates and starts a PostgreSQL server encrypted under that customer-managed key, runs a query
# over verify-full TLS, and prints how to connect, inspect and stop it.
#   scripts/demo.sh BUILD_DIR          run (re-running replaces the previous demo)
#   scripts/demo.sh BUILD_DIR stop     stop the demo server and vault
# Everything lives in $PGCMK_DEMO_DIR (default /var/lib/pgcmk-demo); all traffic is on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PGCMK=$(realpath "$BUILD/src/cli/pgcmk")
D=${PGCMK_DEMO_DIR:-/var/lib/pgcmk-demo}
STATE="$D/state"
VAULT="$D/vault"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stop_demo() {
  if [[ -d "$STATE/servers/demo" ]]; then
    "$PGCMK" server stop demo --state-dir "$STATE" || true
  fi
  if [[ -f "$D/vault.pid" ]]; then
    local pid
    pid=$(cat "$D/vault.pid")
    # Only the vault this script started (its command line names this data directory).
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "vault serve --data-dir $VAULT"; then
      kill "$pid" && while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
      echo "vault (pid $pid) stopped"
    fi
    rm -f "$D/vault.pid"
  fi
}

if [[ ${2:-} == stop ]]; then
  stop_demo
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "demo: run as root (make demo); PostgreSQL and the mount run as the user pgcmk" >&2
  exit 1
fi

say "Replacing any previous demo in $D"
stop_demo
rm -rf "$D"
mkdir -p "$D"
chmod 711 "$D"

say "Starting a local key vault (HTTPS, private CA, purge protection, 90-day soft-delete retention)"
"$PGCMK" vault init --data-dir "$VAULT" --retention-days 90 --purge-protection
PORT=8443
if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fi
nohup "$PGCMK" vault serve --data-dir "$VAULT" --listen "127.0.0.1:$PORT" >"$D/vault.log" 2>&1 &
echo $! >"$D/vault.pid"
for _ in $(seq 1 100); do
  [[ -s "$VAULT/vault.url" ]] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
URL=$(cat "$VAULT/vault.url")
echo "vault listening at $URL (log: $D/vault.log)"

say "Creating the identity 'pg-demo', the key 'pg-demo-key' (RSA-3072) and granting the role"
CID=$("$PGCMK" vault identity create pg-demo --secret-file "$D/pg-demo.secret" --data-dir "$VAULT" --output json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
echo "identity pg-demo: client id $CID (secret in $D/pg-demo.secret, mode 0600)"
"$PGCMK" vault key create pg-demo-key --kty RSA --size 3072 --data-dir "$VAULT"
"$PGCMK" vault policy set pg-demo --role "Key Vault Crypto Service Encryption User" --data-dir "$VAULT"

say "Creating the PostgreSQL server 'demo' with the customer-managed key (versionless: automatic key version updates)"
umask 077
head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$D/admin.password"
umask 022
"$PGCMK" server create demo --state-dir "$STATE" \
  --key "$URL/keys/pg-demo-key" --identity "$CID" --identity-secret-file "$D/pg-demo.secret" \
  --vault-ca "$VAULT/tls/ca.pem" --admin-password-file "$D/admin.password" --check-interval 30

say "Starting it (supervisor: unwraps the DEK, mounts the encrypted storage, starts PostgreSQL)"
"$PGCMK" server start demo --state-dir "$STATE"

say "Querying it over TLS with sslmode=verify-full"
SERVER_PORT=$("$PGCMK" server show demo --state-dir "$STATE" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["port"])')
CONN="host=127.0.0.1 port=$SERVER_PORT dbname=postgres user=postgres sslmode=verify-full sslrootcert=$STATE/servers/demo/tls/ca.pem"
PGPASSWORD=$(cat "$D/admin.password") psql "$CONN" -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE IF NOT EXISTS demo_notes(id serial PRIMARY KEY, note text, at timestamptz DEFAULT now());
INSERT INTO demo_notes(note) VALUES ('encrypted at rest under a customer-managed key');
SELECT s.version AS tls, s.cipher, current_setting('data_checksums') AS checksums,
       (SELECT count(*) FROM demo_notes) AS notes
  FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid();
SQL
echo "(plaintext is refused:)"
PGPASSWORD=$(cat "$D/admin.password") psql "host=127.0.0.1 port=$SERVER_PORT dbname=postgres user=postgres sslmode=disable" -c 'select 1' 2>&1 | sed 's/^/  /' || true

say "State of the server"
"$PGCMK" server show demo --state-dir "$STATE"

cat <<EOF2

== The demo is running. ==
Connect:
  PGPASSWORD=\$(cat $D/admin.password) psql "$CONN"
Inspect:
  $PGCMK server show demo --state-dir $STATE            (add --output json)
  $PGCMK server activity demo --state-dir $STATE
  $PGCMK vault audit show --data-dir $VAULT --limit 10
  ls $STATE/servers/demo/backing                         (ciphertext only)
Try revocation (the server becomes Inaccessible within the check interval, 30 s):
  $PGCMK vault policy delete pg-demo --data-dir $VAULT
  PGPASSWORD=\$(cat $D/admin.password) psql "$CONN"
      -> FATAL:  the customer-managed key is not accessible: ...
  $PGCMK vault policy set pg-demo --role "Key Vault Crypto Service Encryption User" --data-dir $VAULT
      -> Ready again within 30 s, data intact
Stop everything:
  PGCMK_DEMO_DIR=$D $PWD/scripts/demo.sh $BUILD stop
EOF2

#!/usr/bin/env bash
# Shared helpers for the server end-to-end tests: a real vault daemon (pgcmk vault serve, HTTPS
# with its private CA), real PostgreSQL servers on the real encrypted FUSE mount, all on 127.0.0.1.
# Every process a test starts is recorded and only those are stopped (never pkill by name).
# Usage: source lib.sh; the test sets TEST_NAME first. Requires root (CI runs as root) and the
# service user pgcmk (scripts/install-deps.sh).
set -euo pipefail

PGCMK=${PGCMK:?set PGCMK to the pgcmk binary}
# Skipped (CTest SKIP_RETURN_CODE 77), not failed, where the setup cannot exist.
if [[ $(id -u) -ne 0 ]]; then echo "skipped: needs root (CI runs as root)"; exit 77; fi
if ! id -u pgcmk >/dev/null 2>&1; then echo "skipped: no service user pgcmk (scripts/install-deps.sh)"; exit 77; fi
if [[ ! -c /dev/fuse ]]; then echo "skipped: no /dev/fuse"; exit 77; fi
WORK=$(mktemp -d "/tmp/pgcmk-e2e-${TEST_NAME:-test}-XXXXXX")
chmod 711 "$WORK"
STATE="$WORK/state"
VAULT_DIR="$WORK/vault"
VAULT_PID=""
SERVERS=()
export PGCONNECT_TIMEOUT=5

log() { printf '%s [%s] %s\n' "$(date -u +%H:%M:%S.%N | cut -c1-12)" "${TEST_NAME:-test}" "$*" >&2; }
# diag: what answered on each server's port and what its data directory looked like, for the
# failure report (the work directory is kept on failure; the full text is in $WORK/diag.txt).
diag() {
  local s port pid sp
  for s in "${SERVERS[@]}"; do
    port=$(field '["settings"]["port"]' <"$STATE/servers/$s/manifest.json" 2>/dev/null || true)
    echo "=== $s (port ${port:-?}) at $(date -u +%H:%M:%S.%N | cut -c1-12)"
    sp=$(cat "$STATE/servers/$s/supervisor.pid" 2>/dev/null || true)
    echo "supervisor: ${sp:-none}"
    [[ -n $sp ]] && ps -o pid=,ppid=,user=,lstart=,args= --ppid "$sp" 2>/dev/null
    echo "--- sockets on the port"
    [[ -n $port ]] && ss -tanp 2>/dev/null | grep -E ":$port\b"
    for pid in $(ss -ltnp 2>/dev/null | grep -E "127.0.0.1:$port\b" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
      echo "--- listener $pid: $(ps -o user=,ppid=,lstart=,args= -p "$pid" 2>/dev/null)"
      echo "cwd: $(readlink "/proc/$pid/cwd" 2>/dev/null)"
      echo "parent: $(ps -o args= -p "$(ps -o ppid= -p "$pid" | tr -d ' ')" 2>/dev/null)"
      runuser -u pgcmk -- ls -la "/proc/$pid/cwd/global" 2>&1 | head -8
    done
    echo "--- mountinfo"
    grep " $STATE/servers/$s/" /proc/self/mountinfo
    echo "--- data directory through the mount"
    runuser -u pgcmk -- ls -la "$STATE/servers/$s/mnt" "$STATE/servers/$s/mnt/pgdata/global/pg_filenode.map" 2>&1 | head -12
    echo "--- backing"
    ls -la "$STATE/servers/$s/backing/pgdata/global/pg_filenode.map" 2>&1
    echo "--- postgresql.log (tail)"
    runuser -u pgcmk -- tail -40 "$STATE/servers/$s/mnt/postgresql.log" 2>&1
  done
  echo "=== postgres processes"
  ps -eo pid,ppid,user,lstart,args | grep -E "[p]ostgres -D|[p]gcmk server run"
}
fail() {
  log "FAIL: $*"
  diag >"$WORK/diag.txt" 2>&1 || true
  echo "--- diagnostics ($WORK/diag.txt)" >&2
  cat "$WORK/diag.txt" >&2
  for s in "${SERVERS[@]}"; do
    [[ -f "$STATE/servers/$s/supervisor.log" ]] && { echo "--- supervisor.log of $s" >&2; tail -40 "$STATE/servers/$s/supervisor.log" >&2; }
    [[ -f "$STATE/servers/$s/activity.log" ]] && { echo "--- activity.log of $s" >&2; tail -20 "$STATE/servers/$s/activity.log" >&2; }
  done
  [[ -f "$WORK/vault.log" ]] && { echo "--- vault.log" >&2; tail -20 "$WORK/vault.log" >&2; }
  exit 1
}

cleanup() {
  local rc=$?
  for s in "${SERVERS[@]}"; do
    "$PGCMK" server stop "$s" --state-dir "$STATE" --timeout 60 >/dev/null 2>&1 || true
  done
  stop_vault
  if [[ $rc -eq 0 && -z "${KEEP_WORK:-}" ]]; then rm -rf "$WORK"; else log "work directory kept: $WORK"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

now() { date +%s.%N; }
# is_mounted DIR: true if DIR is a mountpoint. Not `mountpoint -q`: root cannot stat a FUSE mount
# without allow_other (EACCES), so as root it reports "not a mountpoint" for a live mount.
is_mounted() { grep -q " $1 " /proc/self/mountinfo; }
elapsed_ms() { python3 -c "import sys; print(int((float(sys.argv[2])-float(sys.argv[1]))*1000))" "$1" "$2"; }

# --- vault -------------------------------------------------------------------------------------
VAULT_PORT=""
vault() { "$PGCMK" vault "$@" --data-dir "$VAULT_DIR"; }

# init_vault [--purge-protection] ...: initialise the vault's data directory (7-day retention).
init_vault() {
  "$PGCMK" vault init --data-dir "$VAULT_DIR" --retention-days 7 "$@" >/dev/null
}

start_vault() {
  [[ -n "$VAULT_PORT" ]] || VAULT_PORT=$(free_port)
  "$PGCMK" vault serve --data-dir "$VAULT_DIR" --listen "127.0.0.1:$VAULT_PORT" \
    --scheduler-interval 1 >>"$WORK/vault.log" 2>&1 &
  VAULT_PID=$!
  for _ in $(seq 1 100); do
    if [[ -s "$VAULT_DIR/vault.url" ]] && (exec 3<>"/dev/tcp/127.0.0.1/$VAULT_PORT") 2>/dev/null; then
      VAULT_URL=$(cat "$VAULT_DIR/vault.url")
      VAULT_CA="$VAULT_DIR/tls/ca.pem"
      return 0
    fi
    kill -0 "$VAULT_PID" 2>/dev/null || fail "vault exited during startup"
    sleep 0.1
  done
  fail "vault did not start"
}

stop_vault() {
  if [[ -n "$VAULT_PID" ]]; then
    kill "$VAULT_PID" 2>/dev/null || true
    wait "$VAULT_PID" 2>/dev/null || true
    VAULT_PID=""
  fi
}

# make_identity NAME: creates an identity; prints its client id; secret in $WORK/NAME.secret.
make_identity() {
  vault identity create "$1" --secret-file "$WORK/$1.secret" --output json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])'
}
grant() { vault policy set "$1" --role "Key Vault Crypto Service Encryption User" >/dev/null; }
revoke() { vault policy delete "$1" >/dev/null; }
make_key() { vault key create "$@" >/dev/null; }

# --- servers -----------------------------------------------------------------------------------
server() { "$PGCMK" server "$@" --state-dir "$STATE"; }

# create_cmk_server NAME KEY IDENTITY_NAME CLIENT_ID [extra create options...]
create_cmk_server() {
  local name=$1 key=$2 ident=$3 cid=$4
  shift 4
  printf 'pw-%s-secret\n' "$name" >"$WORK/$name.password"
  SERVERS+=("$name")
  server create "$name" --key "$VAULT_URL/keys/$key" --identity "$cid" \
    --identity-secret-file "$WORK/$ident.secret" --vault-ca "$VAULT_CA" \
    --admin-password-file "$WORK/$name.password" --port "$(free_port)" "$@"
}

server_json() { server show "$1" --output json; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }
state_of() { server_json "$1" | field '["state"]'; }

# wait_state NAME STATE TIMEOUT_SECONDS
wait_state() {
  local deadline=$(($(date +%s) + $3)) s
  while :; do
    s=$(state_of "$1" 2>/dev/null || echo "?")
    [[ "$s" == "$2" ]] && return 0
    (($(date +%s) > deadline)) && fail "server $1 is $s, expected $2 within $3 s"
    sleep 0.1
  done
}

conninfo() {
  local port
  port=$(server_json "$1" | field '["port"]')
  echo "host=127.0.0.1 port=$port dbname=postgres user=postgres sslmode=${2:-verify-full} sslrootcert=$STATE/servers/$1/tls/ca.pem"
}
# sql NAME QUERY: runs QUERY over verify-full TLS, prints the unaligned result.
sql() {
  PGPASSWORD=$(cat "$WORK/$1.password") psql "$(conninfo "$1")" -v ON_ERROR_STOP=1 -qtA -c "$2"
}

#!/usr/bin/env bash
# PostgreSQL 15 on the encrypted filesystem: crash cycles with an acknowledged-commit oracle.
#
#   pg_crash_test.sh PGCMK_BIN [PG_KILLS] [FS_KILLS]
#
# As root (CI) it runs everything that touches the mount as the unprivileged user pgcmk. It
#  1. initialises a volume, mounts it with `pgcmk fs mount` (key on a descriptor), runs initdb
#     --data-checksums on the mount and starts PostgreSQL on 127.0.0.1;
#  2. checks that a known plaintext written through PostgreSQL never appears in the backing
#     directory;
#  3. PG_KILLS times: 4 clients run transactions and record each id only after its COMMIT returned;
#     kill -9 the postmaster and its children mid-load; restart; every acknowledged id must be
#     present, and no id beyond the last one each client attempted;
#  4. FS_KILLS times: the same, but kill -9 the filesystem process; PostgreSQL is then killed too,
#     the dead mount is detached, the volume remounted and PostgreSQL recovers;
#  5. after every cycle: every acknowledged commit present, balances consistent with the commits
#     (each transaction updates an indexed column and inserts its row), pg_amcheck
#     (heapallindexed, parent-check, rootdescend) clean; at the end, after a clean stop,
#     pg_checksums --check clean.
# Only processes this script started (recorded pids and their children) are ever killed.
set -euo pipefail

PGCMK=${1:?usage: pg_crash_test.sh PGCMK_BIN [PG_KILLS] [FS_KILLS]}
PG_KILLS=${2:-3}
FS_KILLS=${3:-2}
PGBIN=/usr/lib/postgresql/15/bin
CLIENTS=4

if [[ $(id -u) -eq 0 ]]; then
  RUN=(runuser -u pgcmk --)
  [[ $(stat -c %a /dev/fuse) == 666 ]] || chmod 0666 /dev/fuse
else
  RUN=()
fi
as_pg() { "${RUN[@]}" "$@"; }

WORK=$(mktemp -d /tmp/pgcmk-pgcrash-XXXXXX)
chmod 0755 "$WORK"
[[ $(id -u) -eq 0 ]] && chown pgcmk: "$WORK"
BACKING=$WORK/backing
MNT=$WORK/mnt
DATA=$MNT/data
# A free port below the kernel's ephemeral range (32768-60999 here), where the server e2e tests
# pick theirs (free_port) and where clients get their source ports.
pick_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 12000))
    python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" \
      2>/dev/null && { echo "$p"; return 0; }
  done
  return 1
}
PORT=$(pick_port)
FS_PID=
log() { echo "pg_crash_test: $*"; }

pg_pids() {  # the postmaster and its children
  local pm
  pm=$(head -1 "$WORK/postmaster.pid.copy" 2>/dev/null || true)
  [[ -n $pm ]] || return 0
  # Only while that pid is still a postmaster: pids are recycled quickly (pid_max may be 32768),
  # and a recycled pid can belong to any other test's process.
  [[ $(ps -o comm= -p "$pm" 2>/dev/null) == postgres ]] || return 0
  echo "$pm"
  pgrep -P "$pm" || true
}

kill_pg() {
  local pids
  pids=$(pg_pids | tr '\n' ' ')
  [[ -n ${pids// /} ]] && kill -9 $pids 2>/dev/null || true
  for _ in $(seq 100); do
    local alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
}

start_fs() {
  rm -f "$WORK/fs.pid"
  # The inner shell records its pid, then becomes the filesystem process (exec).
  as_pg bash -c 'echo $$ > "$1/fs.pid"; exec "$2" fs mount "$3" "$4" --key-fd 3 3<"$1/key"' \
    _ "$WORK" "$PGCMK" "$BACKING" "$MNT" >>"$WORK/fs.log" 2>&1 &
  for _ in $(seq 100); do
    if [[ -s $WORK/fs.pid ]] && grep -q " $MNT fuse" /proc/mounts; then
      FS_PID=$(cat "$WORK/fs.pid")
      return 0
    fi
    sleep 0.1
  done
  log "the filesystem did not mount"; cat "$WORK/fs.log"; return 1
}

stop_fs() {
  if [[ -n $FS_PID ]] && kill -0 "$FS_PID" 2>/dev/null; then
    kill -TERM "$FS_PID"
    for _ in $(seq 100); do kill -0 "$FS_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  FS_PID=
}

start_pg() {
  as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/pg.log" -w -t 120 start >/dev/null
  as_pg head -1 "$DATA/postmaster.pid" >"$WORK/postmaster.pid.copy"
}

psql_() { as_pg psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

cleanup() {
  set +e
  kill_pg
  stop_fs
  grep -q " $MNT fuse" /proc/mounts && as_pg fusermount3 -u -z "$MNT"
  if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# One client: transactions numbered from $2 upwards, pgbench-like (an UPDATE of an indexed,
# non-HOT column of a 1000-row table, plus the INSERT of the transaction's own row); records an id
# only after psql echoed past its COMMIT.
client() {
  local c=$1 first=$2
  for ((i = first; ; i++)); do
    echo "BEGIN;"
    echo "UPDATE accounts SET balance = balance + 1, filler = md5('$c-$i') WHERE id = $((i % 1000 + 1));"
    echo "INSERT INTO acked VALUES ($c, $i, repeat(md5('$c-$i'), 8));"
    echo "COMMIT;"
    echo "\\echo ack $i"
  done | psql_ 2>/dev/null | while read -r word id; do
    [[ $word == ack ]] && echo "$id" >>"$WORK/acked.$c"
  done
}

run_load_and_kill() {  # $1: cycle number, $2: what to kill (pg|fs)
  local cycle=$1 what=$2 pids=()
  for ((c = 1; c <= CLIENTS; c++)); do
    client "$c" $((cycle * 1000000)) &
    pids+=($!)
  done
  sleep "$((2 + RANDOM % 3)).$((RANDOM % 10))"
  if [[ $what == pg ]]; then
    kill_pg
  else
    kill -9 "$FS_PID"
    sleep 0.5
    kill_pg
  fi
  for p in "${pids[@]}"; do wait "$p" || true; done
}

verify() {
  local c missing extra total=0
  for ((c = 1; c <= CLIENTS; c++)); do
    [[ -f $WORK/acked.$c ]] || continue
    sort -n -u "$WORK/acked.$c" >"$WORK/want.$c"
    psql_ -At -c "SELECT seq FROM acked WHERE client = $c ORDER BY seq" >"$WORK/have.$c"
    missing=$(comm -23 "$WORK/want.$c" <(sort -n "$WORK/have.$c") | wc -l)
    # Nothing that was never attempted: per cycle, at most one id past the last acknowledged one.
    extra=$(awk -v f="$WORK/want.$c" 'BEGIN { while ((getline l < f) > 0) { b = int(l / 1000000); if (l > m[b]) m[b] = l } }
      { b = int($1 / 1000000); if (!(b in m) || $1 > m[b] + 1) n++ } END { print n + 0 }' "$WORK/have.$c")
    total=$((total + $(wc -l <"$WORK/want.$c")))
    if ((missing > 0 || extra > 0)); then
      log "client $c: $missing acknowledged commits missing, $extra rows never acknowledged"
      return 1
    fi
  done
  # Atomicity: every committed transaction did both its UPDATE and its INSERT, or neither.
  local balance rows
  balance=$(psql_ -At -c "SELECT sum(balance) FROM accounts")
  rows=$(psql_ -At -c "SELECT count(*) FROM acked")
  if [[ $balance != "$rows" ]]; then
    log "FAIL: sum of balances $balance != $rows committed rows (a transaction half applied)"
    return 1
  fi
  log "all $total acknowledged commits present; balances match the $rows committed rows"
}

# Structural checks of every heap and B-tree (pg_amcheck: heapallindexed, parent-check,
# rootdescend) after each crash cycle, not only at the end.
amcheck() {
  as_pg "$PGBIN/pg_amcheck" -h 127.0.0.1 -p "$PORT" -U postgres --all --heapallindexed \
    --parent-check --rootdescend --install-missing >"$WORK/amcheck.log" 2>&1 ||
    { cat "$WORK/amcheck.log"; log "FAIL: pg_amcheck after cycle $1"; return 1; }
  log "cycle $1: pg_amcheck clean"
}

# --- setup ---------------------------------------------------------------------------------
head -c 32 /dev/urandom >"$WORK/key"
chmod 0600 "$WORK/key"
[[ $(id -u) -eq 0 ]] && chown pgcmk: "$WORK/key"
as_pg mkdir -p "$MNT"
as_pg bash -c 'exec "$1" fs init "$2" --key-fd 3 3<"$3"' _ "$PGCMK" "$BACKING" "$WORK/key" >/dev/null
start_fs
log "initdb --data-checksums on the mount"
as_pg "$PGBIN/initdb" -D "$DATA" --data-checksums -A trust -U postgres >"$WORK/initdb.log" 2>&1 ||
  { cat "$WORK/initdb.log"; exit 1; }
as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
shared_buffers = 32MB
fsync = on
synchronous_commit = on
full_page_writes = on
checkpoint_timeout = 30s
max_wal_size = 64MB
EOF
# The settings pgcmk servers use on the mount (WAL through O_DSYNC writes).
"$PGCMK" server postgres-settings | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
start_pg
psql_ -c "CREATE TABLE acked (client int, seq bigint, pad text, PRIMARY KEY (client, seq))"
psql_ -c "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, filler text)"
psql_ -c "CREATE INDEX accounts_balance ON accounts (balance)"  # updates are never HOT
psql_ -c "INSERT INTO accounts SELECT g, 0, '' FROM generate_series(1, 1000) g"

# --- ciphertext check through PostgreSQL ---------------------------------------------------
MARKER=pgcmk-known-plaintext-4f1c9e
psql_ -c "CREATE TABLE marker AS SELECT g, repeat('$MARKER', 20) AS t FROM generate_series(1, 500) g"
psql_ -c "CHECKPOINT"
as_pg grep -rqa "$MARKER" "$DATA/base" || { log "marker not found through the mount"; exit 1; }
if grep -rqa "$MARKER" "$BACKING"; then
  log "FAIL: known plaintext found in the backing directory"; exit 1
fi
log "known plaintext absent from the backing directory (present through the mount)"

# --- crash cycles --------------------------------------------------------------------------
cycle=0
for ((k = 1; k <= PG_KILLS; k++)); do
  cycle=$((cycle + 1))
  run_load_and_kill "$cycle" pg
  log "cycle $cycle: PostgreSQL killed with SIGKILL mid-load; restarting"
  start_pg
  verify
  amcheck "$cycle"
done
for ((k = 1; k <= FS_KILLS; k++)); do
  cycle=$((cycle + 1))
  run_load_and_kill "$cycle" fs
  log "cycle $cycle: filesystem process killed with SIGKILL mid-load; remounting"
  as_pg fusermount3 -u -z "$MNT" 2>/dev/null || true
  start_fs
  start_pg
  verify
  amcheck "$cycle"
done

# --- integrity ------------------------------------------------------------------------------
as_pg "$PGBIN/pg_ctl" -D "$DATA" -w -m fast stop >/dev/null
rm -f "$WORK/postmaster.pid.copy"  # stopped: nothing for the exit trap to kill
as_pg "$PGBIN/pg_checksums" --check -D "$DATA" >"$WORK/checksums.log" ||
  { cat "$WORK/checksums.log"; exit 1; }
log "pg_checksums clean: $(grep -i 'blocks scanned' "$WORK/checksums.log" | tr -s ' ')"
stop_fs
echo "pg_crash_test: 1 passed, 0 failed"

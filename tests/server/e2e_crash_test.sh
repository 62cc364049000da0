#!/usr/bin/env bash
# End-to-end: kill -9 of the supervisor under write load. PostgreSQL must die with it (no
# PostgreSQL left on a dead mount), and a restart must recover with no acknowledged commit lost:
# the client records an id only after its COMMIT returned; every recorded id must be present.
TEST_NAME=crash
source "$(dirname "$0")/lib.sh"

init_vault --purge-protection
start_vault
CID=$(make_identity pg-identity)
grant pg-identity
make_key pg-key --kty RSA --size 3072
create_cmk_server db3 pg-key pg-identity "$CID" --check-interval 2 >/dev/null
server start db3 >/dev/null || fail "start failed"
wait_state db3 Ready 30
sql db3 "create table acked(id int primary key)"

# Writer: one session, one autocommitted transaction per id; psql prints "ack N" only after the
# INSERT of N returned, so every "ack" line is an acknowledged commit.
(
  seq 1 1000000 | awk '{ print "insert into acked values (" $1 ");"; print "\\echo ack " $1 }' |
    PGPASSWORD=$(cat "$WORK/db3.password") psql "$(conninfo db3)" -qtA -v ON_ERROR_STOP=1 \
    >"$WORK/writer.out" 2>&1 || true
) &
WRITER=$!
sleep 3
SUP=$(cat "$STATE/servers/db3/supervisor.pid")
# The postmaster is the supervisor's child named postgres (the mount is not readable by root).
PGPID=$(ps -o pid=,comm= --ppid "$SUP" | awk '$2 == "postgres" {print $1}')
[[ -n "$PGPID" ]] || fail "no postmaster under supervisor $SUP"
# The supervisor runs as the service user, not root, and is not dumpable (no core dumps, no
# same-uid ptrace): the kernel then gives its /proc entries to root.
[[ $(ps -o user= -p "$SUP") == pgcmk ]] || fail "supervisor runs as $(ps -o user= -p "$SUP")"
[[ $(ps -o user= -p "$PGPID") == pgcmk ]] || fail "PostgreSQL runs as $(ps -o user= -p "$PGPID")"
[[ $(stat -c %U "/proc/$SUP/environ") == root ]] || fail "supervisor is dumpable"
if tr '\0' ' ' <"/proc/$SUP/cmdline" | grep -q "secret\|password"; then fail "secret-ish argv"; fi
log "kill -9 supervisor $SUP (postmaster $PGPID) under write load"
kill -9 "$SUP"
wait "$WRITER" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$PGPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PGPID" 2>/dev/null && fail "PostgreSQL survived its supervisor"
grep '^ack ' "$WORK/writer.out" | cut -d' ' -f2 >"$WORK/acked.txt" || true
ACKED=$(wc -l <"$WORK/acked.txt")
((ACKED > 0)) || fail "no commits acknowledged before the crash"

server start db3 >/dev/null || fail "restart after kill -9 failed"
wait_state db3 Ready 60
sql db3 "select id from acked order by id" >"$WORK/present.txt"
missing=$(comm -23 <(sort "$WORK/acked.txt") <(sort "$WORK/present.txt") | wc -l)
((missing == 0)) || fail "$missing acknowledged commits lost"
max_acked=$(sort -n "$WORK/acked.txt" | tail -1)
extra=$(awk -v m="$max_acked" '$1 > m + 1' "$WORK/present.txt" | wc -l)
((extra == 0)) || fail "ids that were never attempted are present"
echo "METRIC crash_acknowledged_commits $ACKED"
log "kill -9: $ACKED acknowledged commits, all present after restart"
server stop db3 >/dev/null
log "PASS"

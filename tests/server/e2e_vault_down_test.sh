#!/usr/bin/env bash
# End-to-end: the vault becomes unreachable (daemon stopped: connection refused). The server keeps
# serving for the grace period, then becomes Inaccessible with a reason naming the vault; when the
# vault is back it becomes Ready by itself with its data intact. Interval 1 s, grace 4 s.
TEST_NAME=vault-down
source "$(dirname "$0")/lib.sh"

init_vault --purge-protection
start_vault
CID=$(make_identity pg-identity)
grant pg-identity
make_key pg-key --kty RSA --size 3072
create_cmk_server db2 pg-key pg-identity "$CID" --check-interval 1 --grace-period 4 >/dev/null
server start db2 >/dev/null || fail "start failed"
wait_state db2 Ready 30
sql db2 "create table t(id int); insert into t values (42);"

t0=$(now)
stop_vault
sleep 2.5
[[ $(state_of db2) == Ready ]] || fail "not Ready within the grace period"
[[ $(sql db2 "select id from t") == 42 ]] || fail "not serving within the grace period"
grep -qi "grace period" <<<"$(server show db2)" || fail "show does not report the transient failure"
wait_state db2 Inaccessible 15
t1=$(now)
ms=$(elapsed_ms "$t0" "$t1")
((ms >= 4000)) || fail "Inaccessible after $ms ms, before the 4 s grace period ended"
out=$(PGPASSWORD=x psql "$(conninfo db2 prefer)" -c 'select 1' 2>&1 || true)
grep -qE "not accessible: the key vault (has been|is) unreachable" <<<"$out" || fail "client error: $out"
echo "METRIC vault_down_to_inaccessible_ms $ms"
log "vault down: Inaccessible after $ms ms (grace 4 s); client saw: $(grep -o 'FATAL:.*' <<<"$out" | cut -c1-120)"

t2=$(now)
start_vault
wait_state db2 Ready 30
t3=$(now)
echo "METRIC vault_back_to_ready_ms $(elapsed_ms "$t2" "$t3")"
[[ $(sql db2 "select id from t") == 42 ]] || fail "data not intact"
grep -q '"kind":"transient"\|transient' <<<"$(server activity db2)" || fail "no transient KeyCheckFailed activity"
log "PASS"

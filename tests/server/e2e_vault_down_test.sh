#!/usr/bin/env bash
# End-to-end: the vault becomes unreachable (daemon stopped: connection refused). The server keeps
# serving for the grace period, then becomes Inaccessible with a reason naming the vault; when the
# vault is back it becomes Ready by itself with its data intact. Interval 1 s, grace 8 s.
TEST_NAME=vault-down
source "$(dirname "$0")/lib.sh"

init_vault --purge-protection
start_vault
CID=$(make_identity pg-identity)
grant pg-identity
make_key pg-key --kty RSA --size 3072
# A webhook receiver (stands in for an action group): appends every POSTed body to a file.
HOOK_PORT=$(free_port)
python3 - "$HOOK_PORT" "$WORK/webhook.jsonl" <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "ab") as f:
            f.write(body + b"\n")
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
HOOK_PID=$!
trap 'kill $HOOK_PID 2>/dev/null || true; cleanup' EXIT
create_cmk_server db2 pg-key pg-identity "$CID" --check-interval 1 --grace-period 8 \
  --webhook "http://127.0.0.1:$HOOK_PORT/hook" >/dev/null
server start db2 >/dev/null || fail "start failed"
wait_state db2 Ready 30
sql db2 "create table t(id int); insert into t values (42);"

t0=$(now)
stop_vault
sleep 2.5
[[ $(state_of db2) == Ready ]] || fail "not Ready within the grace period"
[[ $(sql db2 "select id from t") == 42 ]] || fail "not serving within the grace period"
grep -qi "grace period" <<<"$(server show db2)" || fail "show does not report the transient failure"
wait_state db2 Inaccessible 20
t1=$(now)
ms=$(elapsed_ms "$t0" "$t1")
((ms >= 8000)) || fail "Inaccessible after $ms ms, before the 8 s grace period ended"
out=$(PGPASSWORD=x psql "$(conninfo db2)" -c "select 1" 2>&1 || true)  # verify-full
grep -qE "not accessible: the key vault (has been|is) unreachable" <<<"$out" || fail "client error: $out"
echo "METRIC vault_down_to_inaccessible_ms $ms"
log "vault down: Inaccessible after $ms ms (grace 8 s); client saw: $(grep -o 'FATAL:.*' <<<"$out" | cut -c1-120)"

t2=$(now)
start_vault
wait_state db2 Ready 30
t3=$(now)
echo "METRIC vault_back_to_ready_ms $(elapsed_ms "$t2" "$t3")"
[[ $(sql db2 "select id from t") == 42 ]] || fail "data not intact"
grep -q '"kind":"transient"\|transient' <<<"$(server activity db2)" || fail "no transient KeyCheckFailed activity"
sleep 0.5  # deliveries are asynchronous
# Every state change reached the webhook as JSON, in order, without blocking the server.
python3 - "$WORK/webhook.jsonl" <<'PY' || fail "webhook deliveries incomplete: $(cat "$WORK/webhook.jsonl" 2>/dev/null)"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
states = [e.get("state") for e in events if e["event"] == "StateChanged"]
assert all(e["server"] == "db2" for e in events)
for want in ("Ready", "Inaccessible"):
    assert want in states, states
assert states.index("Inaccessible") < len(states) - 1 - states[::-1].index("Ready"), states
assert any(e["event"] == "KeyCheckFailed" for e in events)
PY
log "webhook received $(wc -l <"$WORK/webhook.jsonl") events"
log "PASS"

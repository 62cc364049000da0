#!/usr/bin/env bash
# Measures, on the real vault/PostgreSQL/mount, the time from revoking the identity's permission
# to the server being Inaccessible, and from restoring it to the server being Ready again, for
# check intervals of 1 s and 5 s (ROUNDS cycles each; default 5). Not part of CTest; results go
# to docs/benchmarks-server.md. Usage: PGCMK=build/src/cli/pgcmk tests/server/measure_key_loss.sh
TEST_NAME=measure
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}

init_vault --purge-protection
start_vault
CID=$(make_identity pg-identity)
grant pg-identity
make_key pg-key --kty RSA --size 3072

# Polls status.json every 10 ms until the state is $2; prints the elapsed ms since $3.
wait_status() {
  python3 - "$STATE/servers/$1/status.json" "$2" "$3" <<'PY'
import json, sys, time
path, want, t0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.time() + 120
while time.time() < deadline:
    try:
        if json.load(open(path))["state"] == want:
            print(int((time.time() - t0) * 1000)); sys.exit(0)
    except Exception:
        pass
    time.sleep(0.01)
sys.exit(1)
PY
}

for interval in 1 5; do
  name=m$interval
  create_cmk_server $name pg-key pg-identity "$CID" --check-interval $interval >/dev/null
  server start $name >/dev/null
  loss=() back=()
  for _ in $(seq 1 "$ROUNDS"); do
    sleep "0.$((RANDOM % 10))"  # de-phase from the check timer
    t=$(now); revoke pg-identity
    loss+=("$(wait_status $name Inaccessible "$t")") || fail "no Inaccessible"
    t=$(now); grant pg-identity
    back+=("$(wait_status $name Ready "$t")") || fail "no Ready"
  done
  server stop $name >/dev/null
  med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  mx() { printf '%s\n' "$@" | sort -n | tail -1; }
  echo "interval=${interval}s revoke->Inaccessible ms: ${loss[*]} (median $(med "${loss[@]}"), max $(mx "${loss[@]}"))"
  echo "interval=${interval}s restore->Ready ms:       ${back[*]} (median $(med "${back[@]}"), max $(mx "${back[@]}"))"
done

#!/usr/bin/env bash
# Daemon CPU per request for one vault operation, optionally with a perf profile of the daemon.
# Starts a fresh vault, creates one RSA key, warms up for 1 s, then drives OP with 16 keep-alive
# clients for SECS seconds and prints the bench client's JSON line and the daemon's user/system
# CPU per request (from /proc/PID/stat). With PERF_DATA set, records `perf record -g` (DWARF call
# graphs) of the daemon during the run into that file, for `perf report -i FILE`.
# Usage: scripts/profile-vault.sh BUILD_DIR [BITS=2048] [OP=unwrap|wrap] [SECS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; BITS=${2:-2048}; OP=${3:-unwrap}; SECS=${4:-5}
PGCMK="$BUILD/src/cli/pgcmk"; BENCH="$BUILD/bench/vault_bench"
WORK=$(mktemp -d /tmp/vault-profile-XXXXXX)
source scripts/lib/throwaway_vault.sh
start_throwaway_vault "$PGCMK" "$WORK" --threads 16
DAEMON=$VAULT_DAEMON URL=$VAULT_URL
CONN=(--data-dir "$WORK/vault")
head -c 32 /dev/urandom > "$WORK/dek"
KID=$("$PGCMK" vault key create prof --size "$BITS" "${CONN[@]}" --output json | grep '"kid"' | head -1 | sed -e 's/.*"kid": *"\([^"]*\)".*/\1/')
"$PGCMK" vault key wrap prof --in "$WORK/dek" --out "$WORK/wrapped" "${CONN[@]}" >/dev/null
if [[ $OP == wrap ]]; then FILE="$WORK/dek"; else FILE="$WORK/wrapped"; fi
VALUE=$(basenc --base64url -w0 < "$FILE" | tr -d '=')
common=(--url "$URL" --ca "$WORK/vault/tls/ca.pem" --credential-file "$WORK/vault/admin.credential"
        --key prof --version "${KID##*/}" --alg RSA-OAEP-256 --concurrency 16 --op "$OP" --value "$VALUE")
"$BENCH" "${common[@]}" --seconds 1 >/dev/null
before=$(awk '{print $14, $15}' "/proc/$DAEMON/stat")
PERF_PID=""
if [[ -n "${PERF_DATA:-}" ]]; then
  perf record -F 2000 -g --call-graph dwarf,16384 -o "$PERF_DATA" -p "$DAEMON" -- sleep $((SECS + 1)) >/dev/null 2>&1 &
  PERF_PID=$!
fi
"$BENCH" "${common[@]}" --seconds "$SECS" > "$WORK/run"
after=$(awk '{print $14, $15}' "/proc/$DAEMON/stat")
if [[ -n "$PERF_PID" ]]; then wait "$PERF_PID" || true; fi
cat "$WORK/run"
n=$(sed -e 's/.*"requests":\([0-9]*\).*/\1/' "$WORK/run")
awk -v b="$before" -v a="$after" -v n="$n" -v k="$(getconf CLK_TCK)" 'BEGIN {
  split(b, B, " "); split(a, A, " "); u = (A[1] - B[1]) / k; s = (A[2] - B[2]) / k;
  printf "daemon CPU per request: %.1f us (user %.1f, system %.1f); %.0f requests per CPU-second\n",
         (u + s) / n * 1e6, u / n * 1e6, s / n * 1e6, n / (u + s) }'

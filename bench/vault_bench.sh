#!/usr/bin/env bash
# Key vault benchmark: wrapKey/unwrapKey throughput and p50/p99 latency over HTTPS with concurrent
# keep-alive clients on loopback, for RSA-2048 and RSA-3072 (RSA-OAEP-256), next to
# `openssl speed -multi <cores> rsaN` (private-key operations per second) measured in the same run,
# interleaved (openssl, vault, openssl, vault) with the medians reported.
# Usage: bench/vault_bench.sh [BUILD_DIR]   (env: SECONDS_PER_RUN=5 CONCURRENCY=16 ROUNDS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
PGCMK="$BUILD/src/cli/pgcmk"
BENCH="$BUILD/bench/vault_bench"
SECS=${SECONDS_PER_RUN:-5}
CONC=${CONCURRENCY:-16}
ROUNDS=${ROUNDS:-2}
CORES=$(nproc)
WORK=$(mktemp -d /tmp/vault-bench-XXXXXX)
DAEMON=""
cleanup() {
  if [[ -n "$DAEMON" ]]; then kill "$DAEMON" 2>/dev/null || true; wait "$DAEMON" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
"$PGCMK" vault init --data-dir "$WORK/vault" >/dev/null
"$PGCMK" vault serve --data-dir "$WORK/vault" --listen 127.0.0.1:0 --threads "$CONC" >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 1 200); do [[ -s "$WORK/vault/vault.url" ]] && break; sleep 0.05; done
URL=$(tr -d '\n' < "$WORK/vault/vault.url")
CONN=(--data-dir "$WORK/vault")
head -c 32 /dev/urandom > "$WORK/dek"

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -e "s/.*\"$1\":\([0-9.e+-]*\).*/\1/"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); openssl $(openssl version | cut -d' ' -f2)"
echo "vault: HTTPS (TLS 1.2+, private CA), $CONC concurrent keep-alive clients, ${SECS}s per run, $ROUNDS interleaved rounds, audit record fsync'd per request (group commit)"
printf "%-8s %-7s %12s %12s %9s %9s %14s %7s\n" size op "vault ops/s" "p50 ms" "p99 ms" errors "openssl priv/s" ratio
for BITS in 2048 3072; do
  KEY="bench$BITS"
  KID=$("$PGCMK" vault key create "$KEY" --size "$BITS" "${CONN[@]}" --output json | grep '"kid"' | head -1 | sed -e 's/.*"kid": *"\([^"]*\)".*/\1/')
  VERSION=${KID##*/}
  "$PGCMK" vault key wrap "$KEY" --in "$WORK/dek" --out "$WORK/wrapped$BITS" "${CONN[@]}" >/dev/null
  DEK64=$(basenc --base64url -w0 < "$WORK/dek" | tr -d '=')
  WRAPPED64=$(basenc --base64url -w0 < "$WORK/wrapped$BITS" | tr -d '=')
  common=(--url "$URL" --ca "$WORK/vault/tls/ca.pem" --credential-file "$WORK/vault/admin.credential"
          --key "$KEY" --version "$VERSION" --alg RSA-OAEP-256 --concurrency "$CONC" --seconds "$SECS")
  : > "$WORK/ossl"; : > "$WORK/unwrap"; : > "$WORK/wrap"
  for _ in $(seq 1 "$ROUNDS"); do
    openssl speed -seconds "$SECS" -multi "$CORES" "rsa$BITS" 2>/dev/null | awk -v b="$BITS" '$1=="rsa" && $2==b {print $6}' >> "$WORK/ossl"
    "$BENCH" "${common[@]}" --op unwrap --value "$WRAPPED64" >> "$WORK/unwrap"
  done
  "$BENCH" "${common[@]}" --op wrap --value "$DEK64" >> "$WORK/wrap"
  OSSL=$(median < "$WORK/ossl")
  for OP in unwrap wrap; do
    RATE=$(field rate < "$WORK/$OP" | median)
    P50=$(field p50_ms < "$WORK/$OP" | median)
    P99=$(field p99_ms < "$WORK/$OP" | median)
    ERR=$(field errors < "$WORK/$OP" | median)
    if [[ $OP == unwrap ]]; then RATIO=$(awk -v a="$RATE" -v b="$OSSL" 'BEGIN {printf "%.2f", a/b}'); else RATIO="-"; fi
    printf "%-8s %-7s %12.0f %12.2f %9.2f %9s %14.0f %7s\n" "RSA-$BITS" "$OP" "$RATE" "$P50" "$P99" "$ERR" "$OSSL" "$RATIO"
  done
done
echo "ratio = vault unwrap rate / openssl private-key (sign) rate on all cores; target >= 0.80"

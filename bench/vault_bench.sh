#!/usr/bin/env bash
# Key vault benchmark: wrapKey/unwrapKey throughput and p50/p99 latency over HTTPS with concurrent
# keep-alive clients on loopback, for RSA-2048 and RSA-3072 (RSA-OAEP-256), next to
# `openssl speed -multi <cores> rsaN` (private-key operations per second) measured in the same run,
# interleaved (openssl, vault, openssl, vault) with the medians reported. Two ratios:
#   wall: vault unwrap requests/s over openssl's private-key ops/s on all cores (what the issue asks;
#         meaningful only on an otherwise idle machine, the load generator shares the cores);
#   cpu:  unwraps per CPU-second of the vault daemon over openssl's private-key ops per CPU-second
#         (robust to other load on a shared machine: the vault's cost per unwrap vs the bare RSA op).
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
source scripts/lib/throwaway_vault.sh
start_throwaway_vault "$PGCMK" "$WORK" --threads "$CONC"
DAEMON=$VAULT_DAEMON URL=$VAULT_URL
CONN=(--data-dir "$WORK/vault")
head -c 32 /dev/urandom > "$WORK/dek"

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -e "s/.*\"$1\":\([0-9.e+-]*\).*/\1/"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); openssl $(openssl version | cut -d' ' -f2)"
echo "vault: HTTPS (TLS 1.2+, private CA), $CONC concurrent keep-alive clients, ${SECS}s per run, $ROUNDS interleaved rounds, audit record fsync'd per request (group commit)"
printf "%-8s %-7s %11s %8s %8s %6s %14s %6s %13s %13s %6s\n" size op "vault ops/s" "p50 ms" "p99 ms" errors "openssl priv/s" wall "vault ops/cpu" "ossl ops/cpu" cpu
for BITS in 2048 3072; do
  KEY="bench$BITS"
  KID=$("$PGCMK" vault key create "$KEY" --size "$BITS" "${CONN[@]}" --output json | grep '"kid"' | head -1 | sed -e 's/.*"kid": *"\([^"]*\)".*/\1/')
  VERSION=${KID##*/}
  "$PGCMK" vault key wrap "$KEY" --in "$WORK/dek" --out "$WORK/wrapped$BITS" "${CONN[@]}" >/dev/null
  DEK64=$(basenc --base64url -w0 < "$WORK/dek" | tr -d '=')
  WRAPPED64=$(basenc --base64url -w0 < "$WORK/wrapped$BITS" | tr -d '=')
  common=(--url "$URL" --ca "$WORK/vault/tls/ca.pem" --credential-file "$WORK/vault/admin.credential"
          --key "$KEY" --version "$VERSION" --alg RSA-OAEP-256 --concurrency "$CONC" --seconds "$SECS")
  : > "$WORK/ossl"; : > "$WORK/unwrap"; : > "$WORK/wrap"; : > "$WORK/osslcpu"; : > "$WORK/unwrapcpu"
  for _ in $(seq 1 "$ROUNDS"); do
    # Wall-clock rate on all cores (-elapsed), then one process's rate per CPU-second (openssl
    # speed divides by user CPU time unless -elapsed is given).
    openssl speed -elapsed -seconds "$SECS" -multi "$CORES" "rsa$BITS" 2>/dev/null | awk -v b="$BITS" '$1=="rsa" && $2==b {print $6}' >> "$WORK/ossl"
    openssl speed -seconds "$SECS" "rsa$BITS" 2>/dev/null | awk -v b="$BITS" '$1=="rsa" && $2==b {print $6}' >> "$WORK/osslcpu"
    before=$(cpu_ticks "$DAEMON")
    "$BENCH" "${common[@]}" --op unwrap --value "$WRAPPED64" > "$WORK/run"
    after=$(cpu_ticks "$DAEMON")
    cat "$WORK/run" >> "$WORK/unwrap"
    awk -v n="$(field requests < "$WORK/run")" -v t="$(( after - before ))" -v k="$TICK" 'BEGIN {if (t > 0) print n / (t / k)}' >> "$WORK/unwrapcpu"
  done
  "$BENCH" "${common[@]}" --op wrap --value "$DEK64" >> "$WORK/wrap"
  OSSL=$(median < "$WORK/ossl")
  OSSLCPU=$(median < "$WORK/osslcpu")
  VAULTCPU=$(median < "$WORK/unwrapcpu")
  for OP in unwrap wrap; do
    RATE=$(field rate < "$WORK/$OP" | median)
    P50=$(field p50_ms < "$WORK/$OP" | median)
    P99=$(field p99_ms < "$WORK/$OP" | median)
    ERR=$(field errors < "$WORK/$OP" | median)
    if [[ $OP == unwrap ]]; then
      RATIO=$(awk -v a="$RATE" -v b="$OSSL" 'BEGIN {printf "%.2f", a/b}')
      CRATIO=$(awk -v a="$VAULTCPU" -v b="$OSSLCPU" 'BEGIN {printf "%.2f", a/b}')
      VC=$(printf "%.0f" "$VAULTCPU"); OC=$(printf "%.0f" "$OSSLCPU")
    else
      RATIO="-"; CRATIO="-"; VC="-"; OC="-"
    fi
    printf "%-8s %-7s %11.0f %8.2f %8.2f %6s %14.0f %6s %13s %13s %6s\n" "RSA-$BITS" "$OP" "$RATE" "$P50" "$P99" "$ERR" "$OSSL" "$RATIO" "$VC" "$OC" "$CRATIO"
  done
done
echo "wall = vault unwrap/s / openssl sign/s on all cores; cpu = vault unwraps per daemon CPU-second / openssl signs per CPU-second; target >= 0.80"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Crypto benchmark against OpenSSL on the same machine, in one run (docs/benchmarks-crypto.md).
#
#   bench/crypto_bench.sh [BUILD_DIR]        (env: ROUNDS=5, BENCH_SECONDS=1)
#
# Interleaves, ROUNDS times: our benchmark binary, then `openssl speed` for XTS encrypt, XTS
# decrypt (4096-byte blocks) and rsa3072; prints medians and the ratios ours / OpenSSL.
# Both sides report per CPU-second (Google Benchmark CPU time; openssl speed user time), which
# keeps the figures meaningful on a shared, noisy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${ROUNDS:-5}
SECS=${BENCH_SECONDS:-1}
BIN="$BUILD/bench/crypto_bench"
if [[ ! -x "$BIN" ]]; then
  echo "crypto_bench.sh: $BIN not built (ninja -C $BUILD crypto_bench)" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS ..." >&2
  "$BIN" --benchmark_min_time="$SECS" --benchmark_format=json >"$tmp/ours.$r.json" 2>/dev/null
  openssl speed -mr -seconds "$SECS" -bytes 4096 -evp aes-256-xts >"$tmp/xts_enc.$r" 2>&1
  openssl speed -mr -seconds "$SECS" -bytes 4096 -decrypt -evp aes-256-xts >"$tmp/xts_dec.$r" 2>&1
  openssl speed -mr -seconds "$SECS" rsa3072 >"$tmp/rsa.$r" 2>&1
done

python3 - "$tmp" "$ROUNDS" <<'PY'
import json, os, platform, re, statistics, subprocess, sys

tmp, rounds = sys.argv[1], int(sys.argv[2])

def med(xs):
    return statistics.median(xs)

ours = {}
for r in range(1, rounds + 1):
    with open(os.path.join(tmp, f"ours.{r}.json")) as f:
        for b in json.load(f)["benchmarks"]:
            v = b.get("bytes_per_second") or b.get("items_per_second")
            ours.setdefault(b["name"], []).append(v)

def openssl_xts(kind):
    vals = []
    for r in range(1, rounds + 1):
        for line in open(os.path.join(tmp, f"{kind}.{r}")):
            if line.startswith("+F:"):
                vals.append(float(line.strip().split(":")[-1]))  # bytes per second
    return vals

def openssl_rsa():
    vals = []
    for r in range(1, rounds + 1):
        for line in open(os.path.join(tmp, f"rsa.{r}")):
            if line.startswith("+F2:"):
                vals.append(float(line.strip().split(":")[3]))  # private-key ops per second
    return vals

ossl_enc, ossl_dec, ossl_rsa = openssl_xts("xts_enc"), openssl_xts("xts_dec"), openssl_rsa()
if not (ossl_enc and ossl_dec and ossl_rsa):
    sys.exit("crypto_bench.sh: could not parse openssl speed output")

model = "unknown"
try:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
except OSError:
    pass
ossl_version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
print(f"machine: {model}, {os.cpu_count()} CPUs, {platform.machine()}; {ossl_version}")
print(f"medians of {rounds} interleaved rounds (ours, openssl speed, ours, ...)\n")

GB = 1e9
rows = [
    ("XTS-AES-256 encrypt, 4 KiB units", "BM_XtsEncrypt4KiB", "BM_XtsEncryptUnits4KiB",
     "BM_OpenSslXtsEncryptPerUnitTweak", ossl_enc),
    ("XTS-AES-256 decrypt, 4 KiB units", "BM_XtsDecrypt4KiB", "BM_XtsDecryptUnits4KiB",
     "BM_OpenSslXtsDecryptPerUnitTweak", ossl_dec),
]
print(f"{'':34} {'ours/unit':>10} {'ours/batch':>10} {'EVP+tweak':>10} {'speed':>10}   ratios vs speed (unit, batch), vs EVP+tweak (unit)")
for title, unit, batch, ref, speed in rows:
    u, b, e, s = med(ours[unit]), med(ours[batch]), med(ours[ref]), med(speed)
    print(f"{title:34} {u/GB:9.2f}G {b/GB:9.2f}G {e/GB:9.2f}G {s/GB:9.2f}G   "
          f"{u/s:.3f}, {b/s:.3f}; {u/e:.3f}")
rsa_ours, rsa_speed = med(ours["BM_RsaOaep256Unwrap3072"]), med(ossl_rsa)
print(f"{'RSA-3072 OAEP-256 unwrap (ops/s)':34} {rsa_ours:10.1f} {'':>10} {'':>10} {rsa_speed:10.1f}   "
      f"{rsa_ours/rsa_speed:.3f}  (openssl speed rsa3072 sign/s)")
print("\nG = 10^9 bytes per CPU-second. 'speed' = openssl speed -evp aes-256-xts -bytes 4096 (one tweak "
      "for every call), 'EVP+tweak' = OpenSSL EVP setting each unit's tweak (bench/crypto_bench.cc).")
print("raw samples:", json.dumps({"ours": ours, "openssl_xts_enc": ossl_enc,
                                  "openssl_xts_dec": ossl_dec, "openssl_rsa3072_sign": ossl_rsa}))
PY

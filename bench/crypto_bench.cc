// Crypto data-path benchmarks (see docs/benchmarks-crypto.md and bench/crypto_bench.sh, which runs
// these next to `openssl speed` and prints the ratios).
//
//   BM_XtsEncrypt4KiB / BM_XtsDecrypt4KiB: XtsCipher::Encrypt/Decrypt on 4 KiB data units, 16
//     consecutive units (64 KiB, in place) per iteration with plain64 tweaks, one call per unit.
//   BM_XtsEncryptUnits4KiB / BM_XtsDecryptUnits4KiB: the same 16 units in one EncryptUnits call.
//   BM_RsaOaep256Unwrap3072: RsaPrivateKey::Decrypt(kOaepSha256) of a wrapped 32-byte DEK.
//   BM_OpenSslXts*PerUnitTweak: reference, not our code: OpenSSL's EVP API doing the same job
//     directly (set the unit's tweak, encrypt 4 KiB). `openssl speed` never changes the tweak, so
//     this is the fair "what OpenSSL achieves" for XTS used correctly. (The one place outside
//     src/crypto/ that includes OpenSSL: it measures OpenSSL itself.)
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdlib>

#include "crypto/aes_xts.h"
#include "crypto/random.h"
#include "crypto/rsa_key.h"

namespace pgcmk::crypto {
namespace {

constexpr size_t kUnit = 4096;
constexpr size_t kUnitsPerIteration = 16;

XtsCipher BenchCipher() {
  auto key = RandomSecret(XtsCipher::kKeySize);
  if (!key) std::abort();
  auto cipher = XtsCipher::Create(*key);
  if (!cipher) std::abort();
  return std::move(*cipher);
}

// One call per unit (XtsCipher::Encrypt/Decrypt), `batched` = one call per 16 units
// (EncryptUnits/DecryptUnits). In place over 64 KiB, as the storage layer works.
void RunXts(benchmark::State& state, bool encrypt, bool batched) {
  const XtsCipher cipher = BenchCipher();
  auto data = RandomBytes(kUnit * kUnitsPerIteration);
  if (!data) std::abort();
  Bytes& buf = *data;
  std::uint64_t unit = 0;
  for (auto _ : state) {
    if (batched) {
      const Status s = encrypt ? cipher.EncryptUnits(unit, kUnit, buf, buf)
                               : cipher.DecryptUnits(unit, kUnit, buf, buf);
      if (!s.ok()) state.SkipWithError("XTS failed");
      unit += kUnitsPerIteration;
    } else {
      for (size_t i = 0; i < kUnitsPerIteration; ++i, ++unit) {
        const MutableByteView u = MutableByteView(buf).subspan(i * kUnit, kUnit);
        const Status s = encrypt ? cipher.Encrypt(XtsTweakForUnit(unit), u, u)
                                 : cipher.Decrypt(XtsTweakForUnit(unit), u, u);
        if (!s.ok()) state.SkipWithError("XTS failed");
      }
    }
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kUnit * kUnitsPerIteration));
}

void BM_XtsEncrypt4KiB(benchmark::State& state) { RunXts(state, true, false); }
void BM_XtsDecrypt4KiB(benchmark::State& state) { RunXts(state, false, false); }
void BM_XtsEncryptUnits4KiB(benchmark::State& state) { RunXts(state, true, true); }
void BM_XtsDecryptUnits4KiB(benchmark::State& state) { RunXts(state, false, true); }

void RunOpenSslReference(benchmark::State& state, bool encrypt) {
  auto key = RandomBytes(64);
  auto data = RandomBytes(kUnit * kUnitsPerIteration);
  if (!key || !data) std::abort();
  (*key)[0] ^= 1;  // distinct halves even in the astronomically unlikely case
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr || EVP_CipherInit_ex2(ctx, EVP_aes_256_xts(), key->data(), nullptr,
                                           encrypt ? 1 : 0, nullptr) != 1) {
    std::abort();
  }
  Bytes& buf = *data;
  std::uint64_t unit = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kUnitsPerIteration; ++i, ++unit) {
      const XtsTweak tweak = XtsTweakForUnit(unit);
      int len = 0;
      std::uint8_t* u = buf.data() + i * kUnit;
      if (EVP_CipherInit_ex2(ctx, nullptr, nullptr, tweak.data(), -1, nullptr) != 1 ||
          EVP_CipherUpdate(ctx, u, &len, u, static_cast<int>(kUnit)) != 1) {
        state.SkipWithError("OpenSSL XTS failed");
      }
    }
    benchmark::DoNotOptimize(buf.data());
    benchmark::ClobberMemory();
  }
  EVP_CIPHER_CTX_free(ctx);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kUnit * kUnitsPerIteration));
}

void BM_OpenSslXtsEncryptPerUnitTweak(benchmark::State& state) { RunOpenSslReference(state, true); }
void BM_OpenSslXtsDecryptPerUnitTweak(benchmark::State& state) {
  RunOpenSslReference(state, false);
}

void BM_RsaOaep256Unwrap3072(benchmark::State& state) {
  auto key = RsaPrivateKey::Generate(3072);
  if (!key) std::abort();
  auto dek = RandomBytes(32);
  auto wrapped = key->PublicKey().Encrypt(RsaEncryptionPadding::kOaepSha256, *dek);
  if (!wrapped) std::abort();
  for (auto _ : state) {
    auto unwrapped = key->Decrypt(RsaEncryptionPadding::kOaepSha256, *wrapped);
    if (!unwrapped) state.SkipWithError("unwrap failed");
    benchmark::DoNotOptimize(unwrapped);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

BENCHMARK(BM_XtsEncrypt4KiB);
BENCHMARK(BM_XtsDecrypt4KiB);
BENCHMARK(BM_XtsEncryptUnits4KiB);
BENCHMARK(BM_XtsDecryptUnits4KiB);
BENCHMARK(BM_OpenSslXtsEncryptPerUnitTweak);
BENCHMARK(BM_OpenSslXtsDecryptPerUnitTweak);
BENCHMARK(BM_RsaOaep256Unwrap3072)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pgcmk::crypto

BENCHMARK_MAIN();

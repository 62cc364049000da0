#include "crypto/aes_xts.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "crypto/random.h"

namespace pgcmk::crypto {
namespace {

SecretBytes TestKey() {
  SecretBytes key(XtsCipher::kKeySize);
  for (size_t i = 0; i < key.size(); ++i) key.reveal_mutable()[i] = static_cast<std::uint8_t>(i);
  return key;
}

Bytes Pattern(size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + 7 * i);
  return b;
}

TEST(XtsCipherTest, CreateRefusesWrongKeySize) {
  EXPECT_FALSE(XtsCipher::Create(SecretBytes(32)).has_value());
  EXPECT_FALSE(XtsCipher::Create(SecretBytes(65)).has_value());
}

TEST(XtsCipherTest, CreateRefusesEqualKeyHalves) {
  SecretBytes key(64);
  for (size_t i = 0; i < 64; ++i) key.reveal_mutable()[i] = static_cast<std::uint8_t>(i % 32);
  auto c = XtsCipher::Create(key);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code(), StatusCode::kInvalidArgument);
}

TEST(XtsCipherTest, RoundTripsEveryLengthUpTo100AndUnitSizes) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 100; ++n) lengths.push_back(n);
  for (size_t n : {4095u, 4096u, 4097u, 8192u, 65536u}) lengths.push_back(n);
  for (size_t n : lengths) {
    const Bytes plain = Pattern(n, static_cast<std::uint8_t>(n));
    Bytes enc(n), dec(n);
    const XtsTweak tweak = XtsTweakForUnit(n * 31 + 1);
    ASSERT_TRUE(cipher->Encrypt(tweak, plain, enc).ok()) << n;
    ASSERT_TRUE(cipher->Decrypt(tweak, enc, dec).ok()) << n;
    EXPECT_EQ(dec, plain) << n;
    if (n >= 4) {
      EXPECT_NE(enc, plain) << n;
    }
  }
}

TEST(XtsCipherTest, DifferentTweaksGiveDifferentCiphertexts) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  for (size_t n : {5u, 16u, 4096u}) {
    const Bytes plain = Pattern(n, 1);
    Bytes a(n), b(n);
    ASSERT_TRUE(cipher->Encrypt(XtsTweakForUnit(1), plain, a).ok());
    ASSERT_TRUE(cipher->Encrypt(XtsTweakForUnit(2), plain, b).ok());
    EXPECT_NE(a, b) << n;
  }
}

TEST(XtsCipherTest, EncryptsInPlace) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  for (size_t n : {7u, 16u, 33u, 4096u}) {
    const Bytes plain = Pattern(n, 9);
    Bytes expected(n);
    ASSERT_TRUE(cipher->Encrypt(XtsTweakForUnit(5), plain, expected).ok());
    Bytes buf = plain;
    ASSERT_TRUE(cipher->Encrypt(XtsTweakForUnit(5), buf, buf).ok());
    EXPECT_EQ(buf, expected);
    ASSERT_TRUE(cipher->Decrypt(XtsTweakForUnit(5), buf, buf).ok());
    EXPECT_EQ(buf, plain);
  }
}

TEST(XtsCipherTest, RejectsSizeMismatchOverlapAndOversize) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  Bytes in(32), out(31), buf(64);
  EXPECT_EQ(cipher->Encrypt(XtsTweakForUnit(0), in, out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cipher
                ->Encrypt(XtsTweakForUnit(0), ByteView(buf).first(32),
                          MutableByteView(buf).subspan(8, 32))
                .code(),
            StatusCode::kInvalidArgument);
  Bytes big(XtsCipher::kMaxUnitSize + 16), big_out(big.size());
  EXPECT_EQ(cipher->Encrypt(XtsTweakForUnit(0), big, big_out).code(), StatusCode::kInvalidArgument);
}

// The documented short-unit scheme: C = P XOR XTS-Encrypt(key, tweak | 0x80 in byte 15, 0^16).
TEST(XtsCipherTest, ShortUnitMatchesDocumentedScheme) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  XtsTweak tweak = XtsTweakForUnit(0x1122334455667788ull);
  XtsTweak short_tweak = tweak;
  short_tweak[15] |= 0x80;
  Bytes zeros(16, 0), keystream(16);
  ASSERT_TRUE(cipher->Encrypt(short_tweak, zeros, keystream).ok());
  for (size_t n = 1; n < 16; ++n) {
    const Bytes plain = Pattern(n, 3);
    Bytes enc(n);
    ASSERT_TRUE(cipher->Encrypt(tweak, plain, enc).ok());
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(enc[i], plain[i] ^ keystream[i]) << n << ":" << i;
  }
}

TEST(XtsCipherTest, ShortUnitRefusesTweakWithReservedBitSet) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  XtsTweak tweak{};
  tweak[15] = 0x80;
  Bytes in(5), out(5);
  EXPECT_EQ(cipher->Encrypt(tweak, in, out).code(), StatusCode::kInvalidArgument);
  Bytes in16(16), out16(16);
  EXPECT_TRUE(cipher->Encrypt(tweak, in16, out16).ok());
}

TEST(XtsCipherTest, TweakForUnitIsLittleEndianPlain64) {
  const XtsTweak t = XtsTweakForUnit(0x0102030405060708ull);
  const XtsTweak expected = {8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(t, expected);
}

TEST(XtsCipherTest, ConcurrentUseMatchesSequentialResults) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  constexpr size_t kUnits = 64;
  std::vector<Bytes> expected(kUnits);
  for (size_t u = 0; u < kUnits; ++u) {
    expected[u].resize(4096);
    ASSERT_TRUE(
        cipher
            ->Encrypt(XtsTweakForUnit(u), Pattern(4096, static_cast<std::uint8_t>(u)), expected[u])
            .ok());
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Bytes out(4096), back(4096);
      for (int round = 0; round < 200; ++round) {
        const size_t u = static_cast<size_t>(round * 7 + t) % kUnits;
        const Bytes plain = Pattern(4096, static_cast<std::uint8_t>(u));
        if (!cipher->Encrypt(XtsTweakForUnit(u), plain, out).ok() || out != expected[u]) {
          ++mismatches;
        }
        if (!cipher->Decrypt(XtsTweakForUnit(u), out, back).ok() || back != plain) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(XtsCipherTest, EncryptUnitsMatchesUnitByUnitCalls) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  constexpr size_t kUnit = 4096;
  for (size_t total : {size_t{0}, 3 * kUnit, 3 * kUnit + 100, 3 * kUnit + 5, 2 * kUnit + 16,
                       size_t{7}, size_t{40}}) {
    const Bytes plain = Pattern(total, static_cast<std::uint8_t>(total));
    Bytes expected(total);
    for (size_t off = 0, unit = 1000; off < total; off += kUnit, ++unit) {
      const size_t len = std::min(kUnit, total - off);
      ASSERT_TRUE(cipher
                      ->Encrypt(XtsTweakForUnit(unit), ByteView(plain).subspan(off, len),
                                MutableByteView(expected).subspan(off, len))
                      .ok());
    }
    Bytes batched(total);
    ASSERT_TRUE(cipher->EncryptUnits(1000, kUnit, plain, batched).ok()) << total;
    EXPECT_EQ(batched, expected) << total;
    Bytes in_place = batched;
    ASSERT_TRUE(cipher->DecryptUnits(1000, kUnit, in_place, in_place).ok()) << total;
    EXPECT_EQ(in_place, plain) << total;
  }
  Bytes buf(64);
  EXPECT_EQ(cipher->EncryptUnits(0, 8, buf, buf).code(), StatusCode::kInvalidArgument);
  Bytes shorter(63);
  EXPECT_EQ(cipher->EncryptUnits(0, 16, buf, shorter).code(), StatusCode::kInvalidArgument);
}

// More threads than cached context slots (64): the overflow path must give the same results.
TEST(XtsCipherTest, MoreThreadsThanSlotsStillCorrect) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  const Bytes plain = Pattern(4096, 42);
  Bytes expected(4096);
  ASSERT_TRUE(cipher->Encrypt(XtsTweakForUnit(9), plain, expected).ok());
  std::atomic<int> mismatches{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 96; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      Bytes out(4096);
      for (int round = 0; round < 20; ++round) {
        if (!cipher->Encrypt(XtsTweakForUnit(9), plain, out).ok() || out != expected) ++mismatches;
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(XtsCipherTest, MovedFromCipherFailsCleanly) {
  auto cipher = XtsCipher::Create(TestKey());
  ASSERT_TRUE(cipher.has_value());
  XtsCipher moved = std::move(*cipher);
  Bytes in(16), out(16);
  EXPECT_TRUE(moved.Encrypt(XtsTweakForUnit(0), in, out).ok());
  EXPECT_EQ(cipher->Encrypt(XtsTweakForUnit(0), in, out).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pgcmk::crypto

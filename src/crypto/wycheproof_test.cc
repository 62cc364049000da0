// Every case of the Wycheproof files in ../shared/testdata/wycheproof/ that our primitives cover,
// through the real code. Valid cases must pass, invalid ones must be rejected; "acceptable" cases
// (legal but unusual inputs) may go either way and their outcome is printed. Each test asserts the
// exact number of cases it ran, so a truncated or empty file fails.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "crypto/aes_gcm.h"
#include "crypto/aes_xts.h"
#include "crypto/ec_key.h"
#include "crypto/hkdf.h"
#include "crypto/rsa_key.h"
#include "crypto/vector_files.h"

namespace pgcmk::crypto {
namespace {

using nlohmann::json;
using testing::Hex;

Bytes Reveal(const SecretBytes& s) { return Bytes(s.reveal().begin(), s.reveal().end()); }

std::optional<json> Load(const char* name) {
  auto text = testing::ReadVectorFile(testing::SharedDir() / "testdata/wycheproof" / name);
  if (!text) return std::nullopt;
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("testGroups")) {
    ADD_FAILURE() << name << " is not a Wycheproof file";
    return std::nullopt;
  }
  return j;
}

Bytes HexField(const json& t, const char* field) { return Hex(t.at(field).get<std::string>()); }

struct Tally {
  int valid = 0, invalid = 0, acceptable_passed = 0, acceptable_rejected = 0, skipped = 0;
  int run() const { return valid + invalid + acceptable_passed + acceptable_rejected; }
  void Print(const char* file, const char* skip_reason = "") const {
    std::printf(
        "%s: %d cases run (valid %d, invalid rejected %d, acceptable passed %d / rejected %d), "
        "%d skipped%s%s\n",
        file, run(), valid, invalid, acceptable_passed, acceptable_rejected, skipped,
        skipped ? ": " : "", skipped ? skip_reason : "");
  }
  // Records one case: `ok` says whether our code accepted it. Fails the test on a wrong outcome.
  void Record(const json& t, bool ok, const char* file) {
    const std::string result = t.at("result").get<std::string>();
    const int id = t.at("tcId").get<int>();
    if (result == "valid") {
      EXPECT_TRUE(ok) << file << " tcId " << id
                      << " (valid) was rejected: " << t.value("comment", "");
      ++valid;
    } else if (result == "invalid") {
      EXPECT_FALSE(ok) << file << " tcId " << id
                       << " (invalid) was accepted: " << t.value("comment", "");
      ++invalid;
    } else {
      ASSERT_EQ(result, "acceptable");
      std::printf("  %s tcId %d acceptable (%s): %s\n", file, id, t.value("comment", "").c_str(),
                  ok ? "accepted" : "rejected");
      ++(ok ? acceptable_passed : acceptable_rejected);
    }
  }
};

HashAlgorithm HashByName(const std::string& name) {
  if (name == "SHA-1") return HashAlgorithm::kSha1;
  if (name == "SHA-224") return HashAlgorithm::kSha224;
  if (name == "SHA-256") return HashAlgorithm::kSha256;
  if (name == "SHA-384") return HashAlgorithm::kSha384;
  if (name == "SHA-512") return HashAlgorithm::kSha512;
  ADD_FAILURE() << "unexpected hash " << name;
  return HashAlgorithm::kSha256;
}

TEST(WycheproofTest, AesXts) {
  const char* file = "aes_xts_test.json";
  auto j = Load(file);
  ASSERT_TRUE(j.has_value());
  Tally tally;
  for (const auto& g : j->at("testGroups")) {
    if (g.at("keySize").get<int>() != 512) {  // XTS-AES-128 and the non-standard 192
      tally.skipped += static_cast<int>(g.at("tests").size());
      continue;
    }
    for (const auto& t : g.at("tests")) {
      Bytes iv = HexField(t, "iv");
      ASSERT_LE(iv.size(), 16u);
      iv.resize(16, 0);  // Wycheproof's shorter tweaks are zero-padded on the right
      XtsTweak tweak;
      std::copy(iv.begin(), iv.end(), tweak.begin());
      const Bytes msg = HexField(t, "msg");
      const Bytes ct = HexField(t, "ct");
      auto cipher = XtsCipher::Create(SecretBytes::CopyFrom(HexField(t, "key")));
      bool ok = cipher.has_value();
      if (ok) {
        Bytes enc(msg.size()), dec(ct.size());
        ok = ct.size() == msg.size() && cipher->Encrypt(tweak, msg, enc).ok() && enc == ct &&
             cipher->Decrypt(tweak, ct, dec).ok() && dec == msg;
      }
      tally.Record(t, ok, file);
    }
  }
  tally.Print(file, "key sizes other than 2 x 256 bits");
  EXPECT_EQ(tally.run(), 41);
  EXPECT_EQ(tally.skipped, 82);
}

TEST(WycheproofTest, AesGcm) {
  const char* file = "aes_gcm_test.json";
  auto j = Load(file);
  ASSERT_TRUE(j.has_value());
  Tally tally;
  int long_iv_skipped = 0;
  for (const auto& g : j->at("testGroups")) {
    if (g.at("keySize").get<int>() != 256) {
      tally.skipped += static_cast<int>(g.at("tests").size());
      continue;
    }
    if (g.at("ivSize").get<size_t>() > 8 * AesGcm::kMaxNonceSize) {
      // OpenSSL 3.0 caps GCM IVs at 128 bytes; so does our API (aes_gcm.h).
      long_iv_skipped += static_cast<int>(g.at("tests").size());
      continue;
    }
    const size_t tag_size = g.at("tagSize").get<size_t>() / 8;
    for (const auto& t : g.at("tests")) {
      auto gcm = AesGcm::Create(SecretBytes::CopyFrom(HexField(t, "key")));
      ASSERT_TRUE(gcm.has_value());
      const Bytes iv = HexField(t, "iv"), aad = HexField(t, "aad"), msg = HexField(t, "msg");
      const Bytes ct = HexField(t, "ct"), tag = HexField(t, "tag");
      auto dec = gcm->DecryptWithNonce(iv, ct, aad, tag);
      bool ok = dec.has_value() && Reveal(*dec) == msg;
      Bytes our_tag;
      auto enc = gcm->EncryptWithNonce(iv, msg, aad, &our_tag, tag_size);
      if (t.at("result") == "valid") {
        EXPECT_TRUE(enc.has_value() && *enc == ct && our_tag == tag) << "tcId " << t.at("tcId");
      }
      tally.Record(t, ok, file);
    }
  }
  tally.Print(file, "AES-128/192 keys");
  std::printf("%s: %d AES-256 cases skipped: IV longer than 128 bytes\n", file, long_iv_skipped);
  EXPECT_EQ(tally.run(), 104);
  EXPECT_EQ(long_iv_skipped, 1);
  EXPECT_EQ(tally.skipped, 211);
}

TEST(WycheproofTest, HkdfSha256) {
  const char* file = "hkdf_sha256_test.json";
  auto j = Load(file);
  ASSERT_TRUE(j.has_value());
  Tally tally;
  for (const auto& g : j->at("testGroups")) {
    for (const auto& t : g.at("tests")) {
      auto okm = HkdfSha256(SecretBytes::CopyFrom(HexField(t, "ikm")), HexField(t, "salt"),
                            HexField(t, "info"), t.at("size").get<size_t>());
      tally.Record(t, okm.has_value() && Reveal(*okm) == HexField(t, "okm"), file);
    }
  }
  tally.Print(file);
  EXPECT_EQ(tally.run(), 86);
}

// The private key of a Wycheproof RSA group, from its PKCS #8 DER; the JWK form must import to the
// same key.
std::optional<RsaPrivateKey> GroupPrivateKey(const json& g) {
  const int bits = g.at("keySize").get<int>();
  const RsaKeySizePolicy policy =
      bits < 2048 ? RsaKeySizePolicy::kLegacyTestVectors : RsaKeySizePolicy::kDefault;
  const SecretBytes der = SecretBytes::CopyFrom(HexField(g, "privateKeyPkcs8"));
  if (bits < 2048) {
    EXPECT_FALSE(RsaPrivateKey::FromPkcs8Der(der).has_value()) << "default policy took " << bits;
  }
  auto key = RsaPrivateKey::FromPkcs8Der(der, policy);
  EXPECT_TRUE(key.has_value()) << key.error().ToString();
  if (!key) return std::nullopt;
  if (!g.contains("privateKeyJwk")) return std::move(*key);
  const json& jwk = g.at("privateKeyJwk");
  auto b64 = [&](const char* f) {
    auto v = Base64UrlDecode(jwk.at(f).get<std::string>());
    EXPECT_TRUE(v.has_value());
    return v.value_or(Bytes{});
  };
  auto secret = [&](const char* f) { return SecretBytes::CopyFrom(b64(f)); };
  auto from_jwk =
      RsaPrivateKey::FromJwk(RsaJwk{b64("n"), b64("e")}, secret("d"), secret("p"), secret("q"),
                             secret("dp"), secret("dq"), secret("qi"), policy);
  EXPECT_TRUE(from_jwk.has_value());
  if (from_jwk) {
    EXPECT_EQ(from_jwk->PublicKey().ToDer(), key->PublicKey().ToDer());
  }
  return std::move(*key);
}

Tally RunOaepFile(const char* file) {
  Tally tally;
  auto j = Load(file);
  if (!j) return tally;
  for (const auto& g : j->at("testGroups")) {
    auto key = GroupPrivateKey(g);
    if (!key) continue;
    const HashAlgorithm hash = HashByName(g.at("sha").get<std::string>());
    const HashAlgorithm mgf = HashByName(g.at("mgfSha").get<std::string>());
    EXPECT_EQ(g.at("mgf").get<std::string>(), "MGF1");
    for (const auto& t : g.at("tests")) {
      const Bytes label = HexField(t, "label");
      auto pt = key->DecryptOaep({hash, mgf, label}, HexField(t, "ct"));
      if (!pt) {
        EXPECT_EQ(pt.error().message(), "decryption failed");
      }
      tally.Record(t, pt.has_value() && Reveal(*pt) == HexField(t, "msg"), file);
    }
  }
  tally.Print(file);
  return tally;
}

TEST(WycheproofTest, RsaOaep2048Sha1) {
  EXPECT_EQ(RunOaepFile("rsa_oaep_2048_sha1_mgf1sha1_test.json").run(), 36);
}
TEST(WycheproofTest, RsaOaep2048Sha256) {
  EXPECT_EQ(RunOaepFile("rsa_oaep_2048_sha256_mgf1sha256_test.json").run(), 37);
}
TEST(WycheproofTest, RsaOaep3072Sha256) {
  EXPECT_EQ(RunOaepFile("rsa_oaep_3072_sha256_mgf1sha256_test.json").run(), 37);
}
TEST(WycheproofTest, RsaOaep4096Sha256) {
  EXPECT_EQ(RunOaepFile("rsa_oaep_4096_sha256_mgf1sha256_test.json").run(), 37);
}
TEST(WycheproofTest, RsaOaepMisc) { EXPECT_EQ(RunOaepFile("rsa_oaep_misc_test.json").run(), 395); }

TEST(WycheproofTest, RsaPkcs1Decrypt2048) {
  const char* file = "rsa_pkcs1_2048_test.json";
  auto j = Load(file);
  ASSERT_TRUE(j.has_value());
  Tally tally;
  for (const auto& g : j->at("testGroups")) {
    auto key = GroupPrivateKey(g);
    ASSERT_TRUE(key.has_value());
    const size_t k = static_cast<size_t>(g.at("keySize").get<int>()) / 8;
    for (const auto& t : g.at("tests")) {
      const Bytes ct = HexField(t, "ct");
      auto pt = key->Decrypt(RsaEncryptionPadding::kPkcs1v15, ct);
      // Implicit rejection: a bad padding gives a (synthetic) message like a good one does; only
      // a ciphertext that is publicly invalid (its length, or not below the modulus) is an error.
      bool flagged_padding = false;
      for (const auto& f : t.at("flags")) flagged_padding |= f == "InvalidPkcs1Padding";
      if (flagged_padding) {
        EXPECT_TRUE(pt.has_value()) << "tcId " << t.at("tcId");
      }
      if (!pt) {
        EXPECT_EQ(pt.error().message(), "decryption failed");
        EXPECT_TRUE(ct.size() != k || t.at("result") == "invalid") << "tcId " << t.at("tcId");
      }
      tally.Record(t, pt.has_value() && Reveal(*pt) == HexField(t, "msg"), file);
    }
  }
  tally.Print(file);
  EXPECT_EQ(tally.run(), 67);
}

// PKCS#1 v1.5 with implicit rejection gives exactly what OpenSSL 3.2+ gives (vectors made with
// OpenSSL 3.5.9 through Node.js 24: src/crypto/testdata/gen_implicit_rejection_vectors.js), for
// good paddings, every kind of bad one, and random ciphertexts, on 2048/3072/3080/4096-bit keys
// (3080: a modulus of 385 bytes, so the PRF ends in a partial block).
TEST(ImplicitRejectionTest, MatchesOpenSsl35OnEveryVector) {
  auto text = testing::ReadVectorFile(std::filesystem::path(PGCMK_CRYPTO_TESTDATA) /
                                      "rsa_pkcs1_implicit_rejection.json");
  ASSERT_TRUE(text.has_value());
  const json j = json::parse(*text);
  int run = 0, synthetic = 0;
  for (const auto& g : j.at("groups")) {
    const std::string pem = g.at("privateKeyPem");
    auto key = RsaPrivateKey::FromPem(SecretBytes::CopyFrom(AsBytes(pem)));
    ASSERT_TRUE(key.has_value()) << key.error().ToString();
    for (const auto& t : g.at("tests")) {
      ++run;
      auto pt = key->Decrypt(RsaEncryptionPadding::kPkcs1v15, HexField(t, "ct"));
      if (t.contains("error")) {
        EXPECT_FALSE(pt.has_value()) << t.at("comment");
        continue;
      }
      ASSERT_TRUE(pt.has_value()) << t.at("comment") << ": " << pt.error().ToString();
      EXPECT_EQ(ToHex(Reveal(*pt)), t.at("msg").get<std::string>()) << t.at("comment");
      const std::string comment = t.at("comment");
      synthetic += comment.find("(invalid)") != std::string::npos ||
                   comment.starts_with("random") || comment.starts_with("first") ||
                   comment.starts_with("block") || comment.starts_with("padding of") ||
                   comment.starts_with("no zero");
    }
  }
  EXPECT_EQ(run, 126);
  EXPECT_GE(synthetic, 40);  // most vectors exercise the synthetic path
}

Tally RunSignatureFile(const char* file, RsaSignatureScheme scheme) {
  Tally tally;
  auto j = Load(file);
  if (!j) return tally;
  for (const auto& g : j->at("testGroups")) {
    EXPECT_EQ(g.at("sha").get<std::string>(), "SHA-256");
    if (g.contains("sLen")) {
      EXPECT_EQ(g.at("sLen").get<int>(), 32);
      EXPECT_EQ(g.at("mgfSha").get<std::string>(), "SHA-256");
    }
    auto key = RsaPublicKey::FromDer(HexField(g, "publicKeyDer"));
    EXPECT_TRUE(key.has_value());
    if (!key) continue;
    for (const auto& t : g.at("tests")) {
      const Status s = key->Verify(scheme, HexField(t, "msg"), HexField(t, "sig"));
      tally.Record(t, s.ok(), file);
    }
  }
  tally.Print(file);
  return tally;
}

TEST(WycheproofTest, RsaPss2048Sha256Salt32) {
  EXPECT_EQ(
      RunSignatureFile("rsa_pss_2048_sha256_mgf1_32_test.json", RsaSignatureScheme::kPssSha256)
          .run(),
      108);
}

TEST(WycheproofTest, RsaPkcs1Signature2048Sha256) {
  EXPECT_EQ(
      RunSignatureFile("rsa_signature_2048_sha256_test.json", RsaSignatureScheme::kPkcs1Sha256)
          .run(),
      259);
}

// r || s (each left-padded to `size`) from a strict DER ECDSA-Sig-Value with short-form lengths;
// nullopt for anything else (then the case is only checked in DER form).
std::optional<Bytes> DerSignatureToRaw(const Bytes& der, size_t size) {
  if (der.size() < 8 || der[0] != 0x30 || der[1] != der.size() - 2) return std::nullopt;
  Bytes raw;
  size_t pos = 2;
  for (int i = 0; i < 2; ++i) {
    if (pos + 2 > der.size() || der[pos] != 0x02) return std::nullopt;
    size_t len = der[pos + 1];
    pos += 2;
    if (len >= 0x80 || pos + len > der.size()) return std::nullopt;
    size_t start = pos;
    while (len > 0 && der[start] == 0) ++start, --len;
    if (len > size) return std::nullopt;
    raw.insert(raw.end(), size - len, 0);
    raw.insert(raw.end(), der.begin() + static_cast<long>(start),
               der.begin() + static_cast<long>(start + len));
    pos = start + len;
  }
  if (pos != der.size()) return std::nullopt;
  return raw;
}

TEST(WycheproofTest, EcdsaP256Sha256Der) {
  const char* file = "ecdsa_secp256r1_sha256_test.json";
  auto j = Load(file);
  ASSERT_TRUE(j.has_value());
  Tally tally;
  int raw_checked = 0;
  for (const auto& g : j->at("testGroups")) {
    EXPECT_EQ(g.at("sha").get<std::string>(), "SHA-256");
    auto key = EcPublicKey::FromDer(HexField(g, "publicKeyDer"));
    ASSERT_TRUE(key.has_value()) << key.error().ToString();
    // The JWK-style coordinates must give the same key.
    const json& pk = g.at("publicKey");
    auto from_xy = EcPublicKey::FromJwk(EcJwk{EcCurve::kP256, key->ToJwk().x, key->ToJwk().y});
    ASSERT_TRUE(from_xy.has_value());
    EXPECT_EQ(pk.at("curve").get<std::string>(), "secp256r1");
    for (const auto& t : g.at("tests")) {
      const Status s = key->VerifyDerSignature(EcSignatureAlgorithm::kEs256, HexField(t, "msg"),
                                               HexField(t, "sig"));
      tally.Record(t, s.ok(), file);
      // Valid signatures again in the JWS form (raw r || s), through Verify.
      if (t.at("result") == "valid") {
        auto raw = DerSignatureToRaw(HexField(t, "sig"), 32);
        if (raw) {
          EXPECT_TRUE(key->Verify(EcSignatureAlgorithm::kEs256, HexField(t, "msg"), *raw).ok())
              << "tcId " << t.at("tcId");
          ++raw_checked;
        }
      }
    }
  }
  tally.Print(file);
  std::printf("%s: %d valid signatures also verified as raw r||s\n", file, raw_checked);
  EXPECT_EQ(tally.run(), 484);
  EXPECT_GE(raw_checked, 150);
}

}  // namespace
}  // namespace pgcmk::crypto

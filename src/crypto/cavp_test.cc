// NIST CAVP known-answer tests (from Debian's python3-cryptography-vectors) through the real code:
// XTS-AES-256, AES-256-GCM (encrypt and decrypt, FAIL cases rejected), RSA-OAEP (PKCS #1 v2.1
// vectors with SHA-1 and pyca's SHA-2 derivations of them).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "crypto/aes_gcm.h"
#include "crypto/aes_xts.h"
#include "crypto/rsa_key.h"
#include "crypto/vector_files.h"

namespace pgcmk::crypto {
namespace {

using testing::CavpDir;
using testing::Hex;
using testing::ParseRsp;
using testing::ReadVectorFile;

Bytes Reveal(const SecretBytes& s) { return Bytes(s.reveal().begin(), s.reveal().end()); }

TEST(CavpTest, XtsAes256EncryptAndDecrypt) {
  auto text = ReadVectorFile(CavpDir() / "ciphers/AES/XTS/tweak-128hexstr/XTSGenAES256.rsp");
  ASSERT_TRUE(text.has_value());
  int ran = 0, skipped_bit_lengths = 0;
  for (const auto& r : ParseRsp(*text)) {
    const int bits = std::stoi(r.fields.at("DataUnitLen"));
    if (bits % 8 != 0) {
      ++skipped_bit_lengths;  // our data units are whole bytes
      continue;
    }
    const SecretBytes key = SecretBytes::CopyFrom(Hex(r.fields.at("Key")));
    const Bytes tweak_bytes = Hex(r.fields.at("i"));
    ASSERT_EQ(tweak_bytes.size(), 16u);
    XtsTweak tweak;
    std::copy(tweak_bytes.begin(), tweak_bytes.end(), tweak.begin());
    const Bytes pt = Hex(r.fields.at("PT"));
    const Bytes ct = Hex(r.fields.at("CT"));
    ASSERT_EQ(pt.size() * 8, static_cast<size_t>(bits));
    ASSERT_GE(pt.size(), 16u) << "CAVP has no units shorter than a block";
    auto cipher = XtsCipher::Create(key);
    ASSERT_TRUE(cipher.has_value()) << r.fields.at("COUNT");
    Bytes out(pt.size());
    if (r.section == "ENCRYPT") {
      ASSERT_TRUE(cipher->Encrypt(tweak, pt, out).ok());
      EXPECT_EQ(out, ct) << "ENCRYPT COUNT " << r.fields.at("COUNT");
    } else {
      ASSERT_EQ(r.section, "DECRYPT");
      ASSERT_TRUE(cipher->Decrypt(tweak, ct, out).ok());
      EXPECT_EQ(out, pt) << "DECRYPT COUNT " << r.fields.at("COUNT");
    }
    ++ran;
  }
  std::printf("XTSGenAES256.rsp: %d cases run, %d skipped (DataUnitLen not a whole byte)\n", ran,
              skipped_bit_lengths);
  EXPECT_EQ(ran, 600);
  EXPECT_EQ(skipped_bit_lengths, 400);
}

TEST(CavpTest, AesGcm256DecryptRejectsEveryFailCase) {
  auto text = ReadVectorFile(CavpDir() / "ciphers/AES/GCM/gcmDecrypt256.rsp");
  ASSERT_TRUE(text.has_value());
  int passed = 0, rejected = 0, skipped_short_tags = 0;
  for (const auto& r : ParseRsp(*text)) {
    const int tag_bits = std::stoi(r.params.at("Taglen"));
    if (tag_bits < 96) {
      ++skipped_short_tags;  // our API refuses tags under 12 bytes
      continue;
    }
    auto gcm = AesGcm::Create(SecretBytes::CopyFrom(Hex(r.fields.at("Key"))));
    ASSERT_TRUE(gcm.has_value());
    auto pt = gcm->DecryptWithNonce(Hex(r.fields.at("IV")), Hex(r.fields.at("CT")),
                                    Hex(r.fields.at("AAD")), Hex(r.fields.at("Tag")));
    if (r.fail) {
      ASSERT_FALSE(pt.has_value()) << "FAIL case accepted: Count " << r.fields.at("Count");
      EXPECT_EQ(pt.error().code(), StatusCode::kDataLoss);
      ++rejected;
    } else {
      ASSERT_TRUE(pt.has_value()) << "Count " << r.fields.at("Count");
      EXPECT_EQ(Reveal(*pt), Hex(r.fields.at("PT")));
      ++passed;
    }
  }
  std::printf(
      "gcmDecrypt256.rsp: %d valid decrypted, %d FAIL rejected, %d skipped (tag < 96 bits)\n",
      passed, rejected, skipped_short_tags);
  EXPECT_EQ(passed, 2845);
  EXPECT_EQ(rejected, 2780);
  EXPECT_EQ(skipped_short_tags, 2250);
}

TEST(CavpTest, AesGcm256EncryptExtIv) {
  auto text = ReadVectorFile(CavpDir() / "ciphers/AES/GCM/gcmEncryptExtIV256.rsp");
  ASSERT_TRUE(text.has_value());
  int ran = 0, skipped_short_tags = 0;
  for (const auto& r : ParseRsp(*text)) {
    const int tag_bits = std::stoi(r.params.at("Taglen"));
    if (tag_bits < 96) {
      ++skipped_short_tags;
      continue;
    }
    auto gcm = AesGcm::Create(SecretBytes::CopyFrom(Hex(r.fields.at("Key"))));
    ASSERT_TRUE(gcm.has_value());
    Bytes tag;
    const Bytes iv = Hex(r.fields.at("IV"));
    auto ct = gcm->EncryptWithNonce(iv, Hex(r.fields.at("PT")), Hex(r.fields.at("AAD")), &tag,
                                    static_cast<size_t>(tag_bits / 8));
    ASSERT_TRUE(ct.has_value()) << "Count " << r.fields.at("Count");
    EXPECT_EQ(*ct, Hex(r.fields.at("CT"))) << "Count " << r.fields.at("Count");
    EXPECT_EQ(tag, Hex(r.fields.at("Tag"))) << "Count " << r.fields.at("Count");
    auto back = gcm->DecryptWithNonce(iv, *ct, Hex(r.fields.at("AAD")), tag);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(Reveal(*back), Hex(r.fields.at("PT")));
    ++ran;
  }
  std::printf("gcmEncryptExtIV256.rsp: %d cases run, %d skipped (tag < 96 bits)\n", ran,
              skipped_short_tags);
  EXPECT_EQ(ran, 5625);
  EXPECT_EQ(skipped_short_tags, 2250);
}

// The PKCS #1 v2.1 OAEP vector files: "# Label:" lines followed by hex lines. Keys are given in
// full (n, e, d, p, q, dP, dQ, qInv); each "Encryption" closes one case.
struct OaepCase {
  int key_index;
  Bytes message;
  Bytes ciphertext;
};
struct OaepKey {
  RsaJwk pub;
  Bytes d, p, q, dp, dq, qi;
};
struct OaepFile {
  std::vector<OaepKey> keys;
  std::vector<OaepCase> cases;
};

OaepFile ParseOaepVectors(std::string_view text) {
  OaepFile file;
  OaepKey key;
  bool in_private = false;
  std::string label;
  std::string hex;
  Bytes message;
  auto finish_field = [&] {
    if (label.empty()) return;
    const Bytes value = Hex(hex);
    if (label == "Modulus") {
      key.pub.n = value;
    } else if (label == "Exponent") {
      (in_private ? key.d : key.pub.e) = value;
    } else if (label == "Public exponent") {
      key.pub.e = value;
    } else if (label == "Prime 1" || label == "Prime p") {
      key.p = value;
    } else if (label == "Prime 2" || label == "Prime q") {
      key.q = value;
    } else if (label == "Prime exponent 1" || label == "p's CRT exponent dP") {
      key.dp = value;
    } else if (label == "Prime exponent 2" || label == "q's CRT exponent dQ") {
      key.dq = value;
    } else if (label == "Coefficient" || label == "CRT coefficient qInv") {
      key.qi = value;
      file.keys.push_back(key);  // the coefficient is the last private field
    } else if (label == "Message" || label == "Message to be encrypted") {
      message = value;
    } else if (label == "Encryption") {
      file.cases.push_back({static_cast<int>(file.keys.size()) - 1, message, value});
    }
    label.clear();
    hex.clear();
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.starts_with("# ")) {
      finish_field();
      std::string_view rest = line.substr(2);
      if (rest == "Public key") in_private = false;
      if (rest == "Private key") in_private = true;
      if (rest.ends_with(':')) label = std::string(rest.substr(0, rest.size() - 1));
      continue;
    }
    if (line.starts_with('#') || line.starts_with('=') || line.empty()) {
      finish_field();
      continue;
    }
    if (label.empty()) continue;
    for (char c : line) {
      if (c != ' ') hex.push_back(c);
    }
  }
  finish_field();
  return file;
}

// Runs every case of one OAEP vector file; returns the number of cases decrypted.
int RunOaepFile(const std::filesystem::path& path, const OaepParams& params) {
  auto text = ReadVectorFile(path);
  if (!text) return 0;
  const OaepFile file = ParseOaepVectors(*text);
  std::vector<std::optional<RsaPrivateKey>> keys;
  for (const OaepKey& k : file.keys) {
    auto key = RsaPrivateKey::FromJwk(k.pub, SecretBytes::CopyFrom(k.d), SecretBytes::CopyFrom(k.p),
                                      SecretBytes::CopyFrom(k.q), SecretBytes::CopyFrom(k.dp),
                                      SecretBytes::CopyFrom(k.dq), SecretBytes::CopyFrom(k.qi),
                                      RsaKeySizePolicy::kLegacyTestVectors);
    EXPECT_TRUE(key.has_value()) << path << ": " << key.error().ToString();
    if (!key) return 0;
    keys.emplace_back(std::move(*key));
  }
  int ran = 0;
  for (const OaepCase& c : file.cases) {
    if (c.key_index < 0) {
      ADD_FAILURE() << path << ": ciphertext before any key";
      continue;
    }
    const RsaPrivateKey& key = *keys[static_cast<size_t>(c.key_index)];
    auto pt = key.DecryptOaep(params, c.ciphertext);
    EXPECT_TRUE(pt.has_value()) << path << " case " << ran;
    if (pt) {
      EXPECT_EQ(Reveal(*pt), c.message) << path << " case " << ran;
    }
    // And our own encryption of the message must decrypt back (OAEP is randomised).
    auto ct = key.PublicKey().EncryptOaep(params, c.message);
    EXPECT_TRUE(ct.has_value());
    if (ct) {
      auto back = key.DecryptOaep(params, *ct);
      EXPECT_TRUE(back.has_value() && Reveal(*back) == c.message);
    }
    ++ran;
  }
  std::printf("%s: %zu keys, %d cases run\n", path.filename().c_str(), file.keys.size(), ran);
  return ran;
}

TEST(CavpTest, RsaOaepSha1Pkcs1v21Vectors) {
  const int ran = RunOaepFile(CavpDir() / "asymmetric/RSA/pkcs-1v2-1d2-vec/oaep-vect.txt",
                              {HashAlgorithm::kSha1, HashAlgorithm::kSha1, {}});
  EXPECT_EQ(ran, 60);  // 10 keys x 6 messages
}

TEST(CavpTest, RsaOaepCustomSha2Vectors) {
  const std::pair<const char*, HashAlgorithm> hashes[] = {{"sha1", HashAlgorithm::kSha1},
                                                          {"sha224", HashAlgorithm::kSha224},
                                                          {"sha256", HashAlgorithm::kSha256},
                                                          {"sha384", HashAlgorithm::kSha384},
                                                          {"sha512", HashAlgorithm::kSha512}};
  int files = 0, total = 0;
  for (const auto& [hash_name, hash] : hashes) {
    for (const auto& [mgf_name, mgf] : hashes) {
      if (hash == HashAlgorithm::kSha1 && mgf == HashAlgorithm::kSha1) continue;  // oaep-vect.txt
      // pyca names the files oaep-<mgf1 hash>-<OAEP hash>.txt; each example line restates both.
      const std::string name = std::string("oaep-") + mgf_name + "-" + hash_name + ".txt";
      auto text = ReadVectorFile(CavpDir() / "asymmetric/RSA/oaep-custom" / name);
      ASSERT_TRUE(text.has_value());
      EXPECT_NE(text->find(std::string("alg=") + hash_name + " mgf1=" + mgf_name),
                std::string::npos)
          << name;
      const int ran = RunOaepFile(CavpDir() / "asymmetric/RSA/oaep-custom" / name, {hash, mgf, {}});
      EXPECT_GT(ran, 0) << name;
      total += ran;
      ++files;
    }
  }
  std::printf("oaep-custom: %d files, %d cases run\n", files, total);
  EXPECT_EQ(files, 24);
  EXPECT_EQ(total, 24 * 60);
}

}  // namespace
}  // namespace pgcmk::crypto

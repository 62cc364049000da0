// Freezes the vault's at-rest formats with golden values produced by an independent
// implementation (Python `cryptography`, see testdata/formats_golden.json): sealed key material
// and the audit chain MAC. A change that breaks these breaks existing vaults.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "vault/key_material.h"
#include "vault/vault_store.h"

namespace pgcmk::vault {
namespace {

nlohmann::json Golden() {
  std::ifstream in("src/vault/testdata/formats_golden.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

MasterKey GoldenMaster(const nlohmann::json& g) {
  Bytes raw;
  EXPECT_TRUE(FromHex(g["master_key_hex"].get<std::string>(), &raw));
  auto m = MasterKey::FromSecret(SecretBytes::CopyFrom(raw));
  EXPECT_TRUE(m.has_value());
  return std::move(*m);
}

TEST(FormatsGoldenTest, SealedKeyMaterialFromAnotherImplementationOpens) {
  auto g = Golden();
  MasterKey master = GoldenMaster(g);
  auto sealer = Sealer::Create(master, kLabelKeyMaterial);
  ASSERT_TRUE(sealer.has_value());
  const auto& s = g["sealed_key_version"];
  Bytes sealed;
  ASSERT_TRUE(FromHex(s["sealed_hex"].get<std::string>(), &sealed));
  auto opened = sealer->Open(
      sealed, KeyVersionAad(s["name"].get<std::string>(), s["version"].get<std::string>()));
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  EXPECT_EQ(AsStringView(opened->reveal()), s["plaintext"].get<std::string>());
}

TEST(FormatsGoldenTest, AuditChainMacsMatchAnotherImplementation) {
  auto g = Golden();
  MasterKey master = GoldenMaster(g);
  auto audit_key = master.Derive(kLabelAuditChain);
  ASSERT_TRUE(audit_key.has_value());
  auto audit_mac = AuditMac::Create(*audit_key);  // what the store uses
  ASSERT_TRUE(audit_mac.has_value());
  Bytes prev(32, 0);
  const auto& records = g["audit_chain"]["records"];
  for (size_t i = 0; i < records.size(); ++i) {
    const auto seq = static_cast<std::int64_t>(i + 1);
    Bytes mac = VaultStore::ComputeMac(*audit_key, prev, seq, records[i].get<std::string>());
    EXPECT_EQ(ToHex(mac), g["audit_chain"]["macs_hex"][i].get<std::string>()) << "record " << i + 1;
    EXPECT_EQ(ToHex(audit_mac->Compute(prev, seq, records[i].get<std::string>())), ToHex(mac));
    prev = mac;
  }
}

}  // namespace
}  // namespace pgcmk::vault

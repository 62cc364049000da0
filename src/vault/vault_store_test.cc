#include "vault/vault_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <thread>

#include "crypto/random.h"
#include "vault/key_material.h"

namespace pgcmk::vault {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vault-store-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

SecretBytes AuditKey() { return SecretBytes::CopyFrom(Bytes(32, 7)); }

std::unique_ptr<VaultStore> OpenStore(const TempDir& dir) {
  auto store = VaultStore::Open(dir.path() / "vault.db", AuditKey());
  EXPECT_TRUE(store.has_value()) << store.error().ToString();
  return std::move(*store);
}

TEST(VaultStoreTest, AuditChainVerifiesAfterConcurrentAppends) {
  TempDir dir;
  auto store = OpenStore(dir);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        EXPECT_TRUE(
            store->AppendAudit("{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}")
                .ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto v = store->VerifyAudit();
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->records, 100);
  EXPECT_EQ(v->head_seq, 100);
}

TEST(VaultStoreTest, AuditChainSurvivesReopen) {
  TempDir dir;
  {
    auto store = OpenStore(dir);
    ASSERT_TRUE(store->AppendAudit("{\"a\":1}").ok());
  }
  auto store = OpenStore(dir);
  ASSERT_TRUE(store->AppendAudit("{\"a\":2}").ok());
  auto v = store->VerifyAudit();
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->records, 2);
}

// The store's MACs (pre-extracted HKDF) are the chain's definition (one-shot HKDF).
TEST(VaultStoreTest, StoredMacsMatchTheReferenceDefinition) {
  TempDir dir;
  auto store = OpenStore(dir);
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(store->AppendAudit("{\"n\":" + std::to_string(i) + "}").ok());
  auto db = SqliteDb::Open(dir.path() / "vault.db");
  ASSERT_TRUE(db.has_value());
  auto st = db->Prepare("SELECT seq, record, mac FROM audit ORDER BY seq");
  ASSERT_TRUE(st.has_value());
  Bytes prev(32, 0);
  int rows = 0;
  while (*st->Step()) {
    Bytes want = VaultStore::ComputeMac(AuditKey(), prev, st->ColumnInt(0), st->ColumnText(1));
    EXPECT_EQ(ToHex(st->ColumnBlob(2)), ToHex(want));
    prev = want;
    ++rows;
  }
  EXPECT_EQ(rows, 3);
}

// Group commit fails closed for every waiter of a failed batch, and recovers afterwards.
TEST(VaultStoreTest, ConcurrentAppendsFailClosedWhenTheAuditCannotBeWritten) {
  TempDir dir;
  auto store = OpenStore(dir);
  store->InjectAuditFailureForTesting(true);
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        Status s = store->AppendAudit("{\"x\":1}");
        if (s.code() == StatusCode::kUnavailable) ++refused;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(refused.load(), 160);
  store->InjectAuditFailureForTesting(false);
  threads.clear();
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) EXPECT_TRUE(store->AppendAudit("{\"y\":1}").ok());
    });
  }
  for (auto& th : threads) th.join();
  auto v = store->VerifyAudit();
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->records, 160);
}

// Every change to the tables that decide access bumps the access generation in its own
// transaction, whoever makes it (here: a plain second connection).
TEST(VaultStoreTest, EveryChangeToAccessTablesBumpsTheAccessGeneration) {
  TempDir dir;
  auto store = OpenStore(dir);
  auto db = SqliteDb::Open(dir.path() / "vault.db");
  ASSERT_TRUE(db.has_value());
  auto generation = [&] {
    auto st = db->Prepare("SELECT n FROM access_generation WHERE id = 1");
    EXPECT_TRUE(st.has_value() && *st->Step());
    return st->ColumnInt(0);
  };
  const std::vector<std::string> changes = {
      "INSERT INTO identities VALUES('a','a','c1','o1',x'00',1,0,0,1)",
      "UPDATE identities SET enabled = 0",
      "INSERT INTO policies VALUES('o1', 1, '[]')",
      "UPDATE policies SET key_permissions = 0",
      "DELETE FROM policies",
      "INSERT INTO keys(name_lc, name) VALUES('k','k')",
      "INSERT INTO key_versions VALUES('k','v',1,'{}',x'00')",
      "UPDATE key_versions SET public_json = '{\"a\":1}'",
      "UPDATE keys SET deleted_date = 1",
      "DELETE FROM key_versions",
      "DELETE FROM keys",
      "DELETE FROM identities",
  };
  std::int64_t last = generation();
  for (const auto& sql : changes) {
    ASSERT_TRUE(db->Exec(sql).ok()) << sql;
    const std::int64_t now = generation();
    EXPECT_GT(now, last) << sql;
    last = now;
  }
  // Audit records do not touch it (they are written on every request).
  ASSERT_TRUE(store->AppendAudit("{\"n\":1}").ok());
  EXPECT_EQ(generation(), last);
}

// Tampering is done through a second SQLite connection, as an attacker with file access would.
class AuditTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenStore(dir_);
    for (int i = 1; i <= 5; ++i)
      ASSERT_TRUE(store_->AppendAudit("{\"n\":" + std::to_string(i) + "}").ok());
    auto db = SqliteDb::Open(dir_.path() / "vault.db");
    ASSERT_TRUE(db.has_value());
    db_.emplace(std::move(*db));
  }
  AuditVerification Verify() {
    auto v = store_->VerifyAudit();
    EXPECT_TRUE(v.has_value());
    return *v;
  }
  TempDir dir_;
  std::unique_ptr<VaultStore> store_;
  std::optional<SqliteDb> db_;
};

TEST_F(AuditTamperTest, AnchorDetectsRecordsRemovedFromTheEndAndAReplacedLog) {
  AuditVerification before = Verify();
  ASSERT_TRUE(before.ok);
  AuditAnchor anchor{before.head_seq, {}};
  ASSERT_TRUE(FromHex(before.head_mac_hex, &anchor.mac));
  auto with = [&](const AuditAnchor& a) {
    auto v = store_->VerifyAudit({a});
    EXPECT_TRUE(v.has_value());
    return *v;
  };
  EXPECT_TRUE(with(anchor).ok);
  // An older anchor is a prefix of the current log: still fine.
  ASSERT_TRUE(store_->AppendAudit("{\"n\":6}").ok());
  EXPECT_TRUE(with(anchor).ok);

  ASSERT_TRUE(db_->Exec("DELETE FROM audit WHERE seq >= 5").ok());
  EXPECT_TRUE(Verify().ok);  // the chain alone cannot tell
  AuditVerification v = with(anchor);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 5);
  EXPECT_NE(v.problem.find("removed from the end"), std::string::npos) << v.problem;

  AuditAnchor other = anchor;
  other.seq = 3;  // record 3 exists but has another mac: the log was rewritten or replaced
  v = with(other);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);

  // Several anchors at once: all must hold; the one that fails is reported.
  AuditVerification now = Verify();
  AuditAnchor head{now.head_seq, {}};
  ASSERT_TRUE(FromHex(now.head_mac_hex, &head.mac));
  auto many = store_->VerifyAudit({head, head});
  ASSERT_TRUE(many.has_value());
  EXPECT_TRUE(many->ok);
  many = store_->VerifyAudit({head, other});
  ASSERT_TRUE(many.has_value());
  EXPECT_FALSE(many->ok);
  EXPECT_EQ(many->first_bad_seq, 3);
  many = store_->VerifyAudit({head, anchor});  // the older head was removed from the end
  ASSERT_TRUE(many.has_value());
  EXPECT_FALSE(many->ok);
}

TEST(AuditAnchorTest, ParsesCommaSeparatedAnchors) {
  const std::string mac(64, 'b');
  auto two = ParseAuditAnchors("1:" + mac + ",7:" + mac);
  ASSERT_TRUE(two.has_value());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].seq, 7);
  EXPECT_FALSE(ParseAuditAnchors("1:" + mac + ",").has_value());
  EXPECT_FALSE(ParseAuditAnchors("").has_value());
}

TEST(AuditAnchorTest, ParsesOnlySeqColonHexMac) {
  const std::string mac(64, 'a');
  auto ok = ParseAuditAnchor("12:" + mac);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->seq, 12);
  EXPECT_EQ(ok->mac.size(), 32u);
  for (std::string bad : {std::string(""), ":" + mac, "0:" + mac, "-1:" + mac, "1x:" + mac,
                          "12" + mac, "12:" + mac.substr(1), "12:" + mac + "a",
                          "12:" + std::string(64, 'g'), "99999999999999999999:" + mac}) {
    EXPECT_EQ(ParseAuditAnchor(bad).error().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(AuditTamperTest, DetectsAnEditedRecord) {
  ASSERT_TRUE(db_->Exec("UPDATE audit SET record='{\"n\":33}' WHERE seq=3").ok());
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);
}

TEST_F(AuditTamperTest, DetectsADeletedRecord) {
  ASSERT_TRUE(db_->Exec("DELETE FROM audit WHERE seq=2").ok());
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);
}

TEST_F(AuditTamperTest, DetectsAnInsertedRecord) {
  // Renumber to make room, then insert a record with a copied mac.
  ASSERT_TRUE(db_->Exec("UPDATE audit SET seq=seq+100 WHERE seq>=3; UPDATE audit SET seq=seq-99 "
                        "WHERE seq>=103;")
                  .ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO audit(seq, record, mac) SELECT 3, '{\"n\":99}', mac FROM "
                        "audit WHERE seq=2")
                  .ok());
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 3);
}

TEST_F(AuditTamperTest, DetectsReorderedRecords) {
  ASSERT_TRUE(db_->Exec("UPDATE audit SET seq=100 WHERE seq=2; UPDATE audit SET seq=2 WHERE seq=4; "
                        "UPDATE audit SET seq=4 WHERE seq=100;")
                  .ok());
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 2);
}

TEST_F(AuditTamperTest, DetectsARecomputedChainWithoutTheKey) {
  // An attacker without the audit key recomputes "macs" with another key: every record fails.
  SecretBytes wrong = SecretBytes::CopyFrom(Bytes(32, 8));
  Bytes mac = VaultStore::ComputeMac(wrong, Bytes(32, 0), 1, "{\"n\":1}");
  auto st = db_->Prepare("UPDATE audit SET mac=? WHERE seq=1");
  ASSERT_TRUE(st.has_value());
  st->BindBlob(1, mac);
  ASSERT_TRUE(st->Run().ok());
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 1);
}

TEST(VaultStoreTest, MutationAndItsAuditRecordCommitTogether) {
  TempDir dir;
  auto store = OpenStore(dir);
  Status s =
      store->Mutate([](SqliteDb& db) { return db.Exec("INSERT INTO meta(k, v) VALUES('x', '1')"); },
                    [](const Status&) { return std::string("{\"op\":\"x\"}"); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  store->InjectAuditFailureForTesting(true);
  s = store->Mutate([](SqliteDb& db) { return db.Exec("INSERT INTO meta(k, v) VALUES('y', '1')"); },
                    [](const Status&) { return std::string("{\"op\":\"y\"}"); });
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->AppendAudit("{}").code(), StatusCode::kUnavailable);
  store->InjectAuditFailureForTesting(false);
  int rows = store->Read([](SqliteDb& db) {
    auto st = db.Prepare("SELECT count(*) FROM meta WHERE k IN ('x','y')");
    EXPECT_TRUE(st.has_value());
    EXPECT_TRUE(*st->Step());
    return static_cast<int>(st->ColumnInt(0));
  });
  EXPECT_EQ(rows, 1);  // 'y' had no effect
  auto v = store->VerifyAudit();
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->records, 1);
}

TEST(KeyMaterialTest, SealedKeyMaterialIsBoundToNameAndVersion) {
  auto master = MasterKey::FromSecret(SecretBytes::CopyFrom(Bytes(32, 1)));
  ASSERT_TRUE(master.has_value());
  auto sealer = Sealer::Create(*master, kLabelKeyMaterial);
  ASSERT_TRUE(sealer.has_value());
  SecretBytes secret = SecretBytes::CopyFrom(ToBytes("private key bytes"));
  auto sealed = sealer->Seal(secret, KeyVersionAad("Key1", "00112233445566778899aabbccddeeff"));
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ((*sealed)[0], kSealedFormatVersion);
  // Case-insensitive name: same AAD.
  auto opened = sealer->Open(*sealed, KeyVersionAad("KEY1", "00112233445566778899AABBCCDDEEFF"));
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(*opened == secret);
  EXPECT_EQ(sealer->Open(*sealed, KeyVersionAad("Key2", "00112233445566778899aabbccddeeff"))
                .error()
                .code(),
            StatusCode::kDataLoss);
  EXPECT_FALSE(
      sealer->Open(*sealed, KeyVersionAad("Key1", "00112233445566778899aabbccddeef0")).has_value());
  Bytes bad = *sealed;
  bad[0] = 0x02;
  EXPECT_FALSE(
      sealer->Open(bad, KeyVersionAad("Key1", "00112233445566778899aabbccddeeff")).has_value());
}

TEST(KeyMaterialTest, MasterKeyFileMustBePrivate) {
  TempDir dir;
  auto created = MasterKey::CreateFile(dir.path() / "master.key");
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(std::filesystem::status(dir.path() / "master.key").permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_TRUE(MasterKey::LoadFile(dir.path() / "master.key").has_value());
  EXPECT_EQ(MasterKey::CreateFile(dir.path() / "master.key").error().code(),
            StatusCode::kAlreadyExists);
  std::filesystem::permissions(dir.path() / "master.key", std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  EXPECT_EQ(MasterKey::LoadFile(dir.path() / "master.key").error().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pgcmk::vault

#include "vault/vault_store.h"

#include <array>
#include <charconv>
#include <functional>
#include <map>
#include <thread>

#include "common/status.h"
#include "crypto/hkdf.h"
#include "crypto/rsa_key.h"

namespace pgcmk::vault {

namespace {
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys(
  name_lc TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  deleted_date INTEGER,
  scheduled_purge_date INTEGER,
  rotation_policy TEXT,
  last_notify INTEGER);
CREATE TABLE IF NOT EXISTS key_versions(
  name_lc TEXT NOT NULL REFERENCES keys(name_lc) ON DELETE CASCADE,
  version TEXT NOT NULL,
  seq INTEGER NOT NULL,
  public_json TEXT NOT NULL,
  sealed_private BLOB NOT NULL,
  PRIMARY KEY(name_lc, version));
CREATE INDEX IF NOT EXISTS key_versions_by_seq ON key_versions(name_lc, seq);
CREATE TABLE IF NOT EXISTS identities(
  name_lc TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  client_id TEXT NOT NULL UNIQUE,
  object_id TEXT NOT NULL UNIQUE,
  secret_hash BLOB NOT NULL,
  enabled INTEGER NOT NULL,
  admin INTEGER NOT NULL,
  created INTEGER NOT NULL,
  secret_generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS policies(
  object_id TEXT PRIMARY KEY REFERENCES identities(object_id) ON DELETE CASCADE,
  key_permissions INTEGER NOT NULL,
  roles TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS token_keys(
  kid TEXT PRIMARY KEY,
  sealed_private BLOB NOT NULL,
  created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tls_material(
  name TEXT PRIMARY KEY,
  certificate_pem TEXT NOT NULL,
  sealed_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY,
  record TEXT NOT NULL,
  mac BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS access_generation(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n INTEGER NOT NULL);
INSERT OR IGNORE INTO access_generation(id, n) VALUES(1, 0);
CREATE TRIGGER IF NOT EXISTS identities_ins_bumps_access_generation AFTER INSERT ON identities
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS identities_upd_bumps_access_generation AFTER UPDATE ON identities
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS identities_del_bumps_access_generation AFTER DELETE ON identities
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS policies_ins_bumps_access_generation AFTER INSERT ON policies
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS policies_upd_bumps_access_generation AFTER UPDATE ON policies
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS policies_del_bumps_access_generation AFTER DELETE ON policies
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS keys_ins_bumps_access_generation AFTER INSERT ON keys
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS keys_upd_bumps_access_generation AFTER UPDATE ON keys
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS keys_del_bumps_access_generation AFTER DELETE ON keys
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS key_versions_ins_bumps_access_generation AFTER INSERT ON key_versions
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS key_versions_upd_bumps_access_generation AFTER UPDATE ON key_versions
  BEGIN UPDATE access_generation SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS key_versions_del_bumps_access_generation AFTER DELETE ON key_versions
  BEGIN UPDATE access_generation SET n = n + 1; END;
)sql";

// Added after format 1 shipped; creating it on open migrates existing vaults (older binaries
// ignore the table, so the format version stays 1).
constexpr std::string_view kSchemaIdentityCertificates = R"sql(
CREATE TABLE IF NOT EXISTS identity_certificates(
  object_id TEXT NOT NULL REFERENCES identities(object_id) ON DELETE CASCADE,
  key_id TEXT NOT NULL UNIQUE,
  sha1 BLOB NOT NULL,
  sha256 BLOB NOT NULL,
  certificate_der BLOB NOT NULL,
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  added INTEGER NOT NULL,
  PRIMARY KEY(object_id, sha256));
)sql";

// Client assertions (private_key_jwt) already used, kept until they expire so that a restart does
// not reopen the replay window (the jti is stored as its SHA-256). Added after format 1 like the
// certificates table.
constexpr std::string_view kSchemaUsedAssertions = R"sql(
CREATE TABLE IF NOT EXISTS used_assertions(
  client_id TEXT NOT NULL,
  jti_sha256 BLOB NOT NULL,
  until INTEGER NOT NULL,
  PRIMARY KEY(client_id, jti_sha256)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS used_assertions_until ON used_assertions(until);
)sql";

constexpr int kReaders = 4;

void PutBigEndian64(std::uint64_t v, Bytes* out) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
}  // namespace

Result<std::unique_ptr<VaultStore>> VaultStore::Open(const std::filesystem::path& db_path,
                                                     SecretBytes audit_key) {
  PGCMK_ASSIGN_OR_RETURN(SqliteDb writer, SqliteDb::Open(db_path));
  PGCMK_RETURN_IF_ERROR(writer.Exec(kSchema));
  PGCMK_RETURN_IF_ERROR(writer.Exec(kSchemaIdentityCertificates));
  PGCMK_RETURN_IF_ERROR(writer.Exec(kSchemaUsedAssertions));
  std::vector<std::unique_ptr<Reader>> readers;
  for (int i = 0; i < kReaders; ++i) {
    PGCMK_ASSIGN_OR_RETURN(SqliteDb reader, SqliteDb::Open(db_path));
    readers.push_back(std::make_unique<Reader>(std::move(reader)));
  }
  PGCMK_ASSIGN_OR_RETURN(AuditMac audit_mac, AuditMac::Create(audit_key));
  std::unique_ptr<VaultStore> store(
      new VaultStore(std::move(writer), std::move(readers), std::move(audit_mac)));
  PGCMK_RETURN_IF_ERROR(store->LoadChainHead());
  return store;
}

VaultStore::Reader& VaultStore::PickReader() {
  size_t h = std::hash<std::thread::id>{}(std::this_thread::get_id());
  return *readers_[h % readers_.size()];
}

Status VaultStore::LoadChainHead() {
  std::lock_guard lock(write_mu_);
  PGCMK_ASSIGN_OR_RETURN(auto stmt,
                         writer_.Prepare("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1"));
  PGCMK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (row) {
    head_seq_ = stmt.ColumnInt(0);
    head_mac_ = stmt.ColumnBlob(1);
  } else {
    head_seq_ = 0;
    head_mac_.assign(32, 0);
  }
  return Status::Ok();
}

Bytes VaultStore::ComputeMac(const SecretBytes& audit_key, ByteView prev_mac, std::int64_t seq,
                             std::string_view record) {
  Bytes info = ToBytes("pgcmk-audit/v1");
  info.insert(info.end(), prev_mac.begin(), prev_mac.end());
  PutBigEndian64(static_cast<std::uint64_t>(seq), &info);
  Bytes digest = crypto::Sha256(AsBytes(record));
  info.insert(info.end(), digest.begin(), digest.end());
  auto mac = crypto::HkdfSha256(audit_key, {}, info, 32);
  if (!mac) return {};  // an empty mac never verifies; the caller checks
  ByteView v = mac->reveal();
  return Bytes(v.begin(), v.end());
}

Result<AuditMac> AuditMac::Create(const SecretBytes& audit_key) {
  PGCMK_ASSIGN_OR_RETURN(crypto::HkdfSha256Expander e,
                         crypto::HkdfSha256Expander::Create(audit_key, {}));
  return AuditMac(std::move(e));
}

Bytes AuditMac::Compute(ByteView prev_mac, std::int64_t seq, std::string_view record) const {
  static constexpr std::string_view kLabel = "pgcmk-audit/v1";
  Bytes seq_be;
  PutBigEndian64(static_cast<std::uint64_t>(seq), &seq_be);
  const Bytes digest = crypto::Sha256(AsBytes(record));
  Bytes mac(32);
  if (!expander_.Expand({AsBytes(kLabel), prev_mac, seq_be, digest}, mac).ok()) return {};
  return mac;
}

Result<std::pair<std::int64_t, Bytes>> VaultStore::InsertAuditRecords(
    const std::vector<std::string>& records) {
  if (inject_audit_failure_) {
    return Err(StatusCode::kIoError, "audit record could not be written (injected failure)", EIO);
  }
  std::int64_t seq = head_seq_;
  Bytes mac = head_mac_;
  PGCMK_ASSIGN_OR_RETURN(auto stmt,
                         writer_.Prepare("INSERT INTO audit(seq, record, mac) VALUES(?,?,?)"));
  for (const auto& record : records) {
    ++seq;
    mac = audit_mac_.Compute(mac, seq, record);
    if (mac.size() != 32) return Err(StatusCode::kInternal, "audit mac computation failed");
    stmt.Reset();
    stmt.Bind(1, seq).Bind(2, record).BindBlob(3, mac);
    PGCMK_RETURN_IF_ERROR(stmt.Run());
  }
  return std::make_pair(seq, mac);
}

Status VaultStore::Mutate(const std::function<Status(SqliteDb&)>& change,
                          const std::function<std::string(const Status&)>& make_record) {
  std::lock_guard lock(write_mu_);
  Status change_status;
  {
    auto txn = SqliteTransaction::Begin(writer_);
    if (!txn)
      return Status(StatusCode::kUnavailable, "store unavailable: " + txn.error().message());
    change_status = change(writer_);
    if (change_status.ok()) {
      auto head = InsertAuditRecords({make_record(change_status)});
      if (!head) {
        return Status(StatusCode::kUnavailable,
                      "the audit record could not be written; the request had no effect");
      }
      Status commit = txn->Commit();
      if (!commit.ok()) {
        return Status(StatusCode::kUnavailable,
                      "the change could not be committed; the request had no effect");
      }
      head_seq_ = head->first;
      head_mac_ = std::move(head->second);
      return Status::Ok();
    }
  }
  // The change failed and was rolled back: record the failure on its own.
  auto txn = SqliteTransaction::Begin(writer_);
  if (!txn) return Status(StatusCode::kUnavailable, "store unavailable");
  auto head = InsertAuditRecords({make_record(change_status)});
  if (!head || !txn->Commit().ok()) {
    return Status(StatusCode::kUnavailable, "the audit record could not be written");
  }
  head_seq_ = head->first;
  head_mac_ = std::move(head->second);
  return change_status;
}

Status VaultStore::RecordAssertionUse(std::string_view client_id, ByteView jti_sha256,
                                      std::int64_t until, std::int64_t now) {
  std::lock_guard lock(write_mu_);
  auto txn = SqliteTransaction::Begin(writer_);
  if (!txn) return Status(StatusCode::kUnavailable, "store unavailable: " + txn.error().message());
  {
    PGCMK_ASSIGN_OR_RETURN(auto expired,
                           writer_.Prepare("DELETE FROM used_assertions WHERE until < ?"));
    PGCMK_RETURN_IF_ERROR(expired.Bind(1, now).Run());
  }
  {
    PGCMK_ASSIGN_OR_RETURN(
        auto insert, writer_.Prepare("INSERT OR IGNORE INTO used_assertions VALUES(?, ?, ?)"));
    PGCMK_RETURN_IF_ERROR(insert.Bind(1, client_id).BindBlob(2, jti_sha256).Bind(3, until).Run());
  }
  if (sqlite3_changes(writer_.raw()) == 0) {
    return Status(StatusCode::kAlreadyExists, "the assertion was used before");
  }
  Status commit = txn->Commit();
  if (!commit.ok()) {
    return Status(StatusCode::kUnavailable, "the assertion could not be recorded durably");
  }
  return Status::Ok();
}

Status VaultStore::CommitBatch(const std::deque<Waiter*>& batch) noexcept {
  // The one catch in the store: an exception here (allocation failure) must not leave the batch's
  // waiters and every later request waiting for a leader that is gone; it fails the batch closed.
  try {
    std::vector<std::string> records;
    records.reserve(batch.size());
    for (Waiter* w : batch) records.push_back(std::move(w->record));
    std::lock_guard wlock(write_mu_);
    auto txn = SqliteTransaction::Begin(writer_);
    if (!txn) return txn.error();
    auto head = InsertAuditRecords(records);
    if (!head) return head.error();
    Status status = txn->Commit();
    if (status.ok()) {
      head_seq_ = head->first;
      head_mac_ = std::move(head->second);
    }
    return status;
  } catch (const std::exception&) {
    return Status(StatusCode::kInternal, "audit batch commit failed");
  }
}

Status VaultStore::AppendAudit(std::string record) {
  Waiter self;
  self.record = std::move(record);
  std::deque<Waiter*> batch;  // allocated before leading: leading must not throw (see below)
  std::unique_lock lock(queue_mu_);
  queue_.push_back(&self);
  if (leader_active_) {
    self.cv.wait(lock, [&] { return self.done || self.lead; });
  }
  if (!self.done) {
    // Lead one batch: everything queued so far, in one transaction and one fsync. From here to
    // the hand-off nothing throws (swap, a noexcept commit, flags), so neither this batch's
    // waiters nor later requests can be left waiting for a leader that is gone.
    leader_active_ = true;
    batch.swap(queue_);
    lock.unlock();
    const bool failed = !CommitBatch(batch).ok();
    lock.lock();
    for (Waiter* w : batch) {
      w->failed = failed;
      w->done = true;
      if (w != &self) w->cv.notify_one();
    }
    // Hand the next batch to the oldest waiter (it is waiting anyway), or stand down.
    if (queue_.empty()) {
      leader_active_ = false;
    } else {
      queue_.front()->lead = true;
      queue_.front()->cv.notify_one();
    }
  }
  if (self.failed) {
    return Status(StatusCode::kUnavailable,
                  "the audit record could not be written; the request was refused");
  }
  return Status::Ok();
}

Result<AuditAnchor> ParseAuditAnchor(std::string_view text) {
  const auto bad = [] {
    return Err(StatusCode::kInvalidArgument,
               "an audit anchor is SEQ:MAC, a record number and its 64-hex-digit mac as "
               "'audit verify' prints them");
  };
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 18) return bad();
  AuditAnchor anchor;
  const std::string_view seq = text.substr(0, colon);
  auto [end, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), anchor.seq);
  if (ec != std::errc() || end != seq.data() + seq.size() || anchor.seq < 1) return bad();
  const std::string_view mac = text.substr(colon + 1);
  if (mac.size() != 64 || !FromHex(mac, &anchor.mac)) return bad();
  return anchor;
}

Result<std::vector<AuditAnchor>> ParseAuditAnchors(std::string_view text) {
  std::vector<AuditAnchor> out;
  while (true) {
    const size_t comma = text.find(',');
    PGCMK_ASSIGN_OR_RETURN(AuditAnchor a, ParseAuditAnchor(text.substr(0, comma)));
    out.push_back(std::move(a));
    if (out.size() > 10000) return Err(StatusCode::kInvalidArgument, "too many audit anchors");
    if (comma == std::string_view::npos) return out;
    text.remove_prefix(comma + 1);
  }
}

AuditAnchor VaultStore::AuditHead() {
  std::lock_guard lock(write_mu_);
  return AuditAnchor{head_seq_, head_mac_};
}

Result<AuditVerification> VaultStore::VerifyAudit(const std::vector<AuditAnchor>& anchors) {
  // Anchors by record number (several may name one record; each must match).
  std::multimap<std::int64_t, const AuditAnchor*> by_seq;
  for (const AuditAnchor& a : anchors) by_seq.emplace(a.seq, &a);
  const std::int64_t highest = by_seq.empty() ? 0 : by_seq.rbegin()->first;
  AuditVerification v;
  return Read([&](SqliteDb& db) -> Result<AuditVerification> {
    PGCMK_ASSIGN_OR_RETURN(auto stmt,
                           db.Prepare("SELECT seq, record, mac FROM audit ORDER BY seq"));
    Bytes prev(32, 0);
    std::int64_t expected = 1;
    while (true) {
      PGCMK_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      std::int64_t seq = stmt.ColumnInt(0);
      std::string record = stmt.ColumnText(1);
      Bytes mac = stmt.ColumnBlob(2);
      ++v.records;
      if (v.ok && seq != expected) {
        v.ok = false;
        v.first_bad_seq = seq;
        v.problem = "sequence gap: expected record " + std::to_string(expected) + ", found " +
                    std::to_string(seq) + " (records deleted or inserted)";
      }
      Bytes want = audit_mac_.Compute(prev, seq, record);
      if (v.ok && (want.size() != mac.size() || !ConstantTimeEquals(want, mac))) {
        v.ok = false;
        v.first_bad_seq = seq;
        v.problem =
            "record " + std::to_string(seq) +
            " does not match the chain (edited, inserted, reordered, or a predecessor was removed)";
      }
      for (auto [it, end] = by_seq.equal_range(seq); v.ok && it != end; ++it) {
        const Bytes& want_mac = it->second->mac;
        if (mac.size() != want_mac.size() || !ConstantTimeEquals(mac, want_mac)) {
          v.ok = false;
          v.first_bad_seq = seq;
          v.problem = "record " + std::to_string(seq) +
                      " is not the one the anchor recorded (the log was rewritten or replaced)";
        }
      }
      prev = mac;
      expected = seq + 1;
      v.head_seq = seq;
      v.head_mac_hex = ToHex(mac);
    }
    if (v.ok && v.head_seq < highest) {
      v.ok = false;
      v.first_bad_seq = v.head_seq + 1;
      v.problem = "the log ends at record " + std::to_string(v.head_seq) +
                  " but an anchor recorded record " + std::to_string(highest) +
                  " (records were removed from the end)";
    }
    return v;
  });
}

}  // namespace pgcmk::vault

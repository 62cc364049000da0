// VaultStore: the vault's SQLite database (one file, WAL, synchronous=FULL) and its audit chain.
//
// Durability contract: a call that returns OK has committed (fsync'd) its change. Every change is
// committed together with its audit record in one transaction (Mutate); read-only requests commit
// their audit record with AppendAudit, which batches concurrent callers into one transaction
// (group commit) and returns only after the batch is durable. If the audit record cannot be
// committed, both return kUnavailable and nothing of the change is visible.
//
// Audit chain (table audit: seq INTEGER PRIMARY KEY, record TEXT, mac BLOB):
//   mac(seq) = HKDF-SHA256(audit key, salt = "", info = "pgcmk-audit/v1" | mac(seq-1) |
//                          seq as 8 bytes big-endian | SHA-256(record), 32);   mac(0) = 32 zeros
// The audit key is derived from the master key (kLabelAuditChain), so the chain cannot be
// recomputed by someone who can only write the database file.
//
// Access generation (table access_generation: one row, n): triggers bump n in the same
// transaction as every INSERT, UPDATE or DELETE on identities, policies, keys and key_versions,
// whoever writes (this process, another process, the sqlite3 shell). A reader that sees the same
// n as when it read some of those rows knows they are still current; the service's caches rely on
// this (vault_service.cc).
//
// Concurrency: one writer connection behind write_mu_ (lock order: queue_mu_ is never held while
// taking write_mu_), a small pool of reader connections, each behind its own mutex (a reader is
// picked by thread, so concurrent requests rarely wait for each other). All methods are
// thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/hkdf.h"
#include "vault/key_material.h"
#include "vault/sqlite_db.h"

namespace pgcmk::vault {

struct AuditEntry {
  std::int64_t seq = 0;
  std::string record;  // JSON text
  Bytes mac;
};

// The chain MAC above with HKDF's extract step done once per key: Compute(prev, seq, record) ==
// VaultStore::ComputeMac(audit_key, prev, seq, record), for the price of one HMAC and one SHA-256.
// Thread-safe.
class AuditMac {
 public:
  static Result<AuditMac> Create(const SecretBytes& audit_key);
  // Empty on an (unexpected) OpenSSL failure; an empty mac never verifies.
  Bytes Compute(ByteView prev_mac, std::int64_t seq, std::string_view record) const;

 private:
  explicit AuditMac(crypto::HkdfSha256Expander e) : expander_(std::move(e)) {}
  crypto::HkdfSha256Expander expander_;
};

struct AuditVerification {
  bool ok = true;
  std::int64_t records = 0;
  std::optional<std::int64_t> first_bad_seq;
  std::string problem;  // empty when ok
  std::int64_t head_seq = 0;
  std::string head_mac_hex;
};

// A chain head recorded outside the vault (printed by `audit verify`): record `seq` had `mac`.
// Verifying against it detects what the chain alone cannot — records removed from the end
// together with the head, or the whole log replaced.
struct AuditAnchor {
  std::int64_t seq = 0;
  Bytes mac;
};
// Parses "SEQ:MAC" (a record number ≥ 1 and its 64-hex-digit mac, as `audit verify` prints them);
// kInvalidArgument otherwise.
Result<AuditAnchor> ParseAuditAnchor(std::string_view text);
// Parses one or more anchors separated by commas (at most 10,000).
Result<std::vector<AuditAnchor>> ParseAuditAnchors(std::string_view text);

class VaultStore {
 public:
  // Opens (creating the schema if needed) `db_path`. `audit_key` comes from the master key.
  static Result<std::unique_ptr<VaultStore>> Open(const std::filesystem::path& db_path,
                                                  SecretBytes audit_key);

  // Runs `change` inside one write transaction, then appends make_record(status of change) to the
  // chain. When `change` fails, its effects are rolled back and the failure record is committed
  // alone. Returns the status of `change`, or kUnavailable if the audit record (and with it the
  // change) could not be committed.
  Status Mutate(const std::function<Status(SqliteDb&)>& change,
                const std::function<std::string(const Status&)>& make_record);

  // Commits one audit record durably (group commit). kUnavailable if it cannot be written.
  Status AppendAudit(std::string record);

  // Runs `read` with the reader connection (a consistent snapshot per statement).
  template <typename F>
  auto Read(F&& read) {
    Reader& r = PickReader();
    std::lock_guard lock(r.mu);
    return read(r.db);
  }

  // Records durably that the client assertion (client_id, jti) was used, until `until` (unix
  // seconds), and forgets records that expired before `now`. kAlreadyExists if the pair is
  // recorded and not expired (a replay, also across restarts); kUnavailable if it cannot be
  // committed (the caller must then refuse the assertion).
  Status RecordAssertionUse(std::string_view client_id, ByteView jti_sha256, std::int64_t until,
                            std::int64_t now);

  // The chain's current head (the last committed record's seq and mac; 0 and zeros when empty).
  AuditAnchor AuditHead();

  // Reads every audit record in seq order and checks the chain, and for every anchor that its
  // record still exists with its mac (the first anchor that fails is reported).
  Result<AuditVerification> VerifyAudit(const std::vector<AuditAnchor>& anchors = {});

  // For tests of the fail-closed path: when set, every audit commit fails with kIoError.
  void InjectAuditFailureForTesting(bool fail) { inject_audit_failure_ = fail; }

  // The chain MAC by the definition above (one-shot HKDF; the reference for AuditMac).
  static Bytes ComputeMac(const SecretBytes& audit_key, ByteView prev_mac, std::int64_t seq,
                          std::string_view record);

 private:
  struct Reader {
    std::mutex mu;
    SqliteDb db;
    explicit Reader(SqliteDb d) : db(std::move(d)) {}
  };
  VaultStore(SqliteDb writer, std::vector<std::unique_ptr<Reader>> readers, AuditMac audit_mac)
      : writer_(std::move(writer)),
        readers_(std::move(readers)),
        audit_mac_(std::move(audit_mac)) {}
  Reader& PickReader();
  Status LoadChainHead();
  // Inserts records after the current head inside the caller's transaction; returns the new head.
  Result<std::pair<std::int64_t, Bytes>> InsertAuditRecords(
      const std::vector<std::string>& records);

  std::mutex write_mu_;  // guards writer_, head_seq_, head_mac_
  SqliteDb writer_;
  std::int64_t head_seq_ = 0;
  Bytes head_mac_;

  std::vector<std::unique_ptr<Reader>> readers_;

  AuditMac audit_mac_;
  std::atomic<bool> inject_audit_failure_ = false;

  // Group commit queue. Each waiter lives on its caller's stack and is woken on its own: when its
  // batch is durable (done), or when it is handed the leadership of the next batch (lead).
  struct Waiter {
    std::string record;
    std::condition_variable cv;
    bool done = false;
    bool lead = false;
    bool failed = false;  // with done: the batch was not committed
  };
  // Commits the records of `batch` in one transaction; never throws.
  Status CommitBatch(const std::deque<Waiter*>& batch) noexcept;
  std::mutex queue_mu_;  // guards queue_, leader_active_ and every queued Waiter's flags
  std::deque<Waiter*> queue_;
  bool leader_active_ = false;
};

}  // namespace pgcmk::vault

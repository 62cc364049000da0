// KmsClient: all that the server supervisor sees of a key vault (ours, Azure Key Vault, or the
// host-held system-managed key). Three operations, named as Azure names them: get a key's
// properties, wrap a key (the DEK) under a key-encryption key, unwrap it again.
//
// Errors are classified so that the supervisor can tell a *definitive* loss of access (the vault
// answered and said no: 401/403/404, disabled or expired key, a wrapped DEK the key cannot unwrap)
// from a *transient* failure (the vault could not be asked: connection refused, timeouts, 5xx,
// 429). ClassifyFailure() is the single place that decides; implementations map their wire errors
// onto StatusCode accordingly:
//   definitive: kUnauthenticated, kPermissionDenied, kNotFound, kFailedPrecondition, kConflict,
//               kInvalidArgument, kDataLoss
//   transient:  kUnavailable, kDeadlineExceeded, kResourceExhausted, kInternal, kIoError
// Messages name the key and the requirement that failed; they never contain key material,
// client secrets or tokens.
//
// Thread safety: implementations may be called from one thread at a time unless they say more.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::kms {

// The properties of one key version, as a KeyBundle reports them.
struct KeyInfo {
  std::string kid;  // always versioned: https://vault/keys/NAME/VERSION
  std::string kty;  // "RSA", "RSA-HSM", "EC", "oct", ...
  int key_size_bits = 0;
  bool enabled = false;
  std::optional<std::int64_t> nbf;  // Unix seconds
  std::optional<std::int64_t> exp;  // Unix seconds
  std::string recovery_level;       // e.g. "CustomizedRecoverable"; empty if not reported
  std::optional<int> recoverable_days;
  std::vector<std::string> key_ops;
};

struct WrappedKey {
  std::string kid;  // the versioned key that wrapped it; unwrap with exactly this kid
  Bytes wrapped;
};

// RSA-OAEP-256: OAEP with SHA-256 and MGF1-SHA-256 (the algorithm pgcmk uses for its DEKs).
inline constexpr std::string_view kRsaOaep256 = "RSA-OAEP-256";

class KmsClient {
 public:
  virtual ~KmsClient() = default;

  // `key_id` is a key URI, versioned or not; versionless means the current version.
  virtual Result<KeyInfo> GetKey(std::string_view key_id) = 0;
  virtual Result<WrappedKey> WrapKey(std::string_view key_id, std::string_view alg,
                                     const SecretBytes& key) = 0;
  // `kid` should be the versioned kid that WrapKey returned.
  virtual Result<SecretBytes> UnwrapKey(std::string_view kid, std::string_view alg,
                                        ByteView wrapped) = 0;
};

enum class FailureKind { kNone, kDefinitive, kTransient };
FailureKind ClassifyFailure(const Status& status);
std::string_view FailureKindName(FailureKind kind);

// Whether the key version can be used now: enabled, nbf (if set) not in the future, exp (if set)
// not in the past. Failures are kFailedPrecondition with a message naming the reason.
Status CheckKeyUsableAt(const KeyInfo& key, std::chrono::system_clock::time_point now);

// True for recovery levels that include purge protection ("Recoverable",
// "CustomizedRecoverable", and their "+ProtectedSubscription" forms); false for any "+Purgeable".
bool RecoveryLevelHasPurgeProtection(std::string_view recovery_level);

// Everything a customer-managed key must satisfy (Azure Database for PostgreSQL's list): usable
// now, RSA or RSA-HSM of 2048/3072/4096 bits, soft delete with purge protection, and key_ops (if
// reported) allowing wrapKey and unwrapKey. The first unmet requirement is returned as
// kFailedPrecondition naming it. `require_purge_protection` = false exists only for tests and
// demonstrations of crypto-shredding (a purgeable key can destroy the server's data).
Status CheckCustomerManagedKeyRequirements(const KeyInfo& key,
                                           std::chrono::system_clock::time_point now,
                                           bool require_purge_protection = true);

}  // namespace pgcmk::kms

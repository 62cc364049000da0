#include "kms/kms_client.h"

#include <algorithm>
#include <ctime>

namespace pgcmk::kms {
namespace {

std::string FormatUnixTime(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

FailureKind ClassifyFailure(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return FailureKind::kNone;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
    case StatusCode::kNotFound:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kConflict:
    case StatusCode::kInvalidArgument:
    case StatusCode::kDataLoss:
    case StatusCode::kAlreadyExists:
    case StatusCode::kUnimplemented:
      return FailureKind::kDefinitive;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kResourceExhausted:
    case StatusCode::kInternal:
    case StatusCode::kIoError:
      return FailureKind::kTransient;
  }
  return FailureKind::kTransient;
}

std::string_view FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNone:
      return "none";
    case FailureKind::kDefinitive:
      return "definitive";
    case FailureKind::kTransient:
      return "transient";
  }
  return "unknown";
}

Status CheckKeyUsableAt(const KeyInfo& key, std::chrono::system_clock::time_point now) {
  const std::int64_t t =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (!key.enabled) {
    return Status(StatusCode::kFailedPrecondition, "key " + key.kid + " is disabled");
  }
  if (key.nbf && *key.nbf > t) {
    return Status(StatusCode::kFailedPrecondition,
                  "key " + key.kid + " is not yet valid (activation date nbf " +
                      FormatUnixTime(*key.nbf) + " is in the future)");
  }
  if (key.exp && *key.exp <= t) {
    return Status(
        StatusCode::kFailedPrecondition,
        "key " + key.kid + " has expired (expiration date exp " + FormatUnixTime(*key.exp) + ")");
  }
  return Status::Ok();
}

bool RecoveryLevelHasPurgeProtection(std::string_view level) {
  return level == "Recoverable" || level == "Recoverable+ProtectedSubscription" ||
         level == "CustomizedRecoverable" || level == "CustomizedRecoverable+ProtectedSubscription";
}

Status CheckCustomerManagedKeyRequirements(const KeyInfo& key,
                                           std::chrono::system_clock::time_point now,
                                           bool require_purge_protection) {
  PGCMK_RETURN_IF_ERROR(CheckKeyUsableAt(key, now));
  if (key.kty != "RSA" && key.kty != "RSA-HSM") {
    return Status(StatusCode::kFailedPrecondition,
                  "key " + key.kid + " has type '" + key.kty +
                      "'; a customer-managed key must be RSA or RSA-HSM");
  }
  if (key.key_size_bits != 2048 && key.key_size_bits != 3072 && key.key_size_bits != 4096) {
    return Status(StatusCode::kFailedPrecondition,
                  "key " + key.kid + " is " + std::to_string(key.key_size_bits) +
                      " bits; a customer-managed key must be RSA 2048, 3072 or 4096");
  }
  if (require_purge_protection && !RecoveryLevelHasPurgeProtection(key.recovery_level)) {
    return Status(StatusCode::kFailedPrecondition,
                  "the vault holding key " + key.kid +
                      " does not have soft delete with purge protection (recoveryLevel '" +
                      key.recovery_level +
                      "'); enable purge protection so the key cannot be purged while in use");
  }
  if (!key.key_ops.empty()) {
    for (std::string_view op : {"wrapKey", "unwrapKey"}) {
      if (std::find(key.key_ops.begin(), key.key_ops.end(), op) == key.key_ops.end()) {
        return Status(
            StatusCode::kFailedPrecondition,
            "key " + key.kid + " does not allow the " + std::string(op) + " operation (key_ops)");
      }
    }
  }
  return Status::Ok();
}

}  // namespace pgcmk::kms

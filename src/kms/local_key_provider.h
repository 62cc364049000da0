// LocalKeyProvider: the system-managed key. A 256-bit AES key held by pgcmk on this host in a file
// of mode 0600 (owned by the service user); the DEK is wrapped with AES-256-GCM under it.
//
// Lower protection than a customer-managed key, and documented as such: whoever can read the key
// file and the server's manifest (root, or the service user) can unwrap the DEK; there is no
// revocation and no audit outside this host. It exists so that `pgcmk server create` without
// --key still encrypts at rest.
//
// Key file: exactly 32 random bytes, mode 0600. Key id: "local:<name>", always version "v1".
// Wrapped layout (version first, then the AesGcm sealed layout):
//   +------+--------------+------------------+----------+
//   | 0x01 | nonce (12 B) | wrapped DEK (n B)| tag 16 B |
//   +------+--------------+------------------+----------+
// Associated data: "pgcmk-local-wrap-v1:" + kid, so a blob cannot be moved to another key id.
#pragma once

#include <filesystem>
#include <string>

#include "kms/kms_client.h"

namespace pgcmk::kms {

class LocalKeyProvider final : public KmsClient {
 public:
  // Generates a new key file (fails with kAlreadyExists if it exists).
  static Result<std::unique_ptr<LocalKeyProvider>> Create(const std::filesystem::path& key_file,
                                                          std::string name);
  // Opens an existing key file; fails if its mode allows group/other access.
  static Result<std::unique_ptr<LocalKeyProvider>> Open(const std::filesystem::path& key_file,
                                                        std::string name);

  std::string kid() const { return "local:" + name_ + "/v1"; }

  Result<KeyInfo> GetKey(std::string_view key_id) override;
  Result<WrappedKey> WrapKey(std::string_view key_id, std::string_view alg,
                             const SecretBytes& key) override;
  Result<SecretBytes> UnwrapKey(std::string_view kid, std::string_view alg,
                                ByteView wrapped) override;

 private:
  LocalKeyProvider(std::string name, SecretBytes key)
      : name_(std::move(name)), key_(std::move(key)) {}
  Status CheckId(std::string_view key_id) const;

  std::string name_;
  SecretBytes key_;
};

inline constexpr std::string_view kLocalWrapAlg = "A256GCM";

}  // namespace pgcmk::kms

// AES-256-GCM with a random 96-bit nonce and a 128-bit tag.
//
// Sealed layout (what Seal returns and Open takes):
//   +----------------+----------------------+-------------+
//   | nonce (12 B)   | ciphertext (n B)     | tag (16 B)  |
//   +----------------+----------------------+-------------+
// The associated data is authenticated but not stored. Budget: at most 2^32 seals per key
// (NIST SP 800-38D random-nonce limit); callers that could exceed it must derive per-object keys.
#pragma once

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::crypto {

class AesGcm {
 public:
  static constexpr size_t kKeySize = 32;
  static constexpr size_t kNonceSize = 12;
  static constexpr size_t kTagSize = 16;
  static constexpr size_t kOverhead = kNonceSize + kTagSize;
  // Longest nonce EncryptWithNonce/DecryptWithNonce accept (OpenSSL 3.0's GCM limit).
  static constexpr size_t kMaxNonceSize = 128;

  static Result<AesGcm> Create(const SecretBytes& key);

  Result<Bytes> Seal(ByteView plaintext, ByteView associated_data) const;
  // Fails with kDataLoss if the tag does not verify (wrong key, wrong AAD or tampering); the error
  // never says which.
  Result<SecretBytes> Open(ByteView sealed, ByteView associated_data) const;

  // Explicit-nonce primitives for known-answer tests and formats that manage nonces themselves.
  // `tag_size` may be 12..16. Never reuse a nonce with the same key.
  Result<Bytes> EncryptWithNonce(ByteView nonce, ByteView plaintext, ByteView associated_data,
                                 Bytes* tag, size_t tag_size = kTagSize) const;
  Result<SecretBytes> DecryptWithNonce(ByteView nonce, ByteView ciphertext,
                                       ByteView associated_data, ByteView tag) const;

 private:
  explicit AesGcm(SecretBytes key) : key_(std::move(key)) {}
  SecretBytes key_;
};

}  // namespace pgcmk::crypto

// Key material of the vault: the master key, keys derived from it, sealing of private keys at
// rest, and the private key of one key version (VaultKeyPair) with the Key Vault algorithms.
//
// Master key file: exactly 32 random bytes, mode 0600, owned by the vault's OS user. Subkeys are
// HKDF-SHA256(master, salt = "", info = label, 32) with one label per purpose (see kLabel*).
//
// Sealed layout (key_versions.sealed_private, token_keys.sealed_private):
//   +------+------------------------------------------------------+
//   | 0x01 | AES-256-GCM sealed: nonce (12) | ciphertext | tag (16) |
//   +------+------------------------------------------------------+
// Associated data binds the sealed bytes to their place: KeyVersionAad(name, version) or
// TokenKeyAad(kid). A blob moved to another key name or version fails to open (kDataLoss).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/aes_gcm.h"
#include "crypto/ec_key.h"
#include "crypto/rsa_key.h"
#include "vault/vault_types.h"

namespace pgcmk::vault {

inline constexpr std::string_view kLabelKeyMaterial = "pgcmk-vault/key-material/v1";
inline constexpr std::string_view kLabelAuditChain = "pgcmk-vault/audit-chain/v1";
inline constexpr std::string_view kLabelBackup = "pgcmk-vault/backup/v1";
inline constexpr std::uint8_t kSealedFormatVersion = 0x01;

class MasterKey {
 public:
  static constexpr size_t kSize = 32;
  // Creates a new random master key in `path` (mode 0600, written durably). Fails with
  // kAlreadyExists if the file exists.
  static Result<MasterKey> CreateFile(const std::filesystem::path& path);
  // Loads the key; fails if the file is not exactly 32 bytes or is readable by group/others.
  static Result<MasterKey> LoadFile(const std::filesystem::path& path);
  static Result<MasterKey> FromSecret(SecretBytes key);  // for tests

  MasterKey(MasterKey&&) noexcept = default;
  MasterKey& operator=(MasterKey&&) noexcept = default;

  Result<SecretBytes> Derive(std::string_view label) const;

 private:
  explicit MasterKey(SecretBytes key) : key_(std::move(key)) {}
  SecretBytes key_;
};

// AES-256-GCM sealing under one derived key, with the version byte above.
class Sealer {
 public:
  static Result<Sealer> Create(const MasterKey& master, std::string_view label);
  Result<Bytes> Seal(const SecretBytes& plaintext, ByteView associated_data) const;
  // kDataLoss on a wrong version byte, tampering or a wrong associated data.
  Result<SecretBytes> Open(ByteView sealed, ByteView associated_data) const;

 private:
  explicit Sealer(crypto::AesGcm aead) : aead_(std::move(aead)) {}
  crypto::AesGcm aead_;
};

Bytes KeyVersionAad(std::string_view name, std::string_view version);  // name lower-cased
Bytes TokenKeyAad(std::string_view kid);

// Key Vault algorithm names.
enum class EncryptionAlgorithm { kRsaOaep, kRsaOaep256, kRsa15 };
enum class SignatureAlgorithm {
  kRs256,
  kRs384,
  kRs512,
  kPs256,
  kPs384,
  kPs512,
  kEs256,
  kEs384,
  kEs512,
  kEs256k
};
// kInvalidArgument "unknown algorithm" for anything else (names are case-sensitive, as Azure's).
Result<EncryptionAlgorithm> ParseEncryptionAlgorithm(std::string_view alg);
Result<SignatureAlgorithm> ParseSignatureAlgorithm(std::string_view alg);
size_t SignatureDigestSize(SignatureAlgorithm alg);

// Private key of one key version. Thread safety: const methods may be called concurrently.
class VaultKeyPair {
 public:
  // kty "RSA" (size 2048/3072/4096, default 2048) or "EC" (crv P-256, P-384, P-521, P-256K;
  // default P-256). HSM key types are rejected with kInvalidArgument.
  static Result<VaultKeyPair> Generate(std::string_view kty, int key_size, std::string_view crv);
  static Result<VaultKeyPair> FromPkcs8(std::string_view kty, const SecretBytes& der);
  static VaultKeyPair FromRsa(crypto::RsaPrivateKey key);
  static VaultKeyPair FromEc(crypto::EcPrivateKey key);

  VaultKeyPair(VaultKeyPair&&) noexcept = default;
  VaultKeyPair& operator=(VaultKeyPair&&) noexcept = default;

  std::string_view kty() const;
  // Fills kty, key_size/crv and the public JWK fields of `v`.
  void FillPublic(KeyVersion* v) const;
  Result<SecretBytes> ToPkcs8() const;

  // kInvalidArgument for an algorithm the key type does not support or a too long input.
  Result<Bytes> Encrypt(EncryptionAlgorithm alg, ByteView plaintext) const;
  Result<SecretBytes> Decrypt(EncryptionAlgorithm alg, ByteView ciphertext) const;
  Result<Bytes> SignDigest(SignatureAlgorithm alg, ByteView digest) const;
  Result<bool> VerifyDigest(SignatureAlgorithm alg, ByteView digest, ByteView signature) const;

 private:
  explicit VaultKeyPair(crypto::RsaPrivateKey rsa) : key_(std::move(rsa)) {}
  explicit VaultKeyPair(crypto::EcPrivateKey ec) : key_(std::move(ec)) {}
  const crypto::RsaPrivateKey* rsa() const { return std::get_if<crypto::RsaPrivateKey>(&key_); }
  const crypto::EcPrivateKey* ec() const { return std::get_if<crypto::EcPrivateKey>(&key_); }
  std::variant<crypto::RsaPrivateKey, crypto::EcPrivateKey> key_;
};

}  // namespace pgcmk::vault

#include "kms/local_key_provider.h"

#include <sys/stat.h>

#include "common/durable_file.h"
#include "crypto/aes_gcm.h"
#include "crypto/random.h"

namespace pgcmk::kms {

Result<std::unique_ptr<LocalKeyProvider>> LocalKeyProvider::Create(
    const std::filesystem::path& key_file, std::string name) {
  std::error_code ec;
  if (std::filesystem::exists(key_file, ec)) {
    return Err(StatusCode::kAlreadyExists, "key file " + key_file.string() + " already exists");
  }
  PGCMK_ASSIGN_OR_RETURN(SecretBytes key, crypto::RandomSecret(crypto::AesGcm::kKeySize));
  if (Status s = WriteFileAtomically(key_file, key.reveal(), 0600); !s.ok()) return Err(s);
  return std::unique_ptr<LocalKeyProvider>(new LocalKeyProvider(std::move(name), std::move(key)));
}

Result<std::unique_ptr<LocalKeyProvider>> LocalKeyProvider::Open(
    const std::filesystem::path& key_file, std::string name) {
  struct stat st {};
  if (::stat(key_file.c_str(), &st) != 0) {
    return Err(Status::FromErrno(errno, "stat " + key_file.string()));
  }
  if ((st.st_mode & 077) != 0) {
    return Err(StatusCode::kFailedPrecondition,
               "system key file " + key_file.string() + " is accessible to group or others");
  }
  PGCMK_ASSIGN_OR_RETURN(SecretBytes key, ReadSecretFile(key_file, 64));
  if (key.size() != crypto::AesGcm::kKeySize) {
    return Err(StatusCode::kDataLoss, "system key file " + key_file.string() + " is corrupt");
  }
  return std::unique_ptr<LocalKeyProvider>(new LocalKeyProvider(std::move(name), std::move(key)));
}

Status LocalKeyProvider::CheckId(std::string_view key_id) const {
  if (key_id != kid() && key_id != "local:" + name_) {
    return Status(StatusCode::kNotFound, "system-managed key " + std::string(key_id) +
                                             " is not this server's key (" + kid() + ")");
  }
  return Status::Ok();
}

Result<KeyInfo> LocalKeyProvider::GetKey(std::string_view key_id) {
  if (Status s = CheckId(key_id); !s.ok()) return Err(s);
  KeyInfo info;
  info.kid = kid();
  info.kty = "oct";
  info.key_size_bits = 256;
  info.enabled = true;
  info.key_ops = {"wrapKey", "unwrapKey"};
  return info;
}

Result<WrappedKey> LocalKeyProvider::WrapKey(std::string_view key_id, std::string_view alg,
                                             const SecretBytes& key) {
  if (Status s = CheckId(key_id); !s.ok()) return Err(s);
  if (alg != kLocalWrapAlg) {
    return Err(StatusCode::kInvalidArgument,
               "the system-managed key wraps with " + std::string(kLocalWrapAlg));
  }
  PGCMK_ASSIGN_OR_RETURN(crypto::AesGcm gcm, crypto::AesGcm::Create(key_));
  const std::string aad = "pgcmk-local-wrap-v1:" + kid();
  PGCMK_ASSIGN_OR_RETURN(Bytes sealed, gcm.Seal(key.reveal(), AsBytes(aad)));
  WrappedKey out;
  out.kid = kid();
  out.wrapped.reserve(sealed.size() + 1);
  out.wrapped.push_back(0x01);
  out.wrapped.insert(out.wrapped.end(), sealed.begin(), sealed.end());
  return out;
}

Result<SecretBytes> LocalKeyProvider::UnwrapKey(std::string_view key_id, std::string_view alg,
                                                ByteView wrapped) {
  if (Status s = CheckId(key_id); !s.ok()) return Err(s);
  if (alg != kLocalWrapAlg) {
    return Err(StatusCode::kInvalidArgument,
               "the system-managed key unwraps with " + std::string(kLocalWrapAlg));
  }
  if (wrapped.empty() || wrapped[0] != 0x01) {
    return Err(StatusCode::kDataLoss, "wrapped DEK has an unknown format version");
  }
  PGCMK_ASSIGN_OR_RETURN(crypto::AesGcm gcm, crypto::AesGcm::Create(key_));
  const std::string aad = "pgcmk-local-wrap-v1:" + kid();
  return gcm.Open(wrapped.subspan(1), AsBytes(aad));
}

}  // namespace pgcmk::kms

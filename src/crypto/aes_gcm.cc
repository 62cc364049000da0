#include "crypto/aes_gcm.h"

#include <openssl/evp.h>

#include <climits>

#include "crypto/openssl_handles.h"
#include "crypto/random.h"

namespace pgcmk::crypto {
namespace {

using internal::CipherCtxPtr;

constexpr size_t kMinTagSize = 12;

bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

}  // namespace

Result<AesGcm> AesGcm::Create(const SecretBytes& key) {
  if (key.size() != kKeySize) {
    return Err(StatusCode::kInvalidArgument, "AES-GCM key must be 32 bytes");
  }
  return AesGcm(key.Clone());
}

Result<Bytes> AesGcm::EncryptWithNonce(ByteView nonce, ByteView plaintext, ByteView associated_data,
                                       Bytes* tag, size_t tag_size) const {
  if (nonce.empty() || nonce.size() > kMaxNonceSize) {
    return Err(StatusCode::kInvalidArgument, "AES-GCM nonce size out of range");
  }
  if (tag == nullptr || tag_size < kMinTagSize || tag_size > kTagSize) {
    return Err(StatusCode::kInvalidArgument, "AES-GCM tag size must be 12..16 bytes");
  }
  if (!FitsInt(plaintext.size()) || !FitsInt(associated_data.size())) {
    return Err(StatusCode::kInvalidArgument, "AES-GCM input too large");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  Bytes out(plaintext.size());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_EncryptInit_ex2(ctx.get(), nullptr, key_.reveal().data(), nonce.data(), nullptr) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "AES-GCM setup failed"));
  }
  if ((!associated_data.empty() &&
       EVP_EncryptUpdate(ctx.get(), nullptr, &len, associated_data.data(),
                         static_cast<int>(associated_data.size())) != 1) ||
      (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(),
                                               static_cast<int>(plaintext.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + plaintext.size(), &len) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "AES-GCM encryption failed"));
  }
  tag->assign(tag_size, 0);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size),
                          tag->data()) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "AES-GCM tag failed"));
  }
  return out;
}

Result<SecretBytes> AesGcm::DecryptWithNonce(ByteView nonce, ByteView ciphertext,
                                             ByteView associated_data, ByteView tag) const {
  if (nonce.empty() || nonce.size() > kMaxNonceSize) {
    return Err(StatusCode::kInvalidArgument, "AES-GCM nonce size out of range");
  }
  if (tag.size() < kMinTagSize || tag.size() > kTagSize) {
    return Err(StatusCode::kInvalidArgument, "AES-GCM tag size must be 12..16 bytes");
  }
  if (!FitsInt(ciphertext.size()) || !FitsInt(associated_data.size())) {
    return Err(StatusCode::kInvalidArgument, "AES-GCM input too large");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_DecryptInit_ex2(ctx.get(), nullptr, key_.reveal().data(), nonce.data(), nullptr) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "AES-GCM setup failed"));
  }
  // Plaintext goes straight into locked memory and is wiped if the tag does not verify.
  SecretBytes out(ciphertext.size());
  int len = 0;
  std::uint8_t tag_copy[kTagSize];
  std::copy(tag.begin(), tag.end(), tag_copy);
  bool ok = (associated_data.empty() ||
             EVP_DecryptUpdate(ctx.get(), nullptr, &len, associated_data.data(),
                               static_cast<int>(associated_data.size())) == 1) &&
            (ciphertext.empty() ||
             EVP_DecryptUpdate(ctx.get(), out.reveal_mutable().data(), &len, ciphertext.data(),
                               static_cast<int>(ciphertext.size())) == 1) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()),
                                tag_copy) == 1;
  std::uint8_t final_block[16];
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), final_block, &len) == 1;
  if (!ok) {
    internal::DiscardOpenSslErrors();
    return Err(StatusCode::kDataLoss, "AES-GCM authentication failed");
  }
  return out;
}

Result<Bytes> AesGcm::Seal(ByteView plaintext, ByteView associated_data) const {
  PGCMK_ASSIGN_OR_RETURN(Bytes nonce, RandomBytes(kNonceSize));
  Bytes tag;
  PGCMK_ASSIGN_OR_RETURN(Bytes ciphertext,
                         EncryptWithNonce(nonce, plaintext, associated_data, &tag));
  Bytes sealed;
  sealed.reserve(kOverhead + ciphertext.size());
  sealed.insert(sealed.end(), nonce.begin(), nonce.end());
  sealed.insert(sealed.end(), ciphertext.begin(), ciphertext.end());
  sealed.insert(sealed.end(), tag.begin(), tag.end());
  return sealed;
}

Result<SecretBytes> AesGcm::Open(ByteView sealed, ByteView associated_data) const {
  if (sealed.size() < kOverhead) {
    return Err(StatusCode::kDataLoss, "AES-GCM authentication failed");
  }
  return DecryptWithNonce(sealed.first(kNonceSize),
                          sealed.subspan(kNonceSize, sealed.size() - kOverhead), associated_data,
                          sealed.last(kTagSize));
}

}  // namespace pgcmk::crypto

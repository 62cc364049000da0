#include "vault/key_material.h"

#include <sys/stat.h>

#include "common/durable_file.h"
#include "common/status.h"
#include "crypto/hkdf.h"
#include "crypto/random.h"

namespace pgcmk::vault {

Result<MasterKey> MasterKey::CreateFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return Err(StatusCode::kAlreadyExists, "master key file " + path.string() + " already exists");
  }
  PGCMK_ASSIGN_OR_RETURN(SecretBytes key, crypto::RandomSecret(kSize));
  PGCMK_RETURN_IF_ERROR(WriteFileAtomically(path, key.reveal(), 0600));
  return MasterKey(std::move(key));
}

Result<MasterKey> MasterKey::LoadFile(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Err(Status::FromErrno(errno, "stat " + path.string()));
  if ((st.st_mode & 077) != 0) {
    return Err(
        StatusCode::kFailedPrecondition,
        "master key file " + path.string() + " is accessible by group or others (chmod 600)");
  }
  PGCMK_ASSIGN_OR_RETURN(SecretBytes key, ReadSecretFile(path, 4096));
  if (key.size() != kSize) {
    return Err(StatusCode::kDataLoss, "master key file " + path.string() + " has the wrong size");
  }
  return MasterKey(std::move(key));
}

Result<MasterKey> MasterKey::FromSecret(SecretBytes key) {
  if (key.size() != kSize) return Err(StatusCode::kInvalidArgument, "master key must be 32 bytes");
  return MasterKey(std::move(key));
}

Result<SecretBytes> MasterKey::Derive(std::string_view label) const {
  return crypto::HkdfSha256(key_, {}, AsBytes(label), 32);
}

Result<Sealer> Sealer::Create(const MasterKey& master, std::string_view label) {
  PGCMK_ASSIGN_OR_RETURN(SecretBytes key, master.Derive(label));
  PGCMK_ASSIGN_OR_RETURN(crypto::AesGcm aead, crypto::AesGcm::Create(key));
  return Sealer(std::move(aead));
}

Result<Bytes> Sealer::Seal(const SecretBytes& plaintext, ByteView associated_data) const {
  PGCMK_ASSIGN_OR_RETURN(Bytes sealed, aead_.Seal(plaintext.reveal(), associated_data));
  Bytes out;
  out.reserve(sealed.size() + 1);
  out.push_back(kSealedFormatVersion);
  out.insert(out.end(), sealed.begin(), sealed.end());
  return out;
}

Result<SecretBytes> Sealer::Open(ByteView sealed, ByteView associated_data) const {
  if (sealed.empty() || sealed[0] != kSealedFormatVersion) {
    return Err(StatusCode::kDataLoss, "sealed blob has an unknown format version");
  }
  return aead_.Open(sealed.subspan(1), associated_data);
}

Bytes KeyVersionAad(std::string_view name, std::string_view version) {
  std::string s = "pgcmk-vault/key-version/v1";
  s.push_back('\0');
  s += ToLower(name);
  s.push_back('\0');
  s += ToLower(version);
  return ToBytes(s);
}

Bytes TokenKeyAad(std::string_view kid) {
  std::string s = "pgcmk-vault/token-key/v1";
  s.push_back('\0');
  s += kid;
  return ToBytes(s);
}

Result<EncryptionAlgorithm> ParseEncryptionAlgorithm(std::string_view alg) {
  if (alg == "RSA-OAEP") return EncryptionAlgorithm::kRsaOaep;
  if (alg == "RSA-OAEP-256") return EncryptionAlgorithm::kRsaOaep256;
  if (alg == "RSA1_5") return EncryptionAlgorithm::kRsa15;
  return Err(StatusCode::kInvalidArgument, "Invalid algorithm '" + std::string(alg.substr(0, 64)) +
                                               "'; expected RSA-OAEP, RSA-OAEP-256 or RSA1_5");
}

Result<SignatureAlgorithm> ParseSignatureAlgorithm(std::string_view alg) {
  using S = SignatureAlgorithm;
  static const std::pair<std::string_view, S> kNames[] = {
      {"RS256", S::kRs256}, {"RS384", S::kRs384},  {"RS512", S::kRs512}, {"PS256", S::kPs256},
      {"PS384", S::kPs384}, {"PS512", S::kPs512},  {"ES256", S::kEs256}, {"ES384", S::kEs384},
      {"ES512", S::kEs512}, {"ES256K", S::kEs256k}};
  for (const auto& [name, value] : kNames) {
    if (alg == name) return value;
  }
  return Err(StatusCode::kInvalidArgument,
             "Invalid algorithm '" + std::string(alg.substr(0, 64)) + "' for sign/verify");
}

size_t SignatureDigestSize(SignatureAlgorithm alg) {
  switch (alg) {
    case SignatureAlgorithm::kRs256:
    case SignatureAlgorithm::kPs256:
    case SignatureAlgorithm::kEs256:
    case SignatureAlgorithm::kEs256k:
      return 32;
    case SignatureAlgorithm::kRs384:
    case SignatureAlgorithm::kPs384:
    case SignatureAlgorithm::kEs384:
      return 48;
    case SignatureAlgorithm::kRs512:
    case SignatureAlgorithm::kPs512:
    case SignatureAlgorithm::kEs512:
      return 64;
  }
  return 0;
}

namespace {
crypto::RsaEncryptionPadding ToPadding(EncryptionAlgorithm alg) {
  switch (alg) {
    case EncryptionAlgorithm::kRsaOaep:
      return crypto::RsaEncryptionPadding::kOaepSha1;
    case EncryptionAlgorithm::kRsaOaep256:
      return crypto::RsaEncryptionPadding::kOaepSha256;
    case EncryptionAlgorithm::kRsa15:
      return crypto::RsaEncryptionPadding::kPkcs1v15;
  }
  return crypto::RsaEncryptionPadding::kOaepSha256;
}

Result<crypto::RsaSignatureScheme> ToRsaScheme(SignatureAlgorithm alg) {
  using S = crypto::RsaSignatureScheme;
  switch (alg) {
    case SignatureAlgorithm::kRs256:
      return S::kPkcs1Sha256;
    case SignatureAlgorithm::kRs384:
      return S::kPkcs1Sha384;
    case SignatureAlgorithm::kRs512:
      return S::kPkcs1Sha512;
    case SignatureAlgorithm::kPs256:
      return S::kPssSha256;
    case SignatureAlgorithm::kPs384:
      return S::kPssSha384;
    case SignatureAlgorithm::kPs512:
      return S::kPssSha512;
    case SignatureAlgorithm::kEs256:
    case SignatureAlgorithm::kEs384:
    case SignatureAlgorithm::kEs512:
    case SignatureAlgorithm::kEs256k:
      break;
  }
  return Err(StatusCode::kInvalidArgument, "Invalid algorithm for an RSA key");
}

Status CheckDigestSize(SignatureAlgorithm alg, ByteView digest) {
  if (digest.size() != SignatureDigestSize(alg)) {
    return Status(StatusCode::kInvalidArgument,
                  "Invalid digest length " + std::to_string(digest.size()) + " for the algorithm");
  }
  return Status::Ok();
}
}  // namespace

Result<VaultKeyPair> VaultKeyPair::Generate(std::string_view kty, int key_size,
                                            std::string_view crv) {
  (void)crv;
  if (kty == "RSA") {
    if (key_size == 0) key_size = 2048;
    if (key_size != 2048 && key_size != 3072 && key_size != 4096) {
      return Err(StatusCode::kInvalidArgument, "Invalid key size " + std::to_string(key_size) +
                                                   "; RSA keys are 2048, 3072 or 4096 bits");
    }
    PGCMK_ASSIGN_OR_RETURN(crypto::RsaPrivateKey rsa, crypto::RsaPrivateKey::Generate(key_size));
    return VaultKeyPair(std::move(rsa));
  }
  if (kty == "RSA-HSM" || kty == "EC-HSM" || kty == "oct-HSM") {
    return Err(StatusCode::kInvalidArgument,
               "The key type " + std::string(kty) +
                   " needs an HSM, and this vault has none; use a software key type (RSA or EC)");
  }
  if (kty == "EC") {
    auto curve = crypto::EcCurveFromJwkName(crv.empty() ? "P-256" : crv);
    if (!curve) {
      return Err(StatusCode::kInvalidArgument, "Invalid curve '" + std::string(crv.substr(0, 16)) +
                                                   "'; EC keys use P-256, P-384, P-521 or P-256K");
    }
    PGCMK_ASSIGN_OR_RETURN(crypto::EcPrivateKey ec, crypto::EcPrivateKey::Generate(*curve));
    return VaultKeyPair(std::move(ec));
  }
  if (kty == "oct") {
    return Err(StatusCode::kInvalidArgument,
               "Symmetric (oct) keys are available on Managed HSM only");
  }
  return Err(StatusCode::kInvalidArgument,
             "Invalid key type '" + std::string(kty.substr(0, 32)) + "'");
}

Result<VaultKeyPair> VaultKeyPair::FromPkcs8(std::string_view kty, const SecretBytes& der) {
  if (kty == "RSA") {
    PGCMK_ASSIGN_OR_RETURN(crypto::RsaPrivateKey rsa, crypto::RsaPrivateKey::FromPkcs8Der(der));
    return VaultKeyPair(std::move(rsa));
  }
  if (kty == "EC") {
    PGCMK_ASSIGN_OR_RETURN(crypto::EcPrivateKey ec, crypto::EcPrivateKey::FromPkcs8Der(der));
    return VaultKeyPair(std::move(ec));
  }
  return Err(StatusCode::kDataLoss, "stored key has unsupported type " + std::string(kty));
}

VaultKeyPair VaultKeyPair::FromEc(crypto::EcPrivateKey key) { return VaultKeyPair(std::move(key)); }

VaultKeyPair VaultKeyPair::FromRsa(crypto::RsaPrivateKey key) {
  return VaultKeyPair(std::move(key));
}

std::string_view VaultKeyPair::kty() const { return rsa() ? "RSA" : "EC"; }

void VaultKeyPair::FillPublic(KeyVersion* v) const {
  if (const auto* r = rsa()) {
    crypto::RsaJwk jwk = r->PublicKey().ToJwk();
    v->kty = "RSA";
    v->key_size = r->bits();
    v->n = std::move(jwk.n);
    v->e = std::move(jwk.e);
    return;
  }
  crypto::EcJwk jwk = ec()->PublicKey().ToJwk();
  v->kty = "EC";
  v->crv = std::string(crypto::EcCurveJwkName(jwk.curve));
  v->x = std::move(jwk.x);
  v->y = std::move(jwk.y);
}

Result<SecretBytes> VaultKeyPair::ToPkcs8() const {
  if (const auto* r = rsa()) return r->ToPkcs8Der();
  return ec()->ToPkcs8Der();
}

Result<Bytes> VaultKeyPair::Encrypt(EncryptionAlgorithm alg, ByteView plaintext) const {
  const auto* r = rsa();
  if (r == nullptr)
    return Err(StatusCode::kInvalidArgument, "EC keys support sign and verify only");
  return r->PublicKey().Encrypt(ToPadding(alg), plaintext);
}

Result<SecretBytes> VaultKeyPair::Decrypt(EncryptionAlgorithm alg, ByteView ciphertext) const {
  const auto* r = rsa();
  if (r == nullptr)
    return Err(StatusCode::kInvalidArgument, "EC keys support sign and verify only");
  return r->Decrypt(ToPadding(alg), ciphertext);
}

namespace {
Result<crypto::EcSignatureAlgorithm> ToEcAlgorithm(SignatureAlgorithm alg, crypto::EcCurve curve) {
  std::optional<crypto::EcSignatureAlgorithm> a;
  switch (alg) {
    case SignatureAlgorithm::kEs256:
      a = crypto::EcSignatureAlgorithm::kEs256;
      break;
    case SignatureAlgorithm::kEs384:
      a = crypto::EcSignatureAlgorithm::kEs384;
      break;
    case SignatureAlgorithm::kEs512:
      a = crypto::EcSignatureAlgorithm::kEs512;
      break;
    case SignatureAlgorithm::kEs256k:
      a = crypto::EcSignatureAlgorithm::kEs256k;
      break;
    case SignatureAlgorithm::kRs256:
    case SignatureAlgorithm::kRs384:
    case SignatureAlgorithm::kRs512:
    case SignatureAlgorithm::kPs256:
    case SignatureAlgorithm::kPs384:
    case SignatureAlgorithm::kPs512:
      break;
  }
  if (!a || crypto::EcCurveFor(*a) != curve) {
    return Err(StatusCode::kInvalidArgument, "Invalid algorithm for this key's curve");
  }
  return *a;
}
}  // namespace

Result<Bytes> VaultKeyPair::SignDigest(SignatureAlgorithm alg, ByteView digest) const {
  PGCMK_RETURN_IF_ERROR(CheckDigestSize(alg, digest));
  if (const auto* r = rsa()) {
    PGCMK_ASSIGN_OR_RETURN(auto scheme, ToRsaScheme(alg));
    return r->SignDigest(scheme, digest);
  }
  PGCMK_ASSIGN_OR_RETURN(auto a, ToEcAlgorithm(alg, ec()->curve()));
  return ec()->SignDigest(a, digest);
}

Result<bool> VaultKeyPair::VerifyDigest(SignatureAlgorithm alg, ByteView digest,
                                        ByteView signature) const {
  PGCMK_RETURN_IF_ERROR(CheckDigestSize(alg, digest));
  Status s;
  if (const auto* r = rsa()) {
    PGCMK_ASSIGN_OR_RETURN(auto scheme, ToRsaScheme(alg));
    s = r->PublicKey().VerifyDigest(scheme, digest, signature);
  } else {
    PGCMK_ASSIGN_OR_RETURN(auto a, ToEcAlgorithm(alg, ec()->curve()));
    s = ec()->PublicKey().VerifyDigest(a, digest, signature);
  }
  if (s.ok()) return true;
  if (s.code() == StatusCode::kInvalidArgument) return false;
  return Err(s);
}

}  // namespace pgcmk::vault

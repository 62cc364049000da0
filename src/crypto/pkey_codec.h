// Internal to the crypto library: EVP_PKEY serialisation shared by rsa_key, ec_key and x509.
// Never included outside src/crypto/.
#pragma once

#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/openssl_handles.h"

namespace pgcmk::crypto::internal {

// Decodes a key from DER or PEM (`input_type` "DER" or "PEM"; any structure OpenSSL knows: SPKI,
// PKCS#8, traditional). `key_type` ("RSA", "EC") restricts the algorithm; nullptr accepts any.
// `selection` is EVP_PKEY_PUBLIC_KEY or EVP_PKEY_KEYPAIR. Fails with kInvalidArgument ("cannot
// parse <what>") on malformed input or trailing bytes; never echoes the input.
Result<PkeyPtr> DecodeKey(ByteView data, const char* input_type, const char* key_type,
                          int selection, std::string_view what);

// A key of `key_type` from the parameters collected in `bld` (which the caller still frees).
// kInvalidArgument ("invalid <what>") if OpenSSL rejects them. Secret bignums pushed with
// BN_FLG_SECURE land in a parameter block that is wiped when freed.
Result<PkeyPtr> KeyFromParams(OSSL_PARAM_BLD* bld, const char* key_type, int selection,
                              std::string_view what);

// PKCS#8 PrivateKeyInfo, "DER" or "PEM", in locked memory; OpenSSL's buffer is wiped.
Result<SecretBytes> EncodePrivateKeyPkcs8(const EVP_PKEY* pkey, const char* output_type);

// SubjectPublicKeyInfo as DER / PEM; empty only on allocation failure.
Bytes PublicKeyDer(const EVP_PKEY* pkey);
std::string PublicKeyPem(const EVP_PKEY* pkey);

// A new key object holding only the public half of `pkey` (so public-key objects never carry
// private material). Falls back to sharing `pkey` only if OpenSSL cannot allocate.
PkeyPtr PublicOnlyCopy(EVP_PKEY* pkey, const char* key_type);

// The digest of `message`; empty only on allocation failure.
Bytes Digest(const EVP_MD* md, ByteView message);

}  // namespace pgcmk::crypto::internal

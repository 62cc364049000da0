// base64url (RFC 4648 section 5). Encoding emits no padding (as Azure Key Vault and JWT do).
// Decoding accepts padded or unpadded base64url and, for interoperability, standard base64
// ('+' and '/'); it rejects any other character, misplaced padding and impossible lengths.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/secret_bytes.h"

namespace pgcmk {

std::string Base64UrlEncode(ByteView data);
std::optional<Bytes> Base64UrlDecode(std::string_view text);
// The same rules, decoding straight into locked memory: for key material that travels as base64url
// (unwrapped keys, JWK private fields, key files), so that no plaintext copy is left in a Bytes
// buffer. The caller still owns (and should wipe) `text`.
std::optional<SecretBytes> Base64UrlDecodeSecret(std::string_view text);

// Standard base64 with padding (for PEM bodies and the like).
std::string Base64Encode(ByteView data);

}  // namespace pgcmk

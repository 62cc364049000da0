// HKDF-SHA256 (RFC 5869). `length` <= 255 * 32.
#pragma once

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::crypto {

Result<SecretBytes> HkdfSha256(const SecretBytes& input_key, ByteView salt, ByteView info,
                               size_t length);

}  // namespace pgcmk::crypto

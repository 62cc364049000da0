// CSPRNG: OpenSSL's RAND_bytes (DRBG seeded from getrandom). Failures are reported, never ignored.
#pragma once

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::crypto {

Status FillRandom(MutableByteView out);
Result<Bytes> RandomBytes(size_t n);
Result<SecretBytes> RandomSecret(size_t n);

}  // namespace pgcmk::crypto

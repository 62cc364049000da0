// HKDF-SHA256 (RFC 5869). `length` <= 255 * 32.
#pragma once

#include <initializer_list>
#include <memory>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::crypto {

Result<SecretBytes> HkdfSha256(const SecretBytes& input_key, ByteView salt, ByteView info,
                               size_t length);

// HKDF-SHA256 with the extract step done once, for a key that is expanded many times (the audit
// chain MAC): Expand(info, out) writes exactly HkdfSha256(input_key, salt, info, out.size()), at
// the cost of one HMAC per 32 bytes of output on a pre-keyed context (no algorithm fetch, no
// re-keying). `info` is given in parts, concatenated. Thread-safe: Expand only reads the keyed
// template. The pseudorandom key lives in OpenSSL's context, which wipes it when freed.
class HkdfSha256Expander {
 public:
  static Result<HkdfSha256Expander> Create(const SecretBytes& input_key, ByteView salt);
  HkdfSha256Expander(HkdfSha256Expander&&) noexcept;
  HkdfSha256Expander& operator=(HkdfSha256Expander&&) noexcept;
  ~HkdfSha256Expander();

  // `out.size()` <= 255 * 32.
  Status Expand(std::initializer_list<ByteView> info, MutableByteView out) const;

 private:
  struct Impl;
  explicit HkdfSha256Expander(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::crypto

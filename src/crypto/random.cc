#include "crypto/random.h"

#include <openssl/rand.h>

#include <algorithm>

#include "crypto/openssl_handles.h"

namespace pgcmk::crypto {

Status FillRandom(MutableByteView out) {
  // RAND_bytes takes an int length; fill in chunks so huge buffers cannot overflow it.
  constexpr size_t kChunk = 1u << 30;
  for (size_t done = 0; done < out.size();) {
    const size_t n = std::min(kChunk, out.size() - done);
    if (RAND_bytes(out.data() + done, static_cast<int>(n)) != 1) {
      return internal::OpenSslError(StatusCode::kInternal, "random generator failed");
    }
    done += n;
  }
  return Status::Ok();
}

Result<Bytes> RandomBytes(size_t n) {
  Bytes out(n);
  if (Status s = FillRandom(out); !s.ok()) return Err(std::move(s));
  return out;
}

Result<SecretBytes> RandomSecret(size_t n) {
  SecretBytes out(n);
  if (Status s = FillRandom(out.reveal_mutable()); !s.ok()) return Err(std::move(s));
  return out;
}

}  // namespace pgcmk::crypto

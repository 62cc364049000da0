// AES-256-XTS over data units, length-preserving, for every length from 0 up.
//
// Key: 64 bytes (two AES-256 keys, which must differ; Create refuses equal halves).
// Tweak: 16 bytes, supplied by the caller (the storage layer puts the data-unit index there).
// A data unit is at most kMaxUnitSize bytes (callers use 4096).
//
// Lengths:
//  - 0: nothing to do.
//  - >= 16: IEEE 1619 XTS with ciphertext stealing for a partial final block (OpenSSL EVP).
//  - 1..15 ("short unit"; OpenSSL refuses XTS here): C = P XOR KS[0..len), where
//        KS = XTS-AES-256-Encrypt(key, tweak', 0^16)  and  tweak' = tweak with bit 7 of byte 15
//        set.
//    Callers guarantee that bit 7 of tweak byte 15 is clear for normal units (the storage layer's
//    unit index never reaches 2^127), so KS is independent of every full-block XTS output. For
//    short units this is enforced (kInvalidArgument); units of 16 bytes or more accept any tweak
//    (the NIST vectors use random ones), so the separation is only enforced on one side: a caller
//    that encrypted a unit of >= 16 bytes under a tweak with the bit set, with the same key, would
//    make that unit's first block share its XEX mask with the short-unit pad of the tweak with the
//    bit clear. Tweaks from XtsTweakForUnit (and EncryptUnits/DecryptUnits) never set it.
//    docs/crypto.md has the scheme's review.
//    What this gives: confidentiality for a single version of the tail; what it does not: two
//    versions of a short tail under the same tweak reveal P1 XOR P2 (XTS itself reveals equality of
//    16-byte blocks across versions), and a flipped ciphertext bit flips the same plaintext bit
//    (XTS garbles the whole block). docs/crypto.md records this trade-off.
//
// Thread safety: const methods may be called from many threads at once (contexts are cached in
// slots owned by the cipher); moving or destroying it while a call runs is not allowed.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::crypto {

using XtsTweak = std::array<std::uint8_t, 16>;

// Tweak for data unit `index`: little-endian 64-bit index in bytes 0..7, zeros after (the
// IEEE 1619 / dm-crypt "plain64" convention).
inline XtsTweak XtsTweakForUnit(std::uint64_t index) {
  XtsTweak t{};
  for (size_t i = 0; i < 8; ++i) t[i] = static_cast<std::uint8_t>(index >> (8 * i));
  return t;
}

class XtsCipher {
 public:
  static constexpr size_t kKeySize = 64;
  static constexpr size_t kMaxUnitSize = 1u << 20;

  static Result<XtsCipher> Create(const SecretBytes& key);

  XtsCipher(XtsCipher&&) noexcept;
  XtsCipher& operator=(XtsCipher&&) noexcept;
  ~XtsCipher();

  // `in` and `out` have equal sizes <= kMaxUnitSize; they may be the same buffer (in place) but
  // must not otherwise overlap.
  Status Encrypt(const XtsTweak& tweak, ByteView in, MutableByteView out) const;
  Status Decrypt(const XtsTweak& tweak, ByteView in, MutableByteView out) const;

  // Consecutive data units in one call: unit k of `in` (bytes [k*unit_size, (k+1)*unit_size)) uses
  // XtsTweakForUnit(first_unit + k); the last unit may be shorter (any length, the rules above
  // apply). Identical output to calling Encrypt/Decrypt unit by unit, with less per-unit overhead.
  // unit_size is 16..kMaxUnitSize; same buffer rules as Encrypt.
  Status EncryptUnits(std::uint64_t first_unit, size_t unit_size, ByteView in,
                      MutableByteView out) const;
  Status DecryptUnits(std::uint64_t first_unit, size_t unit_size, ByteView in,
                      MutableByteView out) const;

 private:
  struct Impl;
  explicit XtsCipher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::crypto

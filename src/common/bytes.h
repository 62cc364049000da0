// Byte vocabulary: Bytes owns non-secret bytes, ByteView borrows any bytes.
// Secret material never lives in Bytes: use SecretBytes (secret_bytes.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgcmk {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;
using MutableByteView = std::span<std::uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsStringView(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Lower-case hex; for identifiers and test output, never for secrets.
std::string ToHex(ByteView bytes);
// Accepts upper or lower case; fails (nullopt-like empty + false) on odd length or bad digits.
bool FromHex(std::string_view hex, Bytes* out);

}  // namespace pgcmk

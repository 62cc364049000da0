#include "common/base64url.h"

#include <array>

namespace pgcmk {
namespace {
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kStdAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Encode(ByteView data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const unsigned v = (unsigned{data[i]} << 16) | (unsigned{data[i + 1]} << 8) | data[i + 2];
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  const size_t rest = data.size() - i;
  if (rest == 1) {
    const unsigned v = unsigned{data[i]} << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    if (pad) out += "==";
  } else if (rest == 2) {
    const unsigned v = (unsigned{data[i]} << 16) | (unsigned{data[i + 1]} << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    if (pad) out += "=";
  }
  return out;
}

constexpr std::array<signed char, 256> MakeDecodeTable() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) {
    t[static_cast<unsigned char>(kUrlAlphabet[i])] = static_cast<signed char>(i);
    t[static_cast<unsigned char>(kStdAlphabet[i])] = static_cast<signed char>(i);
  }
  return t;
}
constexpr auto kDecode = MakeDecodeTable();
}  // namespace

std::string Base64UrlEncode(ByteView data) { return Encode(data, kUrlAlphabet, false); }
std::string Base64Encode(ByteView data) { return Encode(data, kStdAlphabet, true); }

namespace {
// Decodes `text` into `out` (at least DecodedSizeBound(text) bytes); the decoded length, or
// nullopt. On failure `out` may hold a partial result, which the caller discards (and wipes, if
// secret).
std::optional<size_t> DecodeInto(std::string_view text, std::uint8_t* out) {
  // Strip up to two trailing '=' (padding must then complete a 4-character group).
  size_t padding = 0;
  while (!text.empty() && text.back() == '=' && padding < 2) {
    text.remove_suffix(1);
    ++padding;
  }
  if (padding > 0 && (text.size() + padding) % 4 != 0) return std::nullopt;
  if (text.size() % 4 == 1) return std::nullopt;
  size_t n = 0;
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = kDecode[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<std::uint8_t>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero (canonical encoding); otherwise the input was not produced by an
  // encoder and we refuse it rather than silently dropping bits.
  const bool canonical = bits == 0 || (acc & ((1u << bits) - 1)) == 0;
  acc = 0;
  if (!canonical) return std::nullopt;
  return n;
}

size_t DecodedSizeBound(std::string_view text) { return text.size() / 4 * 3 + 2; }
}  // namespace

std::optional<Bytes> Base64UrlDecode(std::string_view text) {
  Bytes out(DecodedSizeBound(text));
  const std::optional<size_t> n = DecodeInto(text, out.data());
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

std::optional<SecretBytes> Base64UrlDecodeSecret(std::string_view text) {
  SecretBytes out(DecodedSizeBound(text));
  const std::optional<size_t> n = DecodeInto(text, out.reveal_mutable().data());
  if (!n) return std::nullopt;  // `out` wipes any partial result
  out.Truncate(*n);
  return out;
}

}  // namespace pgcmk

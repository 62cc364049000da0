// Percent-encoding (RFC 3986 section 2.1) for query parameters and
// application/x-www-form-urlencoded bodies: the unreserved characters (ALPHA, DIGIT, "-", ".",
// "_", "~") pass through, every other byte becomes %XX (upper-case hex). Decoding is the HTTP
// adapter's (vault_http/route.h, PercentDecode).
#pragma once

#include <string>
#include <string_view>

namespace pgcmk {

std::string PercentEncode(std::string_view text);

}  // namespace pgcmk

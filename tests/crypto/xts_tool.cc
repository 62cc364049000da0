// A line-oriented front end to XtsCipher for the differential test (xts_differential.py).
// Each input line is "E|D <key hex> <tweak hex> <data hex>"; each output line is the result in
// hex, or "ERR <status>" on failure. Test-only: keys arrive in plain hex on stdin.
#include <iostream>
#include <sstream>
#include <string>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "crypto/aes_xts.h"

int main() {
  using namespace pgcmk;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string op, key_hex, tweak_hex, data_hex;
    in >> op >> key_hex >> tweak_hex >> data_hex;
    Bytes key_bytes, tweak_bytes, data;
    if (!FromHex(key_hex, &key_bytes) || !FromHex(tweak_hex, &tweak_bytes) ||
        (data_hex != "-" && !FromHex(data_hex, &data)) || tweak_bytes.size() != 16) {
      std::cout << "ERR bad input line" << std::endl;
      continue;
    }
    const SecretBytes key = SecretBytes::CopyFrom(key_bytes);
    SecureZero(key_bytes.data(), key_bytes.size());
    auto cipher = crypto::XtsCipher::Create(key);
    if (!cipher) {
      std::cout << "ERR " << cipher.error().ToString() << std::endl;
      continue;
    }
    crypto::XtsTweak tweak;
    std::copy(tweak_bytes.begin(), tweak_bytes.end(), tweak.begin());
    Bytes out(data.size());
    const Status s =
        op == "E" ? cipher->Encrypt(tweak, data, out) : cipher->Decrypt(tweak, data, out);
    if (!s.ok()) {
      std::cout << "ERR " << s.ToString() << std::endl;
      continue;
    }
    std::cout << (out.empty() ? "-" : ToHex(out)) << '\n';
  }
  return 0;
}

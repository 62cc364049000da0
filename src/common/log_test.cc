#include "common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace pgcmk::log {
namespace {

// Runs `fn` with stderr redirected to a temporary file and returns what it wrote.
template <typename Fn>
std::string CaptureStderr(Fn fn) {
  std::FILE* tmp = std::tmpfile();
  EXPECT_NE(tmp, nullptr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(::fileno(tmp), STDERR_FILENO);
  fn();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

TEST(LogTest, WritesOneLineWithLevelComponentAndMessage) {
  const std::string out = CaptureStderr([] { Warning("vault", "key 'k1' disabled"); });
  EXPECT_NE(out.find(" WARNING vault: key 'k1' disabled\n"), std::string::npos) << out;
  EXPECT_EQ(out.find('\n'), out.size() - 1);
}

TEST(LogTest, ControlCharactersCannotForgeARecord) {
  // A name taken from a request, carrying a line break and a fake record after it.
  const std::string name = "k1\n2026-01-01T00:00:00.000Z INFO vault: unwrap allowed\r\x1b[2J";
  const std::string out = CaptureStderr([&] { Info("vault\n", "unwrap denied for " + name); });
  EXPECT_EQ(out.find('\n'), out.size() - 1) << out;  // still exactly one line
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_NE(out.find("vault\\n: unwrap denied for k1\\n2026-01-01T00:00:00.000Z INFO"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\\r\\x1b[2J\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace pgcmk::log

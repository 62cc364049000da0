#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace pgcmk::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarning:
      return "WARNING";
    case Level::kError:
      return "ERROR";
  }
  return "?";
}

// Messages often carry names that came from requests (key names, paths, identities). Control
// characters are escaped so that such a name can never end the line and forge the next record.
void AppendEscaped(std::string& line, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      line += c;
    } else if (c == '\n') {
      line += "\\n";
    } else if (c == '\r') {
      line += "\\r";
    } else if (c == '\t') {
      line += "\\t";
    } else {
      line += "\\x";
      line += kHex[u >> 4];
      line += kHex[u & 0xf];
    }
  }
}

}  // namespace

void SetLevel(Level level) { g_level.store(level); }
Level GetLevel() { return g_level.load(); }

void Write(Level level, std::string_view component, std::string_view message) {
  if (level < g_level.load(std::memory_order_relaxed)) return;
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line;
  line.reserve(64 + component.size() + message.size());
  line += stamp;
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ ", static_cast<int>(millis));
  line += ms;
  line += LevelName(level);
  line += ' ';
  AppendEscaped(line, component);
  line += ": ";
  AppendEscaped(line, message);
  line += '\n';
  // One write(2) per line keeps lines from concurrent threads whole.
  // Nowhere to report a failed log write; the result is deliberately dropped.
  if (::write(STDERR_FILENO, line.data(), line.size()) < 0) return;
}

}  // namespace pgcmk::log

// Minimal structured logging to stderr: one line per event, "time level component: message".
// Never pass secrets, tokens, plaintext or ciphertext to the logger; SecretBytes cannot be
// formatted, so the type system helps.
#pragma once

#include <string_view>

namespace pgcmk::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLevel(Level level);
Level GetLevel();
void Write(Level level, std::string_view component, std::string_view message);

inline void Debug(std::string_view c, std::string_view m) { Write(Level::kDebug, c, m); }
inline void Info(std::string_view c, std::string_view m) { Write(Level::kInfo, c, m); }
inline void Warning(std::string_view c, std::string_view m) { Write(Level::kWarning, c, m); }
inline void Error(std::string_view c, std::string_view m) { Write(Level::kError, c, m); }

}  // namespace pgcmk::log

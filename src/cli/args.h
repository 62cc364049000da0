// Command-line arguments of one subcommand: positionals plus declared `--name` options.
// Every command declares the options it accepts, so a mistyped option is an error rather than a
// silently ignored word, and numbers are checked whole and in range (never atoi).
//   --name value | --name=value     an option with a value (OptionKind::kValue, kRepeated)
//   --name                          a flag (OptionKind::kFlag); `--name=...` is refused
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgcmk::cli {

enum class OptionKind {
  kValue,     // at most once
  kRepeated,  // any number of times; GetAll returns them in order
  kFlag,      // no value
};

struct OptionSpec {
  std::string_view name;  // without the leading "--"
  OptionKind kind = OptionKind::kValue;
};

class Args {
 public:
  // InvalidArgument naming the offending word for: an undeclared option, a missing value, a value
  // given to a flag, a non-repeatable option given twice.
  static Result<Args> Parse(std::span<const std::string> argv, std::span<const OptionSpec> options);
  static Result<Args> Parse(std::span<const std::string> argv,
                            std::initializer_list<OptionSpec> options) {
    return Parse(argv, std::span<const OptionSpec>(options.begin(), options.size()));
  }

  const std::vector<std::string>& positional() const { return positional_; }
  // Exactly one positional argument (`what` names it in the error), or exactly none.
  Result<std::string> OnePositional(std::string_view what) const;
  Status NoPositional() const;

  bool Has(std::string_view name) const { return values_.contains(std::string(name)); }
  // The value of a value option (the last one of a repeated option).
  std::optional<std::string> Get(std::string_view name) const;
  std::string GetOr(std::string_view name, std::string_view fallback) const;
  std::vector<std::string> GetAll(std::string_view name) const;
  // The option's value as a whole decimal integer in [min, max]; nullopt when absent.
  Result<std::optional<std::int64_t>> GetInt(std::string_view name, std::int64_t min,
                                             std::int64_t max) const;
  // "on" or "off"; nullopt when absent.
  Result<std::optional<bool>> GetOnOff(std::string_view name) const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> values_;  // flags map to {}
};

// A whole decimal integer in [min, max]; the error names `what` (e.g. "--port").
Result<std::int64_t> ParseInteger(std::string_view text, std::string_view what, std::int64_t min,
                                  std::int64_t max);

}  // namespace pgcmk::cli

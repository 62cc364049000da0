#include "cli/args.h"

#include <algorithm>
#include <charconv>

namespace pgcmk::cli {

Result<Args> Args::Parse(std::span<const std::string> argv, std::span<const OptionSpec> options) {
  Args out;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (!word.starts_with("--") || word == "--") {
      out.positional_.push_back(word);
      continue;
    }
    std::string name = word.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    auto spec = std::find_if(options.begin(), options.end(),
                             [&](const OptionSpec& o) { return o.name == name; });
    if (spec == options.end()) {
      return Err(StatusCode::kInvalidArgument, "unknown option --" + name);
    }
    auto& slot = out.values_[name];
    if (spec->kind == OptionKind::kFlag) {
      if (value) return Err(StatusCode::kInvalidArgument, "--" + name + " takes no value");
      continue;
    }
    if (!value) {
      if (i + 1 >= argv.size()) {
        return Err(StatusCode::kInvalidArgument, "--" + name + " needs a value");
      }
      value = argv[++i];
    }
    if (spec->kind == OptionKind::kValue && !slot.empty()) {
      return Err(StatusCode::kInvalidArgument, "--" + name + " is given more than once");
    }
    slot.push_back(std::move(*value));
  }
  return out;
}

Result<std::string> Args::OnePositional(std::string_view what) const {
  if (positional_.size() == 1) return positional_.front();
  if (positional_.empty()) return Err(StatusCode::kInvalidArgument, "missing " + std::string(what));
  return Err(StatusCode::kInvalidArgument,
             "expected one " + std::string(what) + ", got also '" + positional_[1] + "'");
}

Status Args::NoPositional() const {
  if (positional_.empty()) return Status::Ok();
  return Status(StatusCode::kInvalidArgument, "unexpected argument '" + positional_.front() + "'");
}

std::optional<std::string> Args::Get(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Args::GetOr(std::string_view name, std::string_view fallback) const {
  return Get(name).value_or(std::string(fallback));
}

std::vector<std::string> Args::GetAll(std::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

Result<std::optional<std::int64_t>> Args::GetInt(std::string_view name, std::int64_t min,
                                                 std::int64_t max) const {
  auto text = Get(name);
  if (!text) return std::optional<std::int64_t>();
  PGCMK_ASSIGN_OR_RETURN(std::int64_t v, ParseInteger(*text, "--" + std::string(name), min, max));
  return std::optional<std::int64_t>(v);
}

Result<std::optional<bool>> Args::GetOnOff(std::string_view name) const {
  auto text = Get(name);
  if (!text) return std::optional<bool>();
  if (*text == "on" || *text == "off") return std::optional<bool>(*text == "on");
  return Err(StatusCode::kInvalidArgument, "--" + std::string(name) + " takes on or off");
}

Result<std::int64_t> ParseInteger(std::string_view text, std::string_view what, std::int64_t min,
                                  std::int64_t max) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return Err(StatusCode::kInvalidArgument, std::string(what) + " must be an integer from " +
                                                 std::to_string(min) + " to " +
                                                 std::to_string(max));
  }
  return v;
}

}  // namespace pgcmk::cli

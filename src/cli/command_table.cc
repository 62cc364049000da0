#include "cli/command_table.h"

#include <algorithm>
#include <ostream>

namespace pgcmk::cli {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnimplemented:
      return 2;
    case StatusCode::kNotFound:
      return 3;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return 4;
    case StatusCode::kAlreadyExists:
    case StatusCode::kConflict:
    case StatusCode::kFailedPrecondition:
      return 5;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return 6;
    case StatusCode::kDataLoss:
      return 7;
    case StatusCode::kIoError:
    case StatusCode::kResourceExhausted:
      return 8;
    case StatusCode::kInternal:
      return 1;
  }
  return 1;
}

void CommandTable::Add(Command command) { commands_.push_back(std::move(command)); }

namespace {
std::vector<std::string> SplitWords(std::string_view name) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start < name.size()) {
    size_t end = name.find(' ', start);
    if (end == std::string_view::npos) end = name.size();
    words.emplace_back(name.substr(start, end - start));
    start = end + 1;
  }
  return words;
}
}  // namespace

void CommandTable::PrintHelp(std::ostream& out, std::string_view prefix) const {
  out << "pgcmk: PostgreSQL with data encryption at rest under customer-managed keys\n\n"
         "Usage: pgcmk COMMAND [ARGS...] [--output human|json]\n\nCommands:\n";
  std::vector<const Command*> sorted;
  for (const auto& c : commands_) {
    if (c.name.starts_with(prefix)) sorted.push_back(&c);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  for (const Command* c : sorted) {
    std::string synopsis = c->name;
    if (!c->usage.empty()) synopsis += " " + c->usage;
    out << "  " << synopsis << "\n      " << c->summary << "\n";
  }
}

int CommandTable::Dispatch(std::span<const std::string> argv, CommandContext& ctx) const {
  std::vector<std::string> words(argv.begin() + (argv.empty() ? 0 : 1), argv.end());
  // Global options and help requests.
  bool help = words.empty();
  std::vector<std::string> rest;
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == "--help" || words[i] == "-h") {
      help = true;
    } else if (words[i] == "--output" || words[i] == "-o") {
      if (i + 1 >= words.size()) {
        ctx.err << "pgcmk: --output needs a value: human or json\n";
        return 2;
      }
      const std::string& v = words[++i];
      if (v == "json") {
        ctx.format = OutputFormat::kJson;
      } else if (v == "human") {
        ctx.format = OutputFormat::kHuman;
      } else {
        ctx.err << "pgcmk: --output must be human or json, not '" << v << "'\n";
        return 2;
      }
    } else {
      rest.push_back(words[i]);
    }
  }
  if (!rest.empty() && rest[0] == "help") {
    help = true;
    rest.erase(rest.begin());
  }

  const Command* best = nullptr;
  size_t best_len = 0;
  for (const auto& c : commands_) {
    auto name_words = SplitWords(c.name);
    if (name_words.size() > rest.size() || name_words.size() <= best_len) continue;
    if (std::equal(name_words.begin(), name_words.end(), rest.begin())) {
      best = &c;
      best_len = name_words.size();
    }
  }
  if (help) {
    std::string prefix;
    for (const auto& w : rest) prefix += (prefix.empty() ? "" : " ") + w;
    PrintHelp(ctx.out, best ? best->name : prefix);
    return 0;
  }
  if (best == nullptr) {
    ctx.err << "pgcmk: unknown command";
    for (const auto& w : rest) ctx.err << ' ' << w;
    ctx.err << "\nRun 'pgcmk help' for the list of commands.\n";
    return 2;
  }
  std::vector<std::string> args(rest.begin() + static_cast<std::ptrdiff_t>(best_len), rest.end());
  Status status = best->run(args, ctx);
  if (!status.ok()) {
    ctx.err << "pgcmk " << best->name << ": " << status.message() << "\n";
  }
  return ExitCodeFor(status);
}

}  // namespace pgcmk::cli

// The pgcmk command line: a table of subcommands ("vault serve", "server create", ...), each a
// short entry with a one-line summary and a handler. Subsystems register their commands with
// Register*Commands(CommandTable&); main() builds the table and dispatches.
//
// Exit codes are the CLI boundary's translation of Status (ExitCodeFor, one switch):
//   0 ok, 1 internal/other, 2 usage/invalid argument, 3 not found, 4 permission/authentication,
//   5 failed precondition/conflict/already exists, 6 unavailable/timeout, 7 data loss, 8 I/O.
#pragma once

#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgcmk::cli {

enum class OutputFormat { kHuman, kJson };

struct CommandContext {
  std::ostream& out;
  std::ostream& err;
  OutputFormat format = OutputFormat::kHuman;
};

struct Command {
  std::string name;     // words separated by single spaces, e.g. "vault key create"
  std::string usage;    // argument synopsis, e.g. "NAME [--kty RSA] [--size 3072]"
  std::string summary;  // one line
  std::function<Status(std::span<const std::string> args, CommandContext& ctx)> run;
};

int ExitCodeFor(const Status& status);

class CommandTable {
 public:
  void Add(Command command);

  // Finds the longest registered name that prefixes argv[1..], runs it with the remaining words,
  // prints errors to ctx.err as "pgcmk: <message>", and returns the exit code. "help [words...]"
  // and "--help" anywhere print the matching commands. A global "--output json|human" option is
  // accepted anywhere after the command name.
  int Dispatch(std::span<const std::string> argv, CommandContext& ctx) const;

  void PrintHelp(std::ostream& out, std::string_view prefix) const;
  const std::vector<Command>& commands() const { return commands_; }

 private:
  std::vector<Command> commands_;
};

void RegisterVersionCommands(CommandTable& table);
void RegisterVaultCommands(CommandTable& table);   // src/cli/vault_commands.cc (issue 3)
void RegisterFsCommands(CommandTable& table);      // src/cli/fs_commands.cc (issue 4)
void RegisterServerCommands(CommandTable& table);  // src/cli/server_commands.cc (issue 5)

}  // namespace pgcmk::cli

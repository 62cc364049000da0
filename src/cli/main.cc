// pgcmk: one program, many subcommands. main() only builds the command table and dispatches.
#include <iostream>
#include <string>
#include <vector>

#include "cli/command_table.h"

int main(int argc, char** argv) {
  pgcmk::cli::CommandTable table;
  pgcmk::cli::RegisterVersionCommands(table);
  pgcmk::cli::RegisterVaultCommands(table);
  pgcmk::cli::RegisterFsCommands(table);
  pgcmk::cli::RegisterServerCommands(table);
  std::vector<std::string> args(argv, argv + argc);
  pgcmk::cli::CommandContext ctx{std::cout, std::cerr};
  return table.Dispatch(args, ctx);
}

#include <ostream>

#include "cli/command_table.h"
#include "cli/version.h"

namespace pgcmk::cli {

void RegisterVersionCommands(CommandTable& table) {
  table.Add({"version", "", "Print the pgcmk version",
             [](std::span<const std::string> args, CommandContext& ctx) -> Status {
               if (!args.empty())
                 return Status(StatusCode::kInvalidArgument, "version takes no arguments");
               if (ctx.format == OutputFormat::kJson) {
                 ctx.out << "{\"version\":\"" << kVersion << "\"}\n";
               } else {
                 ctx.out << "pgcmk " << kVersion << "\n";
               }
               return Status::Ok();
             }});
}

}  // namespace pgcmk::cli

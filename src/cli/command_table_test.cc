#include "cli/command_table.h"

#include <gtest/gtest.h>

#include <sstream>

namespace pgcmk::cli {
namespace {

struct Harness {
  std::ostringstream out, err;
  CommandContext ctx{out, err};
  CommandTable table;
  std::vector<std::string> seen;
  Harness() {
    table.Add({"vault key create", "NAME", "create a key", [this](auto args, CommandContext&) {
                 seen.assign(args.begin(), args.end());
                 return Status::Ok();
               }});
    table.Add({"vault key", "", "key commands",
               [](auto, CommandContext&) { return Status(StatusCode::kNotFound, "nope"); }});
    RegisterVersionCommands(table);
  }
  int Run(std::vector<std::string> argv) {
    argv.insert(argv.begin(), "pgcmk");
    return table.Dispatch(argv, ctx);
  }
};

TEST(CommandTableTest, DispatchPicksLongestMatchingNameAndPassesTheRest) {
  Harness h;
  EXPECT_EQ(h.Run({"vault", "key", "create", "k1", "--size", "3072"}), 0);
  EXPECT_EQ(h.seen, (std::vector<std::string>{"k1", "--size", "3072"}));
}

TEST(CommandTableTest, ErrorsBecomeExitCodesAndMessages) {
  Harness h;
  EXPECT_EQ(h.Run({"vault", "key"}), 3);
  EXPECT_NE(h.err.str().find("nope"), std::string::npos);
}

TEST(CommandTableTest, UnknownCommandIsAUsageError) {
  Harness h;
  EXPECT_EQ(h.Run({"frobnicate"}), 2);
  EXPECT_NE(h.err.str().find("unknown command frobnicate"), std::string::npos);
}

TEST(CommandTableTest, OutputJsonIsAGlobalOption) {
  Harness h;
  EXPECT_EQ(h.Run({"version", "--output", "json"}), 0);
  EXPECT_EQ(h.out.str().rfind("{\"version\":", 0), 0u);
  EXPECT_EQ(h.Run({"version", "--output", "yaml"}), 2);
}

TEST(CommandTableTest, HelpListsCommandsUnderAPrefix) {
  Harness h;
  EXPECT_EQ(h.Run({"help", "vault"}), 0);
  EXPECT_NE(h.out.str().find("vault key create NAME"), std::string::npos);
  EXPECT_EQ(h.out.str().find("  version"), std::string::npos);
}

TEST(CommandTableTest, EveryStatusCodeHasAnExitCode) {
  EXPECT_EQ(ExitCodeFor(Status::Ok()), 0);
  EXPECT_EQ(ExitCodeFor(Status(StatusCode::kPermissionDenied, "")), 4);
  EXPECT_EQ(ExitCodeFor(Status(StatusCode::kUnavailable, "")), 6);
  EXPECT_EQ(ExitCodeFor(Status(StatusCode::kIoError, "")), 8);
}

}  // namespace
}  // namespace pgcmk::cli

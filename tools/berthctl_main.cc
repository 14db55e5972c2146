// berthctl: the operators' gRPC admin tool. The commands live in
// tools/ctl/ (one module per area, see tools/ctl/commands.h); this file
// only parses the command line and runs the chosen command.
//
// Exit codes (tools/ctl/context.h): 0 ok, 1 not found, 2 usage,
// 3 service unavailable, 5 the operation failed.
#include "CLI/CLI.hpp"
#include "common/version.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"
#include "tools/ctl/commands.h"
#include "tools/ctl/context.h"

int main(int argc, char** argv) {
  using namespace berth::ctl;
  // Library log lines go to stderr: stdout carries the command's table
  // or JSON document alone.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("berthctl"));
  CLI::App app{"berthctl: administer a Berth cluster"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(berth::kBerthVersion));
  Context ctx;
  AddGlobalFlags(app, &ctx);
  AddMetadataCommands(app, &ctx);
  AddStatusCommand(app, &ctx);
  AddAdminCommands(app, &ctx);
  AddUserCommands(app, &ctx);
  AddRepoCommands(app, &ctx);
  AddGcCommands(app, &ctx);
  AddShardCommands(app, &ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version print and exit 0; every other parse error is a
    // usage error (CLI11's own codes are 100+).
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!ctx.action) {
    std::fprintf(stderr, "berthctl: no command given (see --help)\n");
    return kExitUsage;
  }
  return ctx.action();
}

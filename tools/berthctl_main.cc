// berthctl: the operators' gRPC admin tool. The commands live in
// tools/ctl/ (one module per area, see tools/ctl/commands.h); this file
// only parses the command line and runs the chosen command.
//
// Exit codes (tools/ctl/context.h): 0 ok, 1 not found, 2 usage,
// 3 service unavailable, 5 the operation failed.
#include "CLI/CLI.hpp"
#include "tools/ctl/commands.h"
#include "tools/ctl/context.h"

int main(int argc, char** argv) {
  using namespace berth::ctl;
  CLI::App app{"berthctl: administer a Berth cluster"};
  app.require_subcommand(1);
  Context ctx;
  AddGlobalFlags(app, &ctx);
  AddMetadataCommands(app, &ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!ctx.action) {
    std::fprintf(stderr, "berthctl: no command given (see --help)\n");
    return kExitUsage;
  }
  return ctx.action();
}

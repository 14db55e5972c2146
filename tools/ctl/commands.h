// The command modules of berthctl. Each adds its subcommands to the app;
// see context.h for how a subcommand hands its action to main. Register
// actions (OnRun) only on leaf subcommands.
#ifndef BERTH_TOOLS_CTL_COMMANDS_H_
#define BERTH_TOOLS_CTL_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "tools/ctl/context.h"

namespace berth::ctl {

// image ID | image push|pull, repository NAME, status (metadata_cmds.cc).
void AddMetadataCommands(CLI::App& app, Context* ctx);

}  // namespace berth::ctl

#endif  // BERTH_TOOLS_CTL_COMMANDS_H_

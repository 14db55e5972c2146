// The command modules of berthctl. Each adds its subcommands to the app;
// see context.h for how a subcommand hands its action to main. Register
// actions (OnRun) only on leaf subcommands.
#ifndef BERTH_TOOLS_CTL_COMMANDS_H_
#define BERTH_TOOLS_CTL_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "tools/ctl/context.h"

namespace berth::ctl {

// image ID | image push|pull, repository NAME (metadata_cmds.cc).
void AddMetadataCommands(CLI::App& app, Context* ctx);
// status: the whole cluster on one screen (status_cmd.cc).
void AddStatusCommand(CLI::App& app, Context* ctx);
// replicas list|add|remove, checkpoint DIR, secret rotate (admin_cmds.cc).
void AddAdminCommands(CLI::App& app, Context* ctx);
// users list|add|passwd|delete|admin (user_cmds.cc).
void AddUserCommands(CLI::App& app, Context* ctx);
// repos list|delete|private, images show ID (repo_cmds.cc).
void AddRepoCommands(CLI::App& app, Context* ctx);
// gc [--grace D] [--dry-run] (gc_cmds.cc).
void AddGcCommands(CLI::App& app, Context* ctx);
// shards list|add|drain|remove|replication, scrub, repair (shard_cmds.cc).
void AddShardCommands(CLI::App& app, Context* ctx);

}  // namespace berth::ctl

#endif  // BERTH_TOOLS_CTL_COMMANDS_H_

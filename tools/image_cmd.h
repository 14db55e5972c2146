// `berthctl image push ARCHIVE NAME[:TAG]` and `berthctl image pull
// NAME[:TAG] -o ARCHIVE`: the bridge between `docker save` archives and any
// v1 registry (tools/v1client). They talk HTTP to --registry, not gRPC to
// --metadata.
#ifndef BERTH_TOOLS_IMAGE_CMD_H_
#define BERTH_TOOLS_IMAGE_CMD_H_

#include "CLI/CLI.hpp"

namespace berth {

// Adds `push` and `pull` under berthctl's `image` command (whose ID
// argument becomes optional). `json` is berthctl's global --json flag; the
// subcommands accept --json too.
void AddImageCommands(CLI::App* image_cmd, bool* json);

// After parsing: runs push/pull if one was given and returns its exit code
// (0 ok, 1 not found, 2 usage or bad archive, 3 registry unavailable,
// 4 authentication / wrong password, 5 other failure); 2 if `image` got
// neither an ID nor push/pull; -1 if `image ID` should run as before.
int RunImageCommands(CLI::App* image_cmd);

}  // namespace berth

#endif  // BERTH_TOOLS_IMAGE_CMD_H_

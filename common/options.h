// Conventions shared by every Berth binary: CLI11 flags, an optional config
// file (--config, INI/TOML "key = value" lines using the long flag names),
// --log-level, and host:port / data directory checks that fail with one
// clear line.
#ifndef BERTH_COMMON_OPTIONS_H_
#define BERTH_COMMON_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth {

struct CommonOptions {
  std::string log_level = "info";
  std::string config_file;  // expanded by ExpandConfigFile before parsing
};

// Returns `args` (argv as strings) with the options of the file named by
// --config inserted right after the subcommand name(s), so flags given on
// the command line (parsed later) win. INVALID_ARGUMENT for a missing or
// malformed file. Unknown flags in the file are then reported by the
// parser like unknown command-line flags.
absl::StatusOr<std::vector<std::string>> ExpandConfigFile(
    const std::vector<std::string>& args);

// Adds --log-level and --config to `app` and makes the last value of a
// repeated flag win. Call it before adding the command's own options.
void AddCommonOptions(CLI::App* app, CommonOptions* options);

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
};

// Parses "host:port" (port 0..65535; "[::1]:80" for IPv6).
absl::StatusOr<HostPort> ParseHostPort(const std::string& text);

// Checks that `address` can be bound now (bind and release a TCP socket),
// so a server fails with one clear line before it starts anything else.
absl::Status CheckListenable(const HostPort& address);

// Creates `dir` (and parents) if needed and checks that it is a writable
// directory.
absl::Status EnsureDataDir(const std::string& dir);

}  // namespace berth

#endif  // BERTH_COMMON_OPTIONS_H_

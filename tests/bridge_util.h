// Helpers for the bridge tests (berthctl image push|pull): building and
// reading tar archives in memory, gzip, and running berthctl with its
// stdout and stderr captured.
#ifndef BERTH_TESTS_BRIDGE_UTIL_H_
#define BERTH_TESTS_BRIDGE_UTIL_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::testing {

// (name, content) in order; names ending in "/" are directories.
using TarEntries = std::vector<std::pair<std::string, std::string>>;

// A ustar/pax archive of `entries`, written to `path`.
absl::Status WriteTar(const std::string& path, const TarEntries& entries);
// The regular files of the tar archive at `path` (name -> content).
absl::StatusOr<std::map<std::string, std::string>> ReadTar(const std::string& path);
// A tar stream (in memory) holding `files`.
absl::StatusOr<std::string> TarBytes(const TarEntries& files);
std::string Gzip(const std::string& data);
absl::StatusOr<std::string> Gunzip(const std::string& data);

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs RunfilePath("tools/berthctl") with `args`, waiting up to 60 s.
CommandResult RunBerthctl(const std::vector<std::string>& args);

}  // namespace berth::testing

#endif  // BERTH_TESTS_BRIDGE_UTIL_H_

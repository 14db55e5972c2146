// File helpers for the v1 client: whole-file reads/writes, temp dirs,
// recursive removal, and diff ids (sha256 of the uncompressed tar) of layer
// files that may be gzip, bzip2 or xz compressed.
#ifndef BERTH_TOOLS_V1CLIENT_FILES_H_
#define BERTH_TOOLS_V1CLIENT_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::v1client {

absl::StatusOr<std::string> ReadFileToString(const std::string& path);
absl::Status WriteStringToFile(const std::string& path, absl::string_view data);
absl::StatusOr<uint64_t> FileSize(const std::string& path);
bool FileExists(const std::string& path);
// A new directory <parent>/<prefix>XXXXXX (parent default: $TMPDIR or /tmp).
absl::StatusOr<std::string> MakeTempDir(const std::string& prefix,
                                        const std::string& parent = "");
// rm -rf; OK if absent.
absl::Status RemoveAll(const std::string& path);

// "sha256:<hex>" of the layer's tar stream after decompression (gzip via
// zlib, bzip2/xz via libarchive's filters, anything else as is).
absl::StatusOr<std::string> DiffIdOfFile(const std::string& path);

// A path inside `root` for the archive-relative `name`; INVALID_ARGUMENT for
// absolute names or names with ".." components.
absl::StatusOr<std::string> SafeJoin(const std::string& root, absl::string_view name);

}  // namespace berth::v1client

#endif  // BERTH_TOOLS_V1CLIENT_FILES_H_

// Writing a pulled image chain as an archive `docker load` accepts: per
// image <id>/{VERSION,json,layer.tar}, an image config built from the v1
// jsons the way docker's v1 migration did (MakeConfigFromV1Config: the top
// json without id/parent/Size/…, plus rootfs.diff_ids and one history entry
// per layer), manifest.json naming it, and repositories.
//
// The archive is written to a temporary file beside `path` and renamed into
// place only when complete, so a failure never leaves a half-written
// archive at `path`.
#ifndef BERTH_TOOLS_V1CLIENT_ARCHIVE_WRITER_H_
#define BERTH_TOOLS_V1CLIENT_ARCHIVE_WRITER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::v1client {

struct LoadableImage {
  std::string id;
  std::string json;        // the v1 json, written byte for byte
  std::string layer_path;  // written byte for byte as <id>/layer.tar
  std::string diff_id;     // "sha256:…" of the uncompressed layer
};

// The config json docker would make for this chain (base first).
absl::StatusOr<std::string> MakeConfig(const std::vector<LoadableImage>& chain);

// `repo` as docker names it locally (e.g. "busybox", "foo/bar",
// "host:5000/foo/bar"); the chain base first.
absl::Status WriteLoadableArchive(const std::string& path, const std::string& repo,
                                  const std::string& tag,
                                  const std::vector<LoadableImage>& chain);

}  // namespace berth::v1client

#endif  // BERTH_TOOLS_V1CLIENT_ARCHIVE_WRITER_H_

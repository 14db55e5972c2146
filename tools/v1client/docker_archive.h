// Reading `docker save` archives in all three layouts (see
// testdata/docker-save/README.md) as chains of v1 images ready to push:
//  * legacy: <id>/{VERSION,json,layer.tar} + repositories — the jsons are
//    pushed byte for byte;
//  * manifest.json (+ config) — docker 1.10 to 24, and docker >= 25's OCI
//    exports, which carry a manifest.json beside the OCI layout;
//  * a bare OCI layout (index.json, blobs/sha256/...).
// For the config-based layouts the v1 ids and jsons are derived from the
// config (DeriveV1Chain), one v1 image per layer with parents chained, as
// docker's legacy export did; each layer is checked against its diff_id.
//
// The archive is unpacked into a private temporary directory that lives as
// long as the DockerArchive. Not thread-safe.
#ifndef BERTH_TOOLS_V1CLIENT_DOCKER_ARCHIVE_H_
#define BERTH_TOOLS_V1CLIENT_DOCKER_ARCHIVE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::v1client {

struct V1Image {
  std::string id;
  std::string parent;      // "" for the base
  std::string json;        // exact bytes to PUT
  std::string layer_path;  // the layer body on disk (sent as is)
  uint64_t layer_size = 0;
};

struct ArchiveImage {
  std::vector<V1Image> chain;         // base first
  std::vector<std::string> repo_tags;  // "name:tag" as recorded, may be empty
};

enum class ArchiveLayout { kLegacy, kManifest, kOci };
const char* LayoutName(ArchiveLayout layout);

class DockerArchive {
 public:
  // Unpacks `path` under `work_parent` (default $TMPDIR) and parses it.
  // INVALID_ARGUMENT with a clear message for anything that is not a
  // readable docker save archive.
  static absl::StatusOr<std::unique_ptr<DockerArchive>> Open(
      const std::string& path, const std::string& work_parent = "");
  ~DockerArchive();
  DockerArchive(const DockerArchive&) = delete;
  DockerArchive& operator=(const DockerArchive&) = delete;

  ArchiveLayout layout() const { return layout_; }
  const std::vector<ArchiveImage>& images() const { return images_; }

  // The image to push as repo:tag: the only one, or the one recorded under
  // that name; INVALID_ARGUMENT if the choice is ambiguous.
  absl::StatusOr<const ArchiveImage*> Select(const std::string& repo,
                                             const std::string& tag) const;

 private:
  DockerArchive() = default;
  absl::Status Extract(const std::string& path);
  absl::Status ReadLegacy();
  absl::Status ReadManifest();
  absl::Status ReadOci();
  // Config + layer files -> a derived chain appended to images_.
  absl::Status AddConfigImage(const std::string& config_path,
                              const std::vector<std::string>& layer_paths,
                              std::vector<std::string> repo_tags);

  std::string dir_;
  ArchiveLayout layout_ = ArchiveLayout::kLegacy;
  std::vector<ArchiveImage> images_;
};

// The v1 chain docker's legacy export would give an image config
// (one v1 image per diff_id; history entries without empty_layer give each
// one's created/created_by; the top one carries the config without rootfs
// and history). Ids are sha256 of the json without "id" plus the layer's
// chain id, so they are deterministic and distinct for distinct configs.
// Returns the jsons (ids and parents filled in), base first.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> DeriveV1Chain(
    const nlohmann::json& config);

}  // namespace berth::v1client

#endif  // BERTH_TOOLS_V1CLIENT_DOCKER_ARCHIVE_H_

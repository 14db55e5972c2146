// The docker 1.x push (spec §5.2/§5.3) and pull (§5.4/§5.5) sequences over a
// Session, between `docker save` archives and any v1 registry, with the
// optional client-side encryption of §6.
//
// Push and Pull run on the calling thread; the progress callback is called
// from it too.
#ifndef BERTH_TOOLS_V1CLIENT_TRANSFER_H_
#define BERTH_TOOLS_V1CLIENT_TRANSFER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/v1client/docker_archive.h"
#include "tools/v1client/session.h"

namespace berth::v1client {

// NAME[:TAG] -> (name, tag); tag defaults to "latest". Checks the v1 name
// rules (spec §1.7) so a bad name fails before any request.
struct RepoRef {
  std::string name;  // as given: "busybox" or "ns/repo"
  std::string tag;
  // "library/busybox" for one-component names (GET …/tags, §1.6).
  std::string TagsName() const;
};
absl::StatusOr<RepoRef> ParseRepoRef(const std::string& text);

// Called as bytes move: image id, bytes done, total (0 if unknown), and
// true once for the final call of that layer.
using ProgressFn = std::function<void(const std::string& id, uint64_t done,
                                      uint64_t total, bool finished)>;

struct TransferOptions {
  Url registry;
  Credentials login;                    // empty: anonymous
  std::optional<std::string> password;  // encryption password (§6)
  absl::Duration timeout = absl::Seconds(60);
  std::string ca_file;  // https: CA to verify the registry; "" = system CAs
  ProgressFn progress;
};

struct PushOptions : TransferOptions {
  bool encrypt = false;
  uint32_t kdf_iterations = 100000;
  uint32_t chunk_size = 1 << 20;
};

struct ImageReport {
  std::string id;
  uint64_t size = 0;        // layer bytes as stored by the registry
  uint64_t transferred = 0;  // layer bytes moved over the network this run
  bool skipped = false;     // push: already on the registry; pull: reused
  bool encrypted = false;
  bool resumed = false;     // pull: continued with Range
};

struct PushReport {
  std::vector<ImageReport> images;  // base first
  std::vector<std::string> endpoints;
};

absl::StatusOr<PushReport> Push(const ArchiveImage& image, const RepoRef& ref,
                                const PushOptions& options);

struct PullOptions : TransferOptions {
  std::string output;  // archive path
  int retries = 5;     // failed transfers of one layer resumed with Range
  absl::Duration retry_pause = absl::Milliseconds(500);
};

struct PullReport {
  std::vector<ImageReport> images;  // base first
  std::string top_id;
  // Where partial downloads were kept after a transport failure ("" if
  // none); running the same pull again resumes from there.
  std::string kept_partial;
};

// On error the output path is untouched. After a transport failure the
// layers downloaded so far stay in "<output>.partial/" (named in the error)
// and the next Pull to the same output reuses them; any other error removes
// that directory.
absl::StatusOr<PullReport> Pull(const RepoRef& ref, const PullOptions& options);

}  // namespace berth::v1client

#endif  // BERTH_TOOLS_V1CLIENT_TRANSFER_H_

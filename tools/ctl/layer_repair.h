// Repair of layer manifests for berthctl (shards drain, shards remove,
// repair): enumerates the images that have a layer, brings each chunk back
// to R good copies on active shards (blob::Repair) and writes the changed
// shard lists back through UpdateLayerShards, whose apply refuses any
// change to what a layer is. Runs on the calling thread.
#ifndef BERTH_TOOLS_CTL_LAYER_REPAIR_H_
#define BERTH_TOOLS_CTL_LAYER_REPAIR_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "blobstore/blob_client.h"
#include "metadata/metadata_client.h"

namespace berth::ctl {

// Every image id that has a published layer (from the chunk references
// metadata keeps for GC, paged), sorted. Linearizable reads.
absl::StatusOr<std::vector<std::string>> ListLayerImages(
    meta::MetadataClient& metadata);

struct RepairSummary {
  uint64_t images = 0;           // images whose layer was examined
  uint64_t images_updated = 0;   // manifests written back
  uint64_t images_changed = 0;   // re-uploaded meanwhile: left as they are
  uint64_t chunks = 0;           // chunk examinations (per batch)
  uint64_t copies_made = 0;
  uint64_t bad_copies_removed = 0;
  std::set<std::string> under_replicated;  // < R good copies on active shards
  std::set<std::string> lost;              // no good copy anywhere
};

// Repairs the layers of `image_ids` in batches (chunks shared within a
// batch are checked once). `progress(done, total)` is called after each
// batch. UNAVAILABLE when metadata could not be read or written; per-chunk
// trouble goes to the summary.
absl::StatusOr<RepairSummary> RepairImages(
    meta::MetadataClient& metadata, const blob::BlobClient& blobs,
    const std::vector<std::string>& image_ids,
    const std::function<void(size_t, size_t)>& progress = nullptr);

// Images whose manifest names shard `shard_id` for a chunk that has fewer
// than R present copies (StatChunk, right size) on other active shards it
// names: what still needs that shard. Stops after `max_report` entries.
absl::StatusOr<std::vector<std::string>> ChunksNeedingShard(
    meta::MetadataClient& metadata, const blob::BlobClient& blobs,
    const std::string& shard_id, size_t max_report = 20);

}  // namespace berth::ctl

#endif  // BERTH_TOOLS_CTL_LAYER_REPAIR_H_

// Maintenance primitives over a BlobClient's shard map; the admin tool
// drives them. Each runs on the calling thread, one RPC at a time, and
// touches only the shards and chunks it is given.
#ifndef BERTH_BLOBSTORE_MAINTENANCE_H_
#define BERTH_BLOBSTORE_MAINTENANCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "blobstore/blob_client.h"

namespace berth::blob {

struct ScrubOptions {
  // Move corrupt copies aside (so a repair can store good ones).
  bool quarantine = false;
  uint32_t page_size = 1000;
};

struct ScrubReport {
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  std::vector<std::string> corrupt;  // digests, in digest order
  uint64_t quarantined = 0;
};

// Re-hashes every chunk on shard `shard_id` (on the shard itself) and
// lists the corrupt ones. NOT_FOUND for an unknown shard id; a shard error
// ends the scrub with that error.
absl::StatusOr<ScrubReport> ScrubShard(const BlobClient& client,
                                       absl::string_view shard_id,
                                       const ScrubOptions& options = {});

struct RepairOptions {
  // Re-hash each copy on its shard (and quarantine a corrupt one) rather
  // than trusting its presence and size.
  bool verify = true;
};

struct RepairReport {
  uint64_t chunks = 0;             // distinct chunks examined
  uint64_t copies_made = 0;
  uint64_t bad_copies_removed = 0; // corrupt copies quarantined
  std::vector<std::string> under_replicated;  // still < R good copies
  std::vector<std::string> lost;   // no good copy anywhere
};

// Brings every chunk of `manifests` back to R good copies on active
// shards: copies are checked on the shards the chunk is placed on and the
// shards its refs name; missing or corrupt copies on placed shards are
// replaced from a good copy (fetched and verified here). Each ChunkRef's
// shard list is rewritten to the shards holding a good copy, placed shards
// first (a draining shard stays listed until swept). Per-chunk failures go
// to the report; the call itself fails only on bad input.
absl::StatusOr<RepairReport> Repair(const BlobClient& client,
                                    std::vector<LayerManifest>* manifests,
                                    const RepairOptions& options = {});

struct SweepReport {
  uint64_t listed = 0;
  uint64_t deleted = 0;
  uint64_t bytes_deleted = 0;
  uint64_t kept_live = 0;
  uint64_t kept_young = 0;  // written or re-put within the grace period
};

// Deletes the chunks of shard `shard_id` that are not in `live` and were
// last written before now - grace. The shard re-checks the age atomically
// with the delete, so a chunk an upload re-puts meanwhile survives.
absl::StatusOr<SweepReport> SweepShard(
    const BlobClient& client, absl::string_view shard_id,
    const absl::flat_hash_set<std::string>& live, absl::Duration grace,
    absl::Time now = absl::Now());

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_MAINTENANCE_H_

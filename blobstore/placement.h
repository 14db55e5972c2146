// The shard map and rendezvous placement of chunks.
//
// A chunk goes to the R active shards with the highest weighted rendezvous
// scores for its digest, taking at most one shard per zone while there are
// zones left, then the best remaining shards. Pure functions: the same map
// and digest always give the same shards on every machine.
#ifndef BERTH_BLOBSTORE_PLACEMENT_H_
#define BERTH_BLOBSTORE_PLACEMENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::blob {

// active: takes new chunks and serves reads. draining: serves reads, takes
// no new chunks (repair moves its chunks away). down: neither.
enum class ShardState { kActive, kDraining, kDown };

const char* ShardStateName(ShardState state);
absl::StatusOr<ShardState> ParseShardState(absl::string_view name);

struct ShardInfo {
  std::string id;
  std::string address;  // host:port; "" for the in-process shard
  std::string zone;
  double weight = 1.0;  // > 0; a shard with weight 2 gets about twice the chunks
  ShardState state = ShardState::kActive;
};

// Parses "id=host:port[@zone[:weight[:state]]]" items, comma-separated,
// e.g. "s1=10.0.0.1:5002@rack-a,s2=10.0.0.2:5002@rack-b:2:draining". The
// zone defaults to the shard id (every shard its own zone), weight to 1,
// state to active. Ids must be unique.
absl::StatusOr<std::vector<ShardInfo>> ParseShardMap(absl::string_view spec);

// The deterministic 64-bit hash of (shard id, chunk digest).
uint64_t RendezvousHash(absl::string_view shard_id, absl::string_view digest);

// weight / -ln(u) with u = the hash mapped into (0, 1): the highest score
// wins; shard weights scale a shard's share.
double RendezvousScore(const ShardInfo& shard, absl::string_view digest);

// Indexes into `shards` of up to `r` active shards for `digest`, best
// first (fewer if fewer are active).
std::vector<size_t> PlaceChunk(const std::vector<ShardInfo>& shards,
                               absl::string_view digest, size_t r);

// Indexes of every shard that is not down, in the order a reader should
// try them after the ones a manifest names: same zone as `zone` first,
// then by descending score.
std::vector<size_t> ReadPreference(const std::vector<ShardInfo>& shards,
                                   absl::string_view digest,
                                   absl::string_view zone);

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_PLACEMENT_H_

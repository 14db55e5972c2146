// Sizes shared by the shard server and the client library.
#ifndef BERTH_BLOBSTORE_LIMITS_H_
#define BERTH_BLOBSTORE_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace berth::blob {

// Largest piece of chunk data in one gRPC message (well under gRPC's
// default 4 MiB receive limit) and in one ChunkStore::Read sink call.
inline constexpr size_t kPieceSize = 1 << 20;

// Writes declaring a larger chunk are refused, so one bad header cannot
// fill the disk; the client caps its chunk size to this.
inline constexpr uint64_t kMaxChunkSize = 256ull << 20;

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_LIMITS_H_

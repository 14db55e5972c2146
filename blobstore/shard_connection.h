// How the client library talks to one shard: over gRPC (a blobd process,
// GrpcShardConnection) or directly to a ChunkStore in the same process
// (LocalShardConnection, the embedded binding).
//
// Errors: domain errors keep their berth::Reason (CHUNK_NOT_FOUND,
// CHUNK_SIZE_MISMATCH, ...); transport and storage failures keep their
// gRPC/absl code (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ...)
// with the shard id in the message. Implementations are thread-safe.
#ifndef BERTH_BLOBSTORE_SHARD_CONNECTION_H_
#define BERTH_BLOBSTORE_SHARD_CONNECTION_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "blobstore/chunk_store.h"
#include "common/sha256.h"
#include "grpcpp/grpcpp.h"

namespace berth::blob {

struct ListPage {
  std::vector<ChunkEntry> chunks;
  std::string next_start_after;  // "" on the last page
};

// Lets another thread cut a call short: the write pipeline cancels the
// copies of a chunk still being written once the chunk has its write
// quorum and a grace period has passed, so one unreachable shard (a silent
// network cut) cannot hold an upload for a whole RPC deadline.
// Thread-safe. At most one call is registered at a time.
class CallCanceller {
 public:
  // Cancels the registered call, and any call registered later.
  void Cancel();
  bool cancelled() const;
  // For connections: `cancel` (which must not block) runs now if already
  // cancelled, else on Cancel() until Unregister() returns.
  void Register(std::function<void()> cancel);
  void Unregister();

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> cancel_ ABSL_GUARDED_BY(mu_);
};

class ShardConnection {
 public:
  virtual ~ShardConnection() = default;

  // Stores a chunk whose bytes the caller has already hashed to `digest`.
  // A remote shard re-verifies them; the local one trusts the caller (the
  // bytes never left this process). Returns already_present. A call that
  // `canceller` (may be null) cancels ends with CANCELLED.
  virtual absl::StatusOr<bool> PutChunk(absl::string_view request_id,
                                        absl::string_view digest,
                                        absl::string_view data,
                                        absl::Time deadline,
                                        CallCanceller* canceller) = 0;
  absl::StatusOr<bool> PutChunk(absl::string_view request_id,
                                absl::string_view digest,
                                absl::string_view data, absl::Time deadline) {
    return PutChunk(request_id, digest, data, deadline, nullptr);
  }

  // Fetches the whole chunk, which must be `size` bytes, into dst[0, size),
  // feeding every byte to `hasher` in order as it arrives. The caller
  // checks the digest. CHUNK_SIZE_MISMATCH if the stored copy has another
  // size.
  virtual absl::Status GetChunk(absl::string_view digest, uint64_t size,
                                char* dst, Sha256* hasher,
                                absl::Time deadline) = 0;

  // The chunk's size, or CHUNK_NOT_FOUND.
  virtual absl::StatusOr<uint64_t> StatChunk(absl::string_view digest,
                                             absl::Time deadline) = 0;
  virtual absl::StatusOr<ListPage> ListChunks(absl::string_view start_after,
                                              uint32_t limit,
                                              absl::Time deadline) = 0;
  // True if deleted, false if kept (modified after the cutoff).
  virtual absl::StatusOr<bool> DeleteChunk(absl::string_view digest,
                                           int64_t unless_modified_after,
                                           absl::Time deadline) = 0;
  virtual absl::StatusOr<VerifyResult> VerifyChunk(absl::string_view digest,
                                                   bool quarantine,
                                                   absl::Time deadline) = 0;
  virtual absl::StatusOr<StoreCapacity> Capacity(absl::Time deadline) = 0;
};

// A blobd reached through `channel`; `id` names it in errors.
std::shared_ptr<ShardConnection> NewGrpcShardConnection(
    std::string id, std::shared_ptr<grpc::Channel> channel);

// Chunk transfers beyond this many at once share connections.
constexpr int kDefaultShardLanes = 4;

// A blobd at `address`, dialled with `lanes` channels of their own HTTP/2
// connections (chunk transfers take them in turn; grpc_shard.cc), each
// with `args` and a 64 MiB receive limit.
std::shared_ptr<ShardConnection> DialGrpcShard(
    std::string id, const std::string& address,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const grpc::ChannelArguments& args, int lanes = kDefaultShardLanes);

// The in-process shard over `store` (which must outlive the connection).
// PutChunk does not hash again: a chunk is hashed once per process.
std::shared_ptr<ShardConnection> NewLocalShardConnection(std::string id,
                                                         ChunkStore* store);

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_SHARD_CONNECTION_H_

// The Blobstore gRPC service of one shard, over its ChunkStore.
//
// Domain errors (bad digest, mismatch, missing chunk) are answered in the
// response's `error` with gRPC status OK. Storage failures (disk full,
// permission, I/O) end the call with a gRPC error whose code follows the
// errno (RESOURCE_EXHAUSTED, PERMISSION_DENIED, INTERNAL) and whose message
// names the shard and the failed operation; see proto/blobstore.proto.
// Handlers run on gRPC's sync-server threads; the service holds no state
// of its own besides the store, which is thread-safe.
#ifndef BERTH_BLOBSTORE_BLOB_SERVICE_H_
#define BERTH_BLOBSTORE_BLOB_SERVICE_H_

#include <string>

#include "blobstore/chunk_store.h"
#include "proto/blobstore.grpc.pb.h"

namespace berth::blob {

class BlobService final : public Blobstore::Service {
 public:
  // `store` must outlive the service. `shard_id` prefixes error messages.
  explicit BlobService(ChunkStore* store, std::string shard_id = "")
      : store_(store), shard_id_(std::move(shard_id)) {}

  grpc::Status PutChunk(grpc::ServerContext* context,
                        grpc::ServerReader<PutChunkRequest>* reader,
                        PutChunkResponse* response) override;
  grpc::Status GetChunk(grpc::ServerContext* context,
                        const GetChunkRequest* request,
                        grpc::ServerWriter<GetChunkResponse>* writer) override;
  grpc::Status StatChunk(grpc::ServerContext* context,
                         const StatChunkRequest* request,
                         StatChunkResponse* response) override;
  grpc::Status ListChunks(grpc::ServerContext* context,
                          const ListChunksRequest* request,
                          ListChunksResponse* response) override;
  grpc::Status DeleteChunk(grpc::ServerContext* context,
                           const DeleteChunkRequest* request,
                           DeleteChunkResponse* response) override;
  grpc::Status VerifyChunk(grpc::ServerContext* context,
                           const VerifyChunkRequest* request,
                           VerifyChunkResponse* response) override;
  grpc::Status Capacity(grpc::ServerContext* context,
                        const CapacityRequest* request,
                        CapacityResponse* response) override;

 private:
  // OK after putting a domain error into `error`; a gRPC error for a
  // storage failure.
  grpc::Status Answer(const absl::Status& status, const char* rpc,
                      berth::Error* error) const;

  ChunkStore* const store_;
  const std::string shard_id_;
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_BLOB_SERVICE_H_

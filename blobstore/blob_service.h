// The Blobstore gRPC service of one shard, over its ChunkStore.
//
// Domain errors (bad digest, mismatch, missing chunk, disk errors) are
// answered in the response's `error` with gRPC status OK; the gRPC status
// carries only transport-level outcomes (e.g. CANCELLED). Handlers run on
// gRPC's sync-server threads; the service holds no state of its own besides
// the store, which is thread-safe.
#ifndef BERTH_BLOBSTORE_BLOB_SERVICE_H_
#define BERTH_BLOBSTORE_BLOB_SERVICE_H_

#include "blobstore/chunk_store.h"
#include "proto/blobstore.grpc.pb.h"

namespace berth::blob {

class BlobService final : public Blobstore::Service {
 public:
  // `store` must outlive the service.
  explicit BlobService(ChunkStore* store) : store_(store) {}

  grpc::Status PutChunk(grpc::ServerContext* context,
                        grpc::ServerReader<PutChunkRequest>* reader,
                        PutChunkResponse* response) override;
  grpc::Status GetChunk(grpc::ServerContext* context,
                        const GetChunkRequest* request,
                        grpc::ServerWriter<GetChunkResponse>* writer) override;
  grpc::Status StatChunk(grpc::ServerContext* context,
                         const StatChunkRequest* request,
                         StatChunkResponse* response) override;

 private:
  ChunkStore* const store_;
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_BLOB_SERVICE_H_

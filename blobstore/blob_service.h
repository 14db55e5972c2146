// The Blobstore gRPC service of one shard, over its ChunkStore.
//
// Domain errors (bad digest, mismatch, missing chunk) are answered in the
// response's `error` with gRPC status OK. Storage failures (disk full,
// permission, I/O) end the call with a gRPC error whose code follows the
// errno (RESOURCE_EXHAUSTED, PERMISSION_DENIED, INTERNAL) and whose message
// names the shard and the failed operation; see proto/blobstore.proto.
// Handlers run on gRPC's sync-server threads; the service holds no state
// of its own besides the store and a pool of read buffers, both
// thread-safe.
//
// GetChunk is served raw: each data message is a few header bytes plus the
// piece pread() into a pooled buffer that becomes the message's second
// gRPC slice, so a piece is copied once from the page cache and once into
// the socket, never by protobuf (chunk_wire.h; the wire format is the
// proto's). Memory: a GetChunk stream holds the piece being read plus the
// pieces gRPC has not yet sent (flow control bounds those); at most
// kIdleReadBuffers pieces stay pooled while idle.
#ifndef BERTH_BLOBSTORE_BLOB_SERVICE_H_
#define BERTH_BLOBSTORE_BLOB_SERVICE_H_

#include <memory>
#include <string>

#include "blobstore/buffer_pool.h"
#include "blobstore/chunk_store.h"
#include "grpcpp/support/byte_buffer.h"
#include "proto/blobstore.grpc.pb.h"

namespace berth::blob {

class BlobService final : public Blobstore::Service {
 public:
  // `store` must outlive the service. `shard_id` prefixes error messages.
  explicit BlobService(ChunkStore* store, std::string shard_id = "");

  // Read buffers (kPieceSize each) kept for reuse between GetChunk pieces.
  static constexpr size_t kIdleReadBuffers = 16;

  grpc::Status PutChunk(grpc::ServerContext* context,
                        grpc::ServerReader<PutChunkRequest>* reader,
                        PutChunkResponse* response) override;
  // GetChunk, registered in place of the generated handler: reads the one
  // request, then writes raw GetChunkResponse messages.
  grpc::Status RawGetChunk(
      grpc::ServerContext* context,
      grpc::ServerSplitStreamer<GetChunkRequest, grpc::ByteBuffer>* stream);
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
  const std::shared_ptr<BufferPool> read_buffers_;
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_BLOB_SERVICE_H_

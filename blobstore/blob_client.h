// The blobstore client library: splits a layer into chunks on write, and
// reads a layer back verifying every chunk before handing on a byte.
//
// It never talks to metadata: the caller hands it the shards and keeps the
// LayerManifest. For now every chunk goes to shards[0]; placement across
// shards and write quorum come later.
//
// Thread-safety: BlobClient is safe to share; each LayerWriter has one owner.
#ifndef BERTH_BLOBSTORE_BLOB_CLIENT_H_
#define BERTH_BLOBSTORE_BLOB_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/sha256.h"
#include "grpcpp/grpcpp.h"
#include "proto/blobstore.grpc.pb.h"

namespace berth::blob {

struct Shard {
  std::string id;
  std::shared_ptr<grpc::Channel> channel;
};

struct BlobClientOptions {
  uint64_t chunk_size = 8 << 20;
  // Deadline of one chunk RPC (a PutChunk or GetChunk of a whole chunk).
  absl::Duration rpc_timeout = absl::Seconds(60);
};

class BlobClient;

// Writes one layer. Memory is bounded by one chunk. The BlobClient must
// outlive its writers.
class LayerWriter {
 public:
  LayerWriter(const LayerWriter&) = delete;
  LayerWriter& operator=(const LayerWriter&) = delete;

  // Appends layer bytes; stores each chunk as it fills. After an error the
  // writer is failed and every later call returns that error.
  absl::Status Write(absl::string_view data);

  // Stores the last partial chunk and returns the manifest. An empty layer
  // has no chunks and total_size 0.
  absl::StatusOr<LayerManifest> Finish();

  // Drops the layer. Chunks already stored stay until garbage collection.
  void Abort();

 private:
  friend class BlobClient;
  LayerWriter(const BlobClient* client, std::string request_id);
  absl::Status FlushChunk();

  const BlobClient* const client_;
  const std::string request_id_;
  std::string buffer_;  // The current chunk, at most chunk_size bytes.
  Sha256 hasher_;       // Hash of buffer_, updated as bytes arrive.
  LayerManifest manifest_;
  absl::Status status_;  // First error; FAILED_PRECONDITION once finished.
};

class BlobClient {
 public:
  BlobClient(std::vector<Shard> shards, BlobClientOptions opts = {});

  std::unique_ptr<LayerWriter> NewLayerWriter(const std::string& request_id);

  // Hands bytes [offset, offset+length) of the layer (length 0 = to the
  // end) to `sink` in order. Each chunk overlapping the range is fetched
  // whole and its size and sha256 checked against `m` before any of its
  // bytes reach `sink`; a mismatch is DATA_LOSS. A range outside the layer
  // is OUT_OF_RANGE. Stops at and returns the first sink error.
  absl::Status ReadLayer(
      const LayerManifest& m, uint64_t offset, uint64_t length,
      const std::function<absl::Status(absl::string_view)>& sink) const;

  // Stores one chunk on `shard` (index into shards). Returns
  // already_present. Domain errors come back with their berth::Reason.
  absl::StatusOr<bool> PutChunk(size_t shard, const std::string& request_id,
                                absl::string_view digest,
                                absl::string_view data) const;

  const std::vector<Shard>& shards() const { return shards_; }
  const BlobClientOptions& options() const { return opts_; }

 private:
  struct Stub {
    std::string id;
    std::unique_ptr<Blobstore::Stub> stub;
  };
  // Fetches chunk `ref` whole into `out` and verifies it.
  absl::Status FetchChunk(const ChunkRef& ref, std::string* out) const;

  std::vector<Shard> shards_;
  std::vector<Stub> stubs_;
  BlobClientOptions opts_;
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_BLOB_CLIENT_H_

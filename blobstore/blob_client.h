// The blobstore client library: places, replicates and verifies layer
// chunks across the shards of a shard map the caller hands in (it never
// talks to metadata), and reads layers back verifying every chunk before a
// byte of it is handed on.
//
// Writes (LayerWriter): the caller's bytes are cut into chunks; each chunk
// is hashed on the hash pool, then written to its R placed shards at once
// on the I/O pool (every remote shard re-verifies its copy while the next
// chunks are hashed and sent). A bounded window of chunk buffers
// (upload_window_bytes) caps memory per upload whatever the layer size. A
// chunk is stored once W shards acked it; fewer than R acks is reported
// for repair.
//
// Reads (ReadLayer): chunks are fetched with read-ahead on the I/O pool,
// trying the shards the manifest names first (same zone first), then the
// other shards; each copy is verified once; a missing, short, corrupt,
// failing or slow copy is reported and the next replica tried.
//
// Threads: BlobClient owns a hash pool and an I/O pool (worker_pool.h);
// their tasks never wait for each other. BlobClient is thread-safe; each
// LayerWriter has one owner thread. Callbacks in the options run on pool
// threads.
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
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "blobstore/buffer_pool.h"
#include "blobstore/placement.h"
#include "blobstore/shard_connection.h"
#include "proto/blobstore.pb.h"

namespace berth::blob {

struct Shard {
  ShardInfo info;
  std::shared_ptr<ShardConnection> conn;
};

// A copy of a chunk a read found bad (or could not get).
struct BadCopy {
  enum Kind { kCorrupt, kMissing, kUnavailable };
  std::string shard;
  std::string digest;
  Kind kind = kUnavailable;
  std::string detail;
};
const char* BadCopyKindName(BadCopy::Kind kind);

struct BlobClientOptions {
  uint64_t chunk_size = 8 << 20;
  // Copies per chunk and acks needed. Clamped to the number of active
  // shards in the map (a one-shard map stores one copy).
  int replicas = 3;
  int write_quorum = 2;
  // This client's zone: reads try same-zone replicas first.
  std::string zone;
  // Deadline of one chunk RPC (a PutChunk or GetChunk of a whole chunk).
  absl::Duration rpc_timeout = absl::Seconds(60);
  // Once W copies of a chunk acked, the other copies get this long (plus
  // 4x the time the quorum took) before they are cancelled and the chunk
  // reported under-replicated. A shard whose put was cancelled, timed out
  // or was unreachable is skipped for `suspect_period` while the other
  // placed shards still make W.
  absl::Duration straggler_grace = absl::Seconds(2);
  absl::Duration suspect_period = absl::Seconds(10);
  // A chunk read from a copy that is not the last one left to try gets at
  // most this long (the last copy gets rpc_timeout): a shard behind a
  // silent network cut costs the first read that meets it this long, not
  // a whole rpc_timeout, before the next copy is tried (and the shard is
  // then suspected). 10 s is an 8 MiB chunk at 0.8 MB/s.
  absl::Duration read_attempt_timeout = absl::Seconds(10);
  // Chunk buffers per upload: max(1, upload_window_bytes / chunk_size).
  uint64_t upload_window_bytes = 32 << 20;
  // Chunks fetched ahead per read: max(1, read_ahead_bytes / chunk_size).
  // Memory per read: that many chunk buffers plus the one being handed to
  // the sink, i.e. (max(1, read_ahead_bytes / chunk_size) + 1) * chunk_size
  // (40 MiB with the defaults), plus gRPC's receive buffers (bounded by its
  // flow-control windows). The client keeps up to that many buffers idle
  // for later reads (the same bound, once per client, not per read).
  uint64_t read_ahead_bytes = 32 << 20;
  int hash_threads = 0;  // 0 = hardware concurrency
  int io_threads = 32;
  // Called (on pool threads) for each bad copy a read meets and for each
  // chunk an upload stored on fewer than R shards.
  std::function<void(const BadCopy&)> on_bad_copy;
  std::function<void(const ChunkRef&)> on_under_replicated;
};

struct ReadReport {
  std::vector<BadCopy> bad_copies;
};

class BlobClient;
struct UploadState;

// Writes one layer. Memory is bounded by the upload window. The BlobClient
// must outlive its writers.
class LayerWriter {
 public:
  ~LayerWriter();  // Aborts an unfinished layer.
  LayerWriter(const LayerWriter&) = delete;
  LayerWriter& operator=(const LayerWriter&) = delete;

  // Appends layer bytes; full chunks are sent on. Blocks while the window
  // is full. After an error the writer is failed and every later call
  // returns that error.
  absl::Status Write(absl::string_view data);

  // Sends the last partial chunk, waits for every chunk and returns the
  // manifest (each ChunkRef lists the shards that acked it). An empty
  // layer has no chunks. If any chunk missed its write quorum: an error
  // (UNAVAILABLE, or the shards' error) and no manifest.
  absl::StatusOr<LayerManifest> Finish();

  // Drops the layer. Chunks already stored stay until a sweep. In-flight
  // chunk writes finish in the background.
  void Abort();

  // Chunks of the finished layer stored on fewer than R shards.
  std::vector<ChunkRef> under_replicated() const;

 private:
  friend class BlobClient;
  LayerWriter(const BlobClient* client, std::string request_id);
  absl::Status SendFilled();

  const BlobClient* const client_;
  std::string request_id_;
  std::shared_ptr<UploadState> state_;
  std::unique_ptr<std::string> filling_;  // The chunk being filled.
  uint64_t next_index_ = 0;
  uint64_t total_size_ = 0;
  bool done_ = false;
  absl::Status status_;  // The caller thread's copy of the first error.
};

class BlobClient {
 public:
  BlobClient(std::vector<Shard> shards, BlobClientOptions opts = {});
  ~BlobClient();  // Waits for background chunk tasks.
  BlobClient(const BlobClient&) = delete;
  BlobClient& operator=(const BlobClient&) = delete;

  std::unique_ptr<LayerWriter> NewLayerWriter(const std::string& request_id);

  // Hands bytes [offset, offset+length) of the layer (length 0 = to the
  // end) to `sink` in order. Each chunk overlapping the range is fetched
  // whole and its size and sha256 checked against `m` before any of its
  // bytes reach `sink`. No good copy: CHUNK_NOT_FOUND if every shard said
  // not found, DATA_LOSS if a copy was corrupt, else the last error. A
  // range outside the layer is OUT_OF_RANGE. Stops at and returns the
  // first sink error. Bad copies met are logged, passed to on_bad_copy
  // and, if `report` is set, listed there.
  absl::Status ReadLayer(
      const LayerManifest& m, uint64_t offset, uint64_t length,
      const std::function<absl::Status(absl::string_view)>& sink,
      ReadReport* report = nullptr) const;

  // Fetches one whole chunk into `out`, verified, trying replicas in read
  // order; appends bad copies to `bad` (may be null).
  absl::Status FetchChunk(const ChunkRef& ref, std::string* out,
                          std::vector<BadCopy>* bad) const;

  // Stores one chunk on shard `index` (the bytes must hash to `digest`).
  // Returns already_present.
  absl::StatusOr<bool> PutChunk(size_t index, const std::string& request_id,
                                absl::string_view digest,
                                absl::string_view data) const;

  // Indexes of the shards chunk `digest` belongs on (PlaceChunk with the
  // effective R).
  std::vector<size_t> Place(absl::string_view digest) const;
  // The index of shard `id`, or -1.
  int IndexOf(absl::string_view id) const;
  // Shard indexes to try for `ref`, in order: the shards the manifest
  // names (same zone first), then the others; suspected shards last.
  std::vector<size_t> ReadOrder(const ChunkRef& ref) const;

  // Whether shard `index` failed, timed out or straggled (a put, or a read
  // that timed out or found it unavailable) within the last
  // suspect_period (see straggler_grace). Thread-safe.
  bool Suspected(size_t index) const;
  void MarkSuspected(size_t index) const;

  size_t replicas() const { return replicas_; }
  size_t write_quorum() const { return write_quorum_; }
  absl::Time Deadline() const { return absl::Now() + opts_.rpc_timeout; }
  const std::vector<Shard>& shards() const { return shards_; }
  const std::vector<ShardInfo>& shard_map() const { return infos_; }
  const BlobClientOptions& options() const { return opts_; }

  class WorkerPools;  // Internal (client_internal.h).

 private:
  friend class LayerWriter;
  friend class LayerWriterAccess;

  // Fetches chunk `ref` into dst[0, ref.size()) and verifies it.
  absl::Status FetchInto(const ChunkRef& ref, char* dst,
                         std::vector<BadCopy>* bad) const;

  std::vector<Shard> shards_;
  std::vector<ShardInfo> infos_;
  BlobClientOptions opts_;
  // Chunk buffers of reads, reused across ReadLayer calls (see
  // read_ahead_bytes for the bound).
  std::shared_ptr<BufferPool> read_buffers_;
  size_t replicas_ = 1;
  size_t write_quorum_ = 1;
  mutable absl::Mutex suspect_mu_;
  // Per shard index: skip new puts to it until then.
  mutable std::vector<absl::Time> suspect_until_ ABSL_GUARDED_BY(suspect_mu_);
  // Last member: destroyed first, so queued tasks still see the shards.
  std::unique_ptr<WorkerPools> pools_;
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_BLOB_CLIENT_H_

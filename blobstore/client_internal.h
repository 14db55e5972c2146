// Internals shared by blob_client.cc and layer_writer.cc.
#ifndef BERTH_BLOBSTORE_CLIENT_INTERNAL_H_
#define BERTH_BLOBSTORE_CLIENT_INTERNAL_H_

#include "blobstore/blob_client.h"
#include "blobstore/worker_pool.h"

namespace berth::blob {

// hash: CPU-bound chunk hashing. io: blocking shard RPCs (each task holds
// one thread for one RPC). Neither pool's tasks wait for the other's.
class BlobClient::WorkerPools {
 public:
  WorkerPools(int hash_threads, int io_threads)
      : io(io_threads), hash(hash_threads) {}
  // Cancels straggling chunk puts; declared first so it outlives `io`
  // (draining io may need it to cut a straggler short).
  Timer timer;
  // Declared so that `hash` drains first: its tasks submit to `io`.
  WorkerPool io;
  WorkerPool hash;
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_CLIENT_INTERNAL_H_

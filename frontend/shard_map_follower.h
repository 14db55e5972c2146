// How a frontend follows the cluster's shard map kept in metadata
// (ClusterConfig.shards, versioned by shard_map_version).
//
// BlobClientHolder hands out the current BlobClient as a shared_ptr: a
// request takes one at its start and keeps it to its end, so an upload or
// a read in flight finishes on the client (and shard map) it began with
// while new requests get the new one; the old client is destroyed when the
// last such request lets go of it.
//
// ShardMapFollower re-reads the config every `interval` (stale-ok read)
// and, when a newer map version with at least one active shard appears,
// dials its shards and swaps a new BlobClient into the holder. Until
// metadata has a map (version 0), the seed client built from --blobd
// stays. Draining shards get no new chunks but are read; down shards are
// not used (BlobClient's placement rules).
//
// Threads: the follower owns one polling thread, started by Start() and
// joined by Stop() or the destructor. The holder is thread-safe.
#ifndef BERTH_FRONTEND_SHARD_MAP_FOLLOWER_H_
#define BERTH_FRONTEND_SHARD_MAP_FOLLOWER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "blobstore/blob_client.h"
#include "common/tls.h"
#include "metadata/metadata_client.h"

namespace berth::frontend {

class BlobClientHolder {
 public:
  explicit BlobClientHolder(std::shared_ptr<blob::BlobClient> client)
      : client_(std::move(client)) {}
  std::shared_ptr<blob::BlobClient> Get() const {
    absl::MutexLock lock(&mu_);
    return client_;
  }
  void Set(std::shared_ptr<blob::BlobClient> client) {
    absl::MutexLock lock(&mu_);
    client_.swap(client);
    // The previous client (now in `client`) is released outside the lock
    // by this scope's end; its last user may be a request still running.
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<blob::BlobClient> client_;
};

struct ShardMapFollowerOptions {
  // Chunk size, zone, pools...; replicas/write_quorum are the fallbacks
  // used when ClusterConfig leaves R/W at 0.
  blob::BlobClientOptions blob_options;
  absl::Duration interval = absl::Seconds(2);
  tls::ChannelSecurity security;  // of the blobd channels (default insecure)
  // Called with every config a poll reads (on the polling thread, or
  // Start's caller for the first poll); optional.
  std::function<void(const meta::ClusterConfig&)> on_config;
  // Called with the version after a new map's client was swapped in (on
  // the same thread as on_config); optional. The frontend reports at once
  // then, so `berthctl shards drain` sees the adoption.
  std::function<void(uint64_t version)> on_adopted;
};

class ShardMapFollower {
 public:
  // `metadata` and `holder` must outlive the follower.
  ShardMapFollower(meta::MetadataClient* metadata, BlobClientHolder* holder,
                   ShardMapFollowerOptions options);
  ~ShardMapFollower();  // Stop()

  // One poll: true when a new client was swapped in, false when nothing
  // changed (same version, no map yet, or a map without active shards,
  // which is logged and ignored). An error when metadata did not answer.
  absl::StatusOr<bool> PollOnce();
  void Start();
  void Stop();
  // The map version the current client was built from (0 = the seed).
  // A refused map (no active shard) does not change it.
  uint64_t version() const;

 private:
  meta::MetadataClient* const metadata_;
  BlobClientHolder* const holder_;
  const ShardMapFollowerOptions options_;
  mutable absl::Mutex mu_;
  uint64_t version_ = 0;  // guarded by mu_
  // The newest version refused for having no active shard, so it is not
  // rebuilt every poll; only the polling thread (or Start's caller before
  // it) touches it.
  uint64_t refused_version_ = 0;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_SHARD_MAP_FOLLOWER_H_

// A metadata replica: applies the log to its own RocksDB and answers reads
// and writes.
//
// Threads: the log's tail thread is the only writer of state; it applies
// each entry (one WriteBatch holding the state change, the result under the
// request id and the applied position) and then publishes the new applied
// position under mu_. Callers (gRPC threads) append through the log, wait on
// applied_cv_ and read from RocksDB snapshots. SyncDurable() may run on any
// one thread (metad's heartbeat thread).
#ifndef BERTH_METADATA_REPLICA_H_
#define BERTH_METADATA_REPLICA_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "metadata/log.h"
#include "metadata/read_barrier.h"
#include "metadata/store.h"
#include "proto/metadata.pb.h"

namespace berth::meta {

// etcd's default --max-request-bytes is 1.5 MiB (1572864). A command is
// refused before it is appended when its serialized size exceeds this
// limit, which leaves room for the key and the request framing. Image json
// is capped at 1 MiB (spec §7.9), so every valid command fits.
constexpr size_t kDefaultMaxCommandBytes = 1536 * 1024 - 4096;

struct ReplicaOptions {
  // How long a write or a linearizable read waits for the log to deliver
  // its position before answering UNAVAILABLE (outcome unknown).
  absl::Duration apply_timeout = absl::Seconds(30);
  size_t max_command_bytes = kDefaultMaxCommandBytes;
  // Called once, on the log's thread, when delivery stops for good (e.g.
  // OUT_OF_RANGE: the position was compacted away). Must not block.
  std::function<void(const absl::Status&)> on_tail_error;
};

class Replica {
 public:
  // Takes the store and the log (which may use the same store); starts
  // applying from the store's applied position.
  static absl::StatusOr<std::unique_ptr<Replica>> Start(
      std::unique_ptr<Store> store, std::unique_ptr<Log> log,
      ReplicaOptions options);
  ~Replica();

  // Appends `command`, waits until it is applied here and returns apply's
  // result. A retry with the same request id returns the first result. A
  // command above max_command_bytes answers TOO_LARGE without appending.
  // UNAVAILABLE: outcome unknown (also etcd NOSPACE, logged clearly).
  absl::StatusOr<CommandResult> Execute(const Command& command);

  // Reads. Unless `stale_ok`, waits until every entry appended before the
  // call is applied (linearizable), then reads one RocksDB snapshot.
  absl::StatusOr<GetImageResponse> GetImage(const GetImageRequest& request);
  absl::StatusOr<GetRepositoryResponse> GetRepository(
      const GetRepositoryRequest& request);
  absl::StatusOr<GetTagResponse> GetTag(const GetTagRequest& request);
  absl::StatusOr<SearchResponse> Search(const SearchRequest& request);
  absl::StatusOr<GetUserResponse> GetUser(const GetUserRequest& request);
  absl::StatusOr<GetClusterConfigResponse> GetClusterConfig(
      const GetClusterConfigRequest& request);
  absl::StatusOr<ListChunkRefsResponse> ListChunkRefs(
      const ListChunkRefsRequest& request);

  uint64_t applied() const;
  // The newest position whose state is synced to disk (0 before the first
  // SyncDurable). Trimming never goes above what every replica reports.
  uint64_t durable_applied() const;
  // Syncs the WAL and returns the position it covers.
  absl::StatusOr<uint64_t> SyncDurable();
  // Non-OK once the log stopped delivering (see on_tail_error).
  absl::Status tail_error() const;
  uint64_t read_rounds() const { return barrier_.rounds(); }

  Store* store() const { return store_.get(); }
  Log* log() const { return log_.get(); }

  // Stops applying; pending callers get UNAVAILABLE.
  void Stop();

 private:
  Replica(std::unique_ptr<Store> store, std::unique_ptr<Log> log,
          ReplicaOptions options);
  absl::Status ApplyEntry(const LogEntry& entry);
  absl::Status WaitApplied(uint64_t position);
  absl::Status Barrier(const ReadOptions& read);

  const ReplicaOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Log> log_;
  ReadBarrier barrier_;

  mutable std::mutex mu_;
  std::condition_variable applied_cv_;
  uint64_t applied_ = 0;       // guarded by mu_
  uint64_t durable_ = 0;       // guarded by mu_
  bool stopped_ = false;       // guarded by mu_
  absl::Status tail_error_;    // guarded by mu_
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_REPLICA_H_

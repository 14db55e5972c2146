// A metadata replica: applies the log to its own RocksDB and answers reads
// and writes.
//
// Threads: the log's tail thread is the only writer of state; it applies
// each entry (one WriteBatch holding the state change, the result under the
// request id and the applied position) and then publishes the new applied
// position under mu_. Callers (gRPC threads) append through the log, wait on
// applied_cv_ and read from RocksDB.
#ifndef BERTH_METADATA_REPLICA_H_
#define BERTH_METADATA_REPLICA_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "metadata/log.h"
#include "metadata/store.h"
#include "proto/metadata.pb.h"

namespace berth::meta {

struct ReplicaOptions {
  // How long a write or a linearizable read waits for the log to deliver
  // its position before answering UNAVAILABLE (outcome unknown).
  absl::Duration apply_timeout = absl::Seconds(30);
};

class Replica {
 public:
  // Takes the store and the log (which may use the same store); starts
  // applying from the store's applied position.
  static absl::StatusOr<std::unique_ptr<Replica>> Start(
      std::unique_ptr<Store> store, std::unique_ptr<Log> log,
      const ReplicaOptions& options);
  ~Replica();

  // Appends `command`, waits until it is applied here and returns apply's
  // result. A retry with the same request id returns the first result.
  absl::StatusOr<CommandResult> Execute(const Command& command);

  // Reads. Unless `stale_ok`, waits until every entry appended before the
  // call is applied (linearizable).
  absl::StatusOr<GetImageResponse> GetImage(const GetImageRequest& request);
  absl::StatusOr<GetRepositoryResponse> GetRepository(
      const GetRepositoryRequest& request);
  absl::StatusOr<GetTagResponse> GetTag(const GetTagRequest& request);

  uint64_t applied() const;

  // Stops applying; pending callers get UNAVAILABLE.
  void Stop();

 private:
  Replica(std::unique_ptr<Store> store, std::unique_ptr<Log> log,
          const ReplicaOptions& options);
  absl::Status ApplyEntry(const LogEntry& entry);
  absl::Status WaitApplied(uint64_t position);
  absl::Status Barrier(const ReadOptions& read);

  const ReplicaOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Log> log_;

  mutable std::mutex mu_;
  std::condition_variable applied_cv_;
  uint64_t applied_ = 0;       // guarded by mu_
  bool stopped_ = false;       // guarded by mu_
  absl::Status tail_error_;    // guarded by mu_
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_REPLICA_H_

// A metadata replica: applies the log to its own RocksDB and answers reads
// and writes.
//
// Writes (group commit, asynchronous): ExecuteAsync queues its command and
// returns. Up to max_appends_in_flight appender threads each take every
// queued command (up to max_command_bytes in all) and append them as one
// log entry (a CommandBatch; a lone command as itself). The commands of an
// appended entry are parked under its position; the tail thread, once it
// has applied that position, reads each command's result by request id
// and calls its callback. No thread waits per command.
//
// Threads and what they own:
//  - the log's tail thread is the only writer of state; it applies runs of
//    entries (log_apply.h: one WriteBatch holding the state changes, each
//    command's result under its request id and the applied position),
//    publishes the new applied position under mu_ and completes the parked
//    commands up to it;
//  - appender threads (owned here): take queue_ under propose_mu_, append
//    without a lock, park the batch under mu_;
//  - the expiry thread (owned here): every 250 ms answers UNAVAILABLE to
//    parked commands older than apply_timeout;
//  - callers (gRPC threads): queue commands, wait on their position for
//    linearizable reads (waiters_) and read RocksDB.
// SyncDurable() may run on any one thread (metad's heartbeat thread).
#ifndef BERTH_METADATA_REPLICA_H_
#define BERTH_METADATA_REPLICA_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
  // Largest command, and largest log entry (a batch of commands): the
  // batch envelope adds at most 32 bytes to a lone command, which the
  // 4 KiB margin of the default covers.
  size_t max_command_bytes = kDefaultMaxCommandBytes;
  // Group commit: appends one replica runs at once (each carries every
  // command queued when it started), and commands per entry. One append
  // at a time makes the largest entries: with asynchronous writes that
  // gave 72-79% of raw etcd puts at 128 writers against 63-71% with two
  // (README, "Metadata benchmark").
  int max_appends_in_flight = 1;
  size_t max_batch_commands = 1024;
  // Results of commands proposed longer ago than this are pruned by apply
  // (a retry within the window gets the first result). The prune point
  // travels in the log, so replicas stay identical whatever their flags.
  absl::Duration result_retention = absl::Hours(1);
  // Proposal clock, Unix ms (tests inject one); default absl::Now().
  std::function<int64_t()> now_unix_ms;
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
  // Blocks the calling thread (ExecuteAsync underneath).
  absl::StatusOr<CommandResult> Execute(const Command& command);

  // Execute without a waiting thread. `done` runs exactly once: inline for
  // a command refused before it is queued (or after Stop), otherwise on an
  // appender thread (append failed), the tail thread (applied), the expiry
  // thread (apply_timeout passed) or the thread running Stop(). `command`
  // must stay valid until then. `done` must not block, must not call
  // Stop() and must not drop the last reference to this replica.
  // A command still queued at `caller_deadline` (the caller gave up) is
  // answered UNAVAILABLE without being appended.
  using ExecuteCallback = std::function<void(absl::StatusOr<CommandResult>)>;
  void ExecuteAsync(const Command& command, ExecuteCallback done,
                    absl::Time caller_deadline = absl::InfiniteFuture());

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
  absl::StatusOr<GetImageRepositoriesResponse> GetImageRepositories(
      const GetImageRepositoriesRequest& request);
  // gc's mark phase (replica_gc.cc): scans every image.
  absl::StatusOr<ListGarbageImagesResponse> ListGarbageImages(
      const ListGarbageImagesRequest& request);
  absl::StatusOr<ListUsersResponse> ListUsers(const ListUsersRequest& request);

  uint64_t applied() const;
  // The newest position whose state is synced to disk (0 before the first
  // SyncDurable). Trimming never goes above what every replica reports.
  uint64_t durable_applied() const;
  // Syncs the WAL and returns the position it covers.
  absl::StatusOr<uint64_t> SyncDurable();
  // Non-OK once the log stopped delivering (see on_tail_error).
  absl::Status tail_error() const;
  uint64_t read_rounds() const { return barrier_.rounds(); }
  // Log entries appended by Execute so far (each may carry many commands).
  uint64_t appends() const;

  Store* store() const { return store_.get(); }
  Log* log() const { return log_.get(); }

  // Stops applying; pending callers get UNAVAILABLE. Joins the appender
  // threads, so it may wait for an append in flight (bounded by the log's
  // own deadline).
  void Stop();

 private:
  Replica(std::unique_ptr<Store> store, std::unique_ptr<Log> log,
          ReplicaOptions options);
  // One queued or parked write.
  struct Proposal {
    const Command* command;  // the caller's; valid until done runs
    size_t bytes;            // its serialized size
    ExecuteCallback done;
    absl::Time deadline;     // parked longer than this: UNAVAILABLE
    absl::Time caller_deadline;  // still queued then: not appended
  };
  using ProposalPtr = std::unique_ptr<Proposal>;
  absl::Status ApplyEntries(std::vector<LogEntry>& entries);
  void StartWriters();
  void StopWriters();
  // Body of an appender thread.
  void AppendLoop();
  // Body of the expiry thread.
  void ExpiryLoop();
  std::string EncodeEntry(const std::vector<ProposalPtr>& batch) const;
  // Parks an appended batch under `position`, or completes it at once
  // (already applied, stopped, tail error).
  void Park(std::vector<ProposalPtr> batch, uint64_t position);
  // Removes the parked proposals with position <= up_to. Requires mu_.
  std::vector<ProposalPtr> TakeParkedLocked(uint64_t up_to);
  // The reason parked or queued commands cannot finish. Requires mu_.
  absl::Status NotServingLocked() const;
  // Calls p->done: with `status` if not OK, else with the stored result.
  void Complete(Proposal& p, const absl::Status& status);
  absl::Status WaitApplied(uint64_t position);
  // Wakes the waiters of positions <= up_to. Requires mu_.
  void WakeWaitersLocked(uint64_t up_to);
  absl::Status Barrier(const ReadOptions& read);

  const ReplicaOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Log> log_;
  ReadBarrier barrier_;

  // One caller of WaitApplied; woken by the apply thread once applied_
  // reaches its position (or on stop / tail error).
  struct Waiter {
    std::condition_variable cv;
    bool woken = false;        // guarded by mu_
  };

  mutable std::mutex mu_;
  std::multimap<uint64_t, Waiter*> waiters_;  // guarded by mu_
  uint64_t applied_ = 0;       // guarded by mu_
  uint64_t durable_ = 0;       // guarded by mu_
  bool stopped_ = false;       // guarded by mu_
  std::atomic<bool> stopped_flag_{false};  // stopped_, for stale reads
  absl::Status tail_error_;    // guarded by mu_

  // Appended commands waiting for their position to be applied.
  std::multimap<uint64_t, ProposalPtr> parked_;  // guarded by mu_
  std::condition_variable expiry_cv_;            // with mu_; Stop wakes it

  mutable std::mutex propose_mu_;
  std::condition_variable propose_cv_;  // queue_ grew, or stopping
  std::deque<ProposalPtr> queue_;       // guarded by propose_mu_
  bool writers_stopping_ = false;       // guarded by propose_mu_
  uint64_t appends_ = 0;                // guarded by propose_mu_

  std::vector<std::thread> appenders_;  // started by Start, joined by Stop
  std::thread expiry_;
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_REPLICA_H_

// EtcdLog: the cluster implementation of Log, ordered by etcd 3.4.
//
// The log is one etcd key (`log_key`). Append is one Put of that key; the
// entry's position is the Put's header.revision, which equals the key's new
// mod_revision. Other keys and leases share etcd's revision counter, so
// positions have gaps. LastPosition is a linearizable Range of the key and
// answers its mod_revision (never the header revision). Tailing is a Watch
// of the key from start_revision = after + 1; every PUT event is one entry
// (position = kv.mod_revision, data = kv.value).
//
// Endpoints: one gRPC channel per etcd member. Every call has one deadline
// (rpc_timeout) and tries the endpoints starting with the one that answered
// last:
//  - Reads (LastPosition) fail over to the next endpoint on any transient
//    error, because repeating a read is harmless.
//  - Writes (Append) are only sent to an endpoint whose channel is connected,
//    and are never repeated once sent: an error after sending returns
//    UNAVAILABLE or DEADLINE_EXCEEDED (outcome unknown), which the caller
//    resolves (clientv3 follows the same rule for mutable RPCs).
//  - etcd's NOSPACE error ("etcdserver: mvcc: database space exceeded") is
//    RESOURCE_EXHAUSTED and logged at error level; "request is too large"
//    is INVALID_ARGUMENT (definitely not appended; repeating cannot help).
//
// Threads:
//  - Append and LastPosition are thread-safe and block the calling thread
//    for at most about rpc_timeout. They share the channels with the tail.
//  - StartTailing starts one thread owned by this object (the "tail
//    thread"). It owns the watch stream, reassembles fragmented responses
//    (fragment = true), delivers entries in order and runs both callbacks.
//    On a broken stream, a canceled watch or a lost leader (the watch is
//    opened with gRPC metadata hasleader=true, like clientv3's
//    WithRequireLeader) it re-watches from the last delivered position + 1
//    on the next endpoint that is connected, after a backoff that
//    StopTailing interrupts. A compacted start revision ends the tail with
//    on_error(OUT_OF_RANGE).
//  - StopTailing (and the destructor) cancels the stream, wakes the
//    backoff and joins the tail thread. Called from inside a callback it
//    only requests the stop (the thread cannot join itself); the thread is
//    joined by the next StartTailing/StopTailing or the destructor.
#ifndef BERTH_METADATA_ETCD_LOG_H_
#define BERTH_METADATA_ETCD_LOG_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "metadata/log.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace berth::meta {

// One etcd member's status as seen through its own endpoint.
struct EtcdMemberInfo {
  std::string endpoint;
  bool reachable = false;
  std::string error;
  uint64_t member_id = 0;
  uint64_t leader = 0;
  std::string version;
  int64_t db_size = 0;
  int64_t db_size_in_use = 0;
  uint64_t raft_index = 0;
  std::vector<std::string> alarms;  // "NOSPACE", "CORRUPT" (cluster-wide)
};

struct EtcdLogOptions {
  // etcd client endpoints, "host:port" (an "http://" prefix is accepted).
  std::vector<std::string> endpoints;
  std::string log_key = "/berth/log";
  // Deadline of one Append or LastPosition call, all endpoints included.
  absl::Duration rpc_timeout = absl::Seconds(5);
};

class EtcdLog : public Log {
 public:
  // Validates the options and creates one channel per endpoint. Does not
  // contact etcd (channels connect lazily), so it succeeds while etcd is
  // down; INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<EtcdLog>> Create(
      const EtcdLogOptions& options);

  ~EtcdLog() override;  // Stops tailing.

  EtcdLog(const EtcdLog&) = delete;
  EtcdLog& operator=(const EtcdLog&) = delete;

  absl::StatusOr<uint64_t> Append(const std::string& data) override;
  absl::StatusOr<uint64_t> LastPosition() override;
  absl::Status StartTailing(
      uint64_t after, std::function<absl::Status(const LogEntry&)> on_entry,
      std::function<void(const absl::Status&)> on_error) override;
  // A run is every entry of one watch response (fragments reassembled).
  absl::Status StartTailingRuns(
      uint64_t after, std::function<absl::Status(std::vector<LogEntry>&)> on_entries,
      std::function<void(const absl::Status&)> on_error) override;
  void StopTailing() override;

  // ---- Maintenance and membership keys (etcd_maintenance.cc). All are
  // thread-safe and bounded by rpc_timeout. ----

  // Status of every endpoint, each asked directly (no failover).
  std::vector<EtcdMemberInfo> MemberStatuses();
  // Compacts etcd's history below `revision`. OK when it already was.
  absl::Status Compact(uint64_t revision);
  // Defragments the member behind endpoint `index` (blocks that member
  // while it runs; call members one after another).
  absl::Status Defragment(size_t index);
  size_t endpoint_count() const { return endpoints_.size(); }
  // Deactivates every active NOSPACE alarm. OK when there is none.
  absl::Status DisarmNoSpace();
  // Leases and plain keys for replica registration.
  absl::StatusOr<int64_t> GrantLease(int64_t ttl_seconds);
  // NOT_FOUND when the lease has expired.
  absl::Status KeepAlive(int64_t lease);
  absl::Status RevokeLease(int64_t lease);
  absl::Status PutKey(const std::string& key, const std::string& value,
                      int64_t lease);
  // Deletes `key`; returns how many keys were deleted (0 or 1).
  absl::StatusOr<int64_t> DeleteKey(const std::string& key);
  // Every key with `prefix`, linearizably, in key order.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> RangePrefix(
      const std::string& prefix);

 private:
  struct Endpoint;  // Channel and stubs; defined in etcd_log.cc.
  using RunCallback = std::function<absl::Status(std::vector<LogEntry>&)>;

  explicit EtcdLog(const EtcdLogOptions& options);

  // Body of the tail thread.
  void TailLoop(uint64_t after, RunCallback on_entries,
                std::function<void(const absl::Status&)> on_error);
  // One watch stream on endpoint `ep`, from *next (advanced past every
  // delivered entry). Returns OK when stopped, a terminal error with
  // *terminal = true (compaction, on_entry error), else a transient error.
  absl::Status WatchOnce(size_t ep, uint64_t* next,
                         const RunCallback& on_entries, bool* terminal);
  // Index of a connected endpoint, trying from `first`; -1 if none is.
  int PickConnected(size_t first);
  bool Stopping();

  const EtcdLogOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  // Endpoint that answered last; where unary calls start. Any thread.
  std::atomic<size_t> preferred_{0};

  // Serializes StartTailing/StopTailing against each other.
  absl::Mutex control_mu_;
  std::thread tail_thread_ ABSL_GUARDED_BY(control_mu_);
  // Set by the tail thread when it ends on its own (after on_error).
  std::atomic<bool> tail_done_{false};

  // Shared between the tail thread and StopTailing.
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // The current watch stream's context, so StopTailing can cancel it.
  grpc::ClientContext* watch_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_ETCD_LOG_H_

// The single-node log of `berth serve`: entries live in the replica's own
// RocksDB (column family `log`), written with a synced WAL before Append
// returns, so an acknowledged command survives kill -9 and is re-applied at
// the next start if its state write had not reached the disk.
//
// Threads: appenders serialise on mu_ to take the next position; the tail
// thread (owned by this object) reads entries > delivered and hands them to
// the callback, waiting on appended_cv_ when caught up.
#ifndef BERTH_METADATA_LOCAL_LOG_H_
#define BERTH_METADATA_LOCAL_LOG_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "metadata/log.h"
#include "metadata/store.h"

namespace berth::meta {

class LocalLog final : public Log {
 public:
  // `store` must outlive the log.
  static absl::StatusOr<std::unique_ptr<LocalLog>> Open(Store* store);
  ~LocalLog() override;

  absl::StatusOr<uint64_t> Append(const std::string& data) override;
  absl::StatusOr<uint64_t> LastPosition() override;
  absl::Status StartTailing(
      uint64_t after, std::function<absl::Status(const LogEntry&)> on_entry,
      std::function<void(const absl::Status&)> on_error) override;
  // A run is every entry appended since the last run (at most 1024).
  absl::Status StartTailingRuns(
      uint64_t after, std::function<absl::Status(std::vector<LogEntry>&)> on_entries,
      std::function<void(const absl::Status&)> on_error) override;
  void StopTailing() override;

 private:
  using RunCallback = std::function<absl::Status(std::vector<LogEntry>&)>;
  explicit LocalLog(Store* store) : store_(store) {}
  void TailLoop(uint64_t after, RunCallback on_entries,
                std::function<void(const absl::Status&)> on_error);

  Store* const store_;
  std::mutex mu_;
  std::condition_variable appended_cv_;
  uint64_t last_ = 0;        // guarded by mu_
  bool stop_ = false;        // guarded by mu_
  std::thread tail_thread_;
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_LOCAL_LOG_H_

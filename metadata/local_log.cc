#include "metadata/local_log.h"

#include <vector>

namespace berth::meta {

absl::StatusOr<std::unique_ptr<LocalLog>> LocalLog::Open(Store* store) {
  std::unique_ptr<LocalLog> log(new LocalLog(store));
  std::unique_ptr<rocksdb::Iterator> it(
      store->db()->NewIterator(rocksdb::ReadOptions(), store->log()));
  it->SeekToLast();
  if (it->Valid()) log->last_ = DecodePosition(it->key().ToString());
  if (!it->status().ok()) return FromRocks(it->status());
  return log;
}

LocalLog::~LocalLog() { StopTailing(); }

absl::StatusOr<uint64_t> LocalLog::Append(const std::string& data) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t position = last_ + 1;
  rocksdb::WriteOptions sync;
  sync.sync = true;
  rocksdb::Status s = store_->db()->Put(sync, store_->log(),
                                        EncodePosition(position), data);
  if (!s.ok()) return FromRocks(s);
  last_ = position;
  appended_cv_.notify_all();
  return position;
}

absl::StatusOr<uint64_t> LocalLog::LastPosition() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

absl::Status LocalLog::StartTailing(
    uint64_t after, std::function<absl::Status(const LogEntry&)> on_entry,
    std::function<void(const absl::Status&)> on_error) {
  return StartTailingRuns(
      after,
      [on_entry = std::move(on_entry)](std::vector<LogEntry>& run) {
        for (const LogEntry& e : run) {
          if (absl::Status s = on_entry(e); !s.ok()) return s;
        }
        return absl::OkStatus();
      },
      std::move(on_error));
}

absl::Status LocalLog::StartTailingRuns(
    uint64_t after, RunCallback on_entries,
    std::function<void(const absl::Status&)> on_error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (tail_thread_.joinable()) {
    return absl::FailedPreconditionError("already tailing");
  }
  stop_ = false;
  tail_thread_ = std::thread(
      [this, after, on_entries = std::move(on_entries),
       on_error = std::move(on_error)] {
        TailLoop(after, on_entries, on_error);
      });
  return absl::OkStatus();
}

void LocalLog::StopTailing() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    appended_cv_.notify_all();
  }
  if (tail_thread_.joinable()) tail_thread_.join();
}

void LocalLog::TailLoop(uint64_t after, RunCallback on_entries,
                        std::function<void(const absl::Status&)> on_error) {
  constexpr size_t kMaxRun = 1024;
  uint64_t delivered = after;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      appended_cv_.wait(lock, [&] { return stop_ || last_ > delivered; });
      if (stop_) return;
    }
    // Read the new entries outside the lock; appends only add larger keys.
    std::vector<LogEntry> batch;
    std::unique_ptr<rocksdb::Iterator> it(
        store_->db()->NewIterator(rocksdb::ReadOptions(), store_->log()));
    for (it->Seek(EncodePosition(delivered + 1));
         it->Valid() && batch.size() < kMaxRun; it->Next()) {
      batch.push_back(
          {DecodePosition(it->key().ToString()), it->value().ToString()});
    }
    if (!it->status().ok()) {
      on_error(FromRocks(it->status()));
      return;
    }
    if (batch.empty()) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    const uint64_t last = batch.back().position;
    absl::Status st = on_entries(batch);
    if (!st.ok()) {
      on_error(st);
      return;
    }
    delivered = last;
  }
}

}  // namespace berth::meta

// Replica: start/stop and apply. Writes: replica_execute.cc; reads:
// replica_reads.cc.
#include "metadata/replica.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "metadata/log_apply.h"
#include "metadata/state_machine.h"
#include "metadata/store_view.h"
#include "spdlog/spdlog.h"

namespace berth::meta {

Replica::Replica(std::unique_ptr<Store> store, std::unique_ptr<Log> log,
                 ReplicaOptions options)
    : options_(std::move(options)),
      store_(std::move(store)),
      log_(std::move(log)),
      barrier_([this] { return log_->LastPosition(); }) {}

absl::StatusOr<std::unique_ptr<Replica>> Replica::Start(
    std::unique_ptr<Store> store, std::unique_ptr<Log> log,
    ReplicaOptions options) {
  absl::StatusOr<uint64_t> applied = store->ReadAppliedPosition();
  if (!applied.ok()) return applied.status();
  std::unique_ptr<Replica> replica(
      new Replica(std::move(store), std::move(log), std::move(options)));
  replica->applied_ = *applied;
  Replica* self = replica.get();
  absl::Status st = self->log_->StartTailingRuns(
      *applied,
      [self](std::vector<LogEntry>& run) { return self->ApplyEntries(run); },
      [self](const absl::Status& error) {
        spdlog::critical("metadata log delivery stopped at position {}: {}",
                         self->applied(), error.ToString());
        std::vector<ProposalPtr> parked;
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->tail_error_ = error;
          self->WakeWaitersLocked(UINT64_MAX);
          parked = self->TakeParkedLocked(UINT64_MAX);
        }
        const absl::Status unavailable = absl::UnavailableError(
            absl::StrCat("metadata replica cannot follow the log: ",
                         error.message()));
        for (ProposalPtr& p : parked) self->Complete(*p, unavailable);
        if (self->options_.on_tail_error) self->options_.on_tail_error(error);
      });
  if (!st.ok()) return st;
  self->StartWriters();
  spdlog::info("metadata replica started at applied position {}", *applied);
  return replica;
}

Replica::~Replica() { Stop(); }

void Replica::Stop() {
  std::vector<ProposalPtr> parked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopped_flag_.store(true);
    WakeWaitersLocked(UINT64_MAX);
    parked = TakeParkedLocked(UINT64_MAX);
  }
  expiry_cv_.notify_all();
  const absl::Status stopping =
      absl::UnavailableError("metadata replica stopping");
  for (ProposalPtr& p : parked) Complete(*p, stopping);
  StopWriters();
  log_->StopTailing();
}

uint64_t Replica::applied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_;
}

uint64_t Replica::durable_applied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_;
}

absl::Status Replica::tail_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tail_error_;
}

absl::StatusOr<uint64_t> Replica::SyncDurable() {
  // Every batch up to `covered` was written before the sync starts, so the
  // synced WAL holds it.
  const uint64_t covered = applied();
  rocksdb::Status s = store_->db()->SyncWAL();
  if (!s.ok()) return FromRocks(s);
  std::lock_guard<std::mutex> lock(mu_);
  if (covered > durable_) durable_ = covered;
  return durable_;
}

// Runs on the log's tail thread only. A run is applied in groups of
// bounded size, each one WriteBatch (log_apply.h); the applied position is
// published after each group.
absl::Status Replica::ApplyEntries(std::vector<LogEntry>& entries) {
  constexpr size_t kMaxGroupBytes = 8 << 20;
  size_t i = 0;
  while (i < entries.size()) {
    EntryApplier applier(store_.get());
    size_t bytes = 0;
    for (; i < entries.size() && (bytes == 0 || bytes < kMaxGroupBytes); ++i) {
      bytes += entries[i].data.size() + 1;
      if (absl::Status st = applier.Stage(entries[i]); !st.ok()) {
        spdlog::critical("cannot apply log entry {}: {}", entries[i].position,
                         st.ToString());
        return st;
      }
    }
    if (absl::Status st = applier.Commit(); !st.ok()) return st;
    std::vector<ProposalPtr> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      applied_ = entries[i - 1].position;
      WakeWaitersLocked(applied_);
      done = TakeParkedLocked(applied_);
    }
    for (ProposalPtr& p : done) Complete(*p, absl::OkStatus());
  }
  return absl::OkStatus();
}

void Replica::WakeWaitersLocked(uint64_t up_to) {
  auto end = waiters_.upper_bound(up_to);
  for (auto it = waiters_.begin(); it != end; ++it) {
    it->second->woken = true;
    it->second->cv.notify_one();
  }
  waiters_.erase(waiters_.begin(), end);
}

absl::Status Replica::WaitApplied(uint64_t position) {
  std::unique_lock<std::mutex> lock(mu_);
  if (applied_ < position && !stopped_ && tail_error_.ok()) {
    // Woken only once its own position is applied (or on stop/error).
    Waiter self;
    auto entry = waiters_.emplace(position, &self);
    self.cv.wait_for(lock, absl::ToChronoMilliseconds(options_.apply_timeout),
                     [&] { return self.woken; });
    if (!self.woken) waiters_.erase(entry);
  }
  if (applied_ >= position) return absl::OkStatus();
  if (stopped_) return absl::UnavailableError("metadata replica stopping");
  if (!tail_error_.ok()) {
    return absl::UnavailableError(
        absl::StrCat("metadata replica cannot follow the log: ",
                     tail_error_.message()));
  }
  return absl::UnavailableError(absl::StrCat(
      "timed out waiting for log position ", position, " (applied ", applied_,
      ")"));
}

absl::Status Replica::Barrier(const ReadOptions& read) {
  if (read.stale_ok()) {
    if (stopped_flag_.load(std::memory_order_relaxed)) {
      return absl::UnavailableError("metadata replica stopping");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> last = barrier_.Position();
  if (!last.ok()) return absl::UnavailableError(last.status().message());
  return WaitApplied(*last);
}

}  // namespace berth::meta

// Replica: start/stop, apply and Execute. Reads: replica_reads.cc.
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
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->tail_error_ = error;
          self->WakeWaitersLocked(UINT64_MAX);
        }
        if (self->options_.on_tail_error) self->options_.on_tail_error(error);
      });
  if (!st.ok()) return st;
  spdlog::info("metadata replica started at applied position {}", *applied);
  return replica;
}

Replica::~Replica() { Stop(); }

void Replica::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopped_flag_.store(true);
    WakeWaitersLocked(UINT64_MAX);
  }
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
    std::lock_guard<std::mutex> lock(mu_);
    applied_ = entries[i - 1].position;
    WakeWaitersLocked(applied_);
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

struct Replica::Proposal {
  Proposal(const Command* c, size_t b) : command(c), bytes(b) {}
  const Command* command;
  size_t bytes;
  std::condition_variable cv;             // its caller waits here
  bool done = false;                      // guarded by propose_mu_
  absl::StatusOr<uint64_t> position = 0;  // guarded by propose_mu_
};

uint64_t Replica::appends() const {
  std::lock_guard<std::mutex> lock(propose_mu_);
  return appends_;
}

std::string Replica::EncodeEntry(const std::vector<Proposal*>& batch) const {
  const int64_t now = options_.now_unix_ms
                          ? options_.now_unix_ms()
                          : absl::ToUnixMillis(absl::Now());
  Command entry;
  if (batch.size() == 1) {
    entry = *batch[0]->command;  // a lone command stays a plain Command
  } else {
    CommandBatch* b = entry.mutable_batch();
    b->mutable_commands()->Reserve(static_cast<int>(batch.size()));
    for (const Proposal* p : batch) {
      Command* c = b->add_commands();
      *c = *p->command;
      c->clear_proposed_unix_ms();  // the envelope's times apply
      c->clear_prune_results_before_unix_ms();
    }
  }
  entry.set_proposed_unix_ms(now);
  entry.set_prune_results_before_unix_ms(
      now - absl::ToInt64Milliseconds(options_.result_retention));
  return entry.SerializeAsString();
}

absl::StatusOr<uint64_t> Replica::Propose(Proposal* p) {
  // Envelope: times (2 x 11 bytes), the batch field's tag and length;
  // per command: its tag and length.
  constexpr size_t kEnvelopeBytes = 32;
  constexpr size_t kPerCommandBytes = 5;
  std::unique_lock<std::mutex> lock(propose_mu_);
  queue_.push_back(p);
  // Wakeups are targeted: a finished append wakes the callers of its
  // commands, and the front of the queue when an append slot is free (it
  // then leads with everything queued).
  while (!p->done) {
    if (queue_.empty() || appends_in_flight_ >= options_.max_appends_in_flight) {
      p->cv.wait(lock);
      continue;
    }
    // Lead one append with everything queued (FIFO, within the limits).
    std::vector<Proposal*> batch;
    size_t bytes = kEnvelopeBytes;
    while (!queue_.empty() && batch.size() < options_.max_batch_commands) {
      Proposal* next = queue_.front();
      const size_t add = next->bytes + kPerCommandBytes;
      if (!batch.empty() && bytes + add > options_.max_command_bytes) break;
      batch.push_back(next);
      bytes += add;
      queue_.pop_front();
    }
    ++appends_in_flight_;
    ++appends_;
    if (!queue_.empty() && appends_in_flight_ < options_.max_appends_in_flight) {
      queue_.front()->cv.notify_one();  // another free slot: lead it
    }
    lock.unlock();
    absl::StatusOr<uint64_t> position = log_->Append(EncodeEntry(batch));
    lock.lock();
    --appends_in_flight_;
    for (Proposal* q : batch) {
      q->position = position;
      q->done = true;
      if (q != p) q->cv.notify_one();
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();
  }
  return p->position;
}

absl::StatusOr<CommandResult> Replica::Execute(const Command& command) {
  if (command.request_id().empty()) {
    return absl::InvalidArgumentError("command without request id");
  }
  if (command.has_batch()) {
    return absl::InvalidArgumentError("command batches are built by replicas");
  }
  const size_t size = command.ByteSizeLong();
  if (size > options_.max_command_bytes) {
    CommandResult refused;
    refused.mutable_error()->set_reason(TOO_LARGE);
    refused.mutable_error()->set_message(
        absl::StrCat("command of ", size, " bytes exceeds the limit of ",
                     options_.max_command_bytes, " bytes"));
    return refused;
  }
  Proposal proposal{&command, size};
  absl::StatusOr<uint64_t> position = Propose(&proposal);
  if (!position.ok()) {
    const absl::Status& st = position.status();
    if (absl::IsResourceExhausted(st)) {
      // etcd NOSPACE: nothing was appended, nothing is corrupted; the log
      // must be trimmed (and the alarm disarmed) before writes resume.
      return absl::UnavailableError(absl::StrCat(
          "metadata log is out of space (etcd NOSPACE alarm); writes resume "
          "after trimming: ",
          st.message()));
    }
    if (absl::IsInvalidArgument(st)) return st;  // definitely not appended
    return absl::UnavailableError(st.message());
  }
  absl::Status st = WaitApplied(*position);
  if (!st.ok()) return st;
  std::string bytes;
  rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(),
                                        store_->results(),
                                        command.request_id(), &bytes);
  CommandResult result;
  if (s.IsNotFound()) {
    // Pruned already (only with a retention shorter than the wait).
    return absl::UnavailableError(
        "the command was applied but its result was pruned before it was "
        "read (result retention shorter than the apply wait)");
  }
  if (!s.ok() || !result.ParseFromString(bytes)) {
    return absl::InternalError("applied command left no result");
  }
  return result;
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

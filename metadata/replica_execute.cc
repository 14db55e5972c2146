// Replica writes: the command queue, the appender threads, parking
// appended commands until the tail thread has applied them, and expiry.
// See replica.h for which thread owns what.
#include <algorithm>
#include <deque>
#include <future>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "metadata/replica.h"
#include "spdlog/spdlog.h"

namespace berth::meta {

namespace {
// How often the expiry thread looks for parked commands past apply_timeout.
constexpr absl::Duration kExpiryScan = absl::Milliseconds(250);

// An append error, as the caller sees it.
absl::Status AppendError(const absl::Status& st) {
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
}  // namespace

void Replica::StartWriters() {
  const int appenders = std::max(1, options_.max_appends_in_flight);
  for (int i = 0; i < appenders; ++i) {
    appenders_.emplace_back(&Replica::AppendLoop, this);
  }
  expiry_ = std::thread(&Replica::ExpiryLoop, this);
}

void Replica::StopWriters() {
  std::deque<ProposalPtr> queued;
  {
    std::lock_guard<std::mutex> lock(propose_mu_);
    writers_stopping_ = true;
  }
  propose_cv_.notify_all();
  for (std::thread& t : appenders_) t.join();  // finishes appends in flight
  appenders_.clear();
  if (expiry_.joinable()) expiry_.join();
  {
    std::lock_guard<std::mutex> lock(propose_mu_);
    queued.swap(queue_);
  }
  const absl::Status stopping =
      absl::UnavailableError("metadata replica stopping");
  for (ProposalPtr& p : queued) Complete(*p, stopping);
}

uint64_t Replica::appends() const {
  std::lock_guard<std::mutex> lock(propose_mu_);
  return appends_;
}

std::string Replica::EncodeEntry(const std::vector<ProposalPtr>& batch) const {
  const int64_t now = options_.now_unix_ms
                          ? options_.now_unix_ms()
                          : absl::ToUnixMillis(absl::Now());
  Command entry;
  if (batch.size() == 1) {
    entry = *batch[0]->command;  // a lone command stays a plain Command
  } else {
    CommandBatch* b = entry.mutable_batch();
    b->mutable_commands()->Reserve(static_cast<int>(batch.size()));
    for (const ProposalPtr& p : batch) {
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

void Replica::AppendLoop() {
  // Envelope: times (2 x 11 bytes), the batch field's tag and length;
  // per command: its tag and length.
  constexpr size_t kEnvelopeBytes = 32;
  constexpr size_t kPerCommandBytes = 5;
  std::unique_lock<std::mutex> lock(propose_mu_);
  while (true) {
    propose_cv_.wait(lock,
                     [this] { return writers_stopping_ || !queue_.empty(); });
    if (writers_stopping_) return;  // StopWriters answers what is queued
    // Lead one append with everything queued (FIFO, within the limits),
    // leaving out what callers gave up on while it waited (e.g. behind an
    // append to an etcd without quorum): nobody would read its result.
    std::vector<ProposalPtr> batch, abandoned;
    size_t bytes = kEnvelopeBytes;
    const absl::Time now = absl::Now();
    while (!queue_.empty() && batch.size() < options_.max_batch_commands) {
      if (queue_.front()->caller_deadline <= now) {
        abandoned.push_back(std::move(queue_.front()));
        queue_.pop_front();
        continue;
      }
      const size_t add = queue_.front()->bytes + kPerCommandBytes;
      if (!batch.empty() && bytes + add > options_.max_command_bytes) break;
      batch.push_back(std::move(queue_.front()));
      bytes += add;
      queue_.pop_front();
    }
    if (!batch.empty()) ++appends_;
    // Whatever did not fit goes with another appender.
    if (!queue_.empty()) propose_cv_.notify_one();
    lock.unlock();
    for (ProposalPtr& p : abandoned) {
      Complete(*p, absl::UnavailableError(
                       "the caller's deadline passed before the command was "
                       "appended; it was not appended"));
    }
    if (!batch.empty()) {
      absl::StatusOr<uint64_t> position = log_->Append(EncodeEntry(batch));
      if (position.ok()) {
        Park(std::move(batch), *position);
      } else {
        const absl::Status error = AppendError(position.status());
        for (ProposalPtr& p : batch) Complete(*p, error);
      }
    }
    lock.lock();
  }
}

void Replica::Park(std::vector<ProposalPtr> batch, uint64_t position) {
  absl::Status now;  // OK: applied already
  {
    std::lock_guard<std::mutex> lock(mu_);
    now = NotServingLocked();
    if (now.ok() && applied_ < position) {
      for (ProposalPtr& p : batch) parked_.emplace(position, std::move(p));
      return;
    }
  }
  for (ProposalPtr& p : batch) Complete(*p, now);
}

std::vector<Replica::ProposalPtr> Replica::TakeParkedLocked(uint64_t up_to) {
  std::vector<ProposalPtr> taken;
  auto end = parked_.upper_bound(up_to);
  for (auto it = parked_.begin(); it != end; ++it) {
    taken.push_back(std::move(it->second));
  }
  parked_.erase(parked_.begin(), end);
  return taken;
}

absl::Status Replica::NotServingLocked() const {
  if (stopped_) return absl::UnavailableError("metadata replica stopping");
  if (!tail_error_.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "metadata replica cannot follow the log: ", tail_error_.message()));
  }
  return absl::OkStatus();
}

void Replica::ExpiryLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopped_) {
    expiry_cv_.wait_for(lock, absl::ToChronoMilliseconds(kExpiryScan));
    const absl::Time now = absl::Now();
    std::vector<std::pair<uint64_t, ProposalPtr>> expired;
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (it->second->deadline <= now) {
        expired.emplace_back(it->first, std::move(it->second));
        it = parked_.erase(it);
      } else {
        ++it;
      }
    }
    if (expired.empty()) continue;
    const uint64_t applied = applied_;
    lock.unlock();
    for (auto& [position, p] : expired) {
      Complete(*p, absl::UnavailableError(absl::StrCat(
                       "timed out waiting for log position ", position,
                       " (applied ", applied, ")")));
    }
    lock.lock();
  }
}

void Replica::Complete(Proposal& p, const absl::Status& status) {
  ExecuteCallback done = std::move(p.done);
  if (!status.ok()) {
    done(status);
    return;
  }
  std::string bytes;
  rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(),
                                        store_->results(),
                                        p.command->request_id(), &bytes);
  CommandResult result;
  if (s.IsNotFound()) {
    // Pruned already (only with a retention shorter than the wait).
    done(absl::UnavailableError(
        "the command was applied but its result was pruned before it was "
        "read (result retention shorter than the apply wait)"));
    return;
  }
  if (!s.ok() || !result.ParseFromString(bytes)) {
    done(absl::InternalError("applied command left no result"));
    return;
  }
  done(std::move(result));
}

void Replica::ExecuteAsync(const Command& command, ExecuteCallback done,
                           absl::Time caller_deadline) {
  if (command.request_id().empty()) {
    done(absl::InvalidArgumentError("command without request id"));
    return;
  }
  if (command.has_batch()) {
    done(absl::InvalidArgumentError("command batches are built by replicas"));
    return;
  }
  const size_t size = command.ByteSizeLong();
  if (size > options_.max_command_bytes) {
    CommandResult refused;
    refused.mutable_error()->set_reason(TOO_LARGE);
    refused.mutable_error()->set_message(
        absl::StrCat("command of ", size, " bytes exceeds the limit of ",
                     options_.max_command_bytes, " bytes"));
    done(std::move(refused));
    return;
  }
  auto p = std::make_unique<Proposal>(
      Proposal{&command, size, std::move(done),
               absl::Now() + options_.apply_timeout, caller_deadline});
  {
    std::lock_guard<std::mutex> lock(propose_mu_);
    if (!writers_stopping_) {
      queue_.push_back(std::move(p));
      propose_cv_.notify_one();
      return;
    }
  }
  Complete(*p, absl::UnavailableError("metadata replica stopping"));
}

absl::StatusOr<CommandResult> Replica::Execute(const Command& command) {
  std::promise<absl::StatusOr<CommandResult>> promise;
  std::future<absl::StatusOr<CommandResult>> result = promise.get_future();
  ExecuteAsync(command, [&promise](absl::StatusOr<CommandResult> r) {
    promise.set_value(std::move(r));
  });
  return result.get();
}

}  // namespace berth::meta

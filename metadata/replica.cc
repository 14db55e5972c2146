// Replica: start/stop, apply and Execute. Reads: replica_reads.cc.
#include "metadata/replica.h"

#include <optional>

#include "absl/strings/str_cat.h"
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
  absl::Status st = self->log_->StartTailing(
      *applied, [self](const LogEntry& e) { return self->ApplyEntry(e); },
      [self](const absl::Status& error) {
        spdlog::critical("metadata log delivery stopped at position {}: {}",
                         self->applied(), error.ToString());
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->tail_error_ = error;
          self->applied_cv_.notify_all();
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
    applied_cv_.notify_all();
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

// Runs on the log's tail thread only.
absl::Status Replica::ApplyEntry(const LogEntry& entry) {
  Command command;
  CommandResult result;
  rocksdb::WriteBatch batch;
  if (!command.ParseFromString(entry.data)) {
    // Deterministic on every replica: an unreadable entry changes nothing.
    spdlog::error("log entry at {} is not a Command; skipped", entry.position);
  } else {
    std::string previous;
    rocksdb::Status seen = store_->db()->Get(
        rocksdb::ReadOptions(), store_->results(), command.request_id(),
        &previous);
    if (seen.IsNotFound() || command.request_id().empty()) {
      StoreView view(*store_);
      BatchWriter writer(*store_, &batch);
      result = Apply(command, view, &writer);
      result.set_position(entry.position);
      if (!command.request_id().empty()) {
        batch.Put(store_->results(), command.request_id(),
                  result.SerializeAsString());
      }
    } else if (!seen.ok()) {
      return FromRocks(seen);
    }
    // else: a retried command already applied; its first result stands.
  }
  batch.Put(store_->meta(), Store::AppliedKey(), EncodePosition(entry.position));
  rocksdb::Status s = store_->db()->Write(rocksdb::WriteOptions(), &batch);
  if (!s.ok()) {
    spdlog::critical("cannot apply log entry {}: {}", entry.position,
                     s.ToString());
    return FromRocks(s);
  }
  std::lock_guard<std::mutex> lock(mu_);
  applied_ = entry.position;
  applied_cv_.notify_all();
  return absl::OkStatus();
}

absl::Status Replica::WaitApplied(uint64_t position) {
  std::unique_lock<std::mutex> lock(mu_);
  applied_cv_.wait_for(
      lock, absl::ToChronoMilliseconds(options_.apply_timeout), [&] {
        return applied_ >= position || stopped_ || !tail_error_.ok();
      });
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

absl::StatusOr<CommandResult> Replica::Execute(const Command& command) {
  if (command.request_id().empty()) {
    return absl::InvalidArgumentError("command without request id");
  }
  std::string data = command.SerializeAsString();
  if (data.size() > options_.max_command_bytes) {
    CommandResult refused;
    refused.mutable_error()->set_reason(TOO_LARGE);
    refused.mutable_error()->set_message(
        absl::StrCat("command of ", data.size(), " bytes exceeds the limit of ",
                     options_.max_command_bytes, " bytes"));
    return refused;
  }
  absl::StatusOr<uint64_t> position = log_->Append(data);
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
  if (!s.ok() || !result.ParseFromString(bytes)) {
    return absl::InternalError("applied command left no result");
  }
  return result;
}

absl::Status Replica::Barrier(const ReadOptions& read) {
  if (read.stale_ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return absl::UnavailableError("metadata replica stopping");
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> last = barrier_.Position();
  if (!last.ok()) return absl::UnavailableError(last.status().message());
  return WaitApplied(*last);
}

}  // namespace berth::meta

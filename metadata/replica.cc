#include "metadata/replica.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "metadata/state_machine.h"
#include "spdlog/spdlog.h"

namespace berth::meta {
namespace {

std::string TagKey(const std::string& repository, const std::string& tag) {
  return absl::StrCat(repository, std::string(1, '\0'), tag);
}

template <class Message>
std::optional<Message> GetProto(const Store& store,
                                rocksdb::ColumnFamilyHandle* cf,
                                const std::string& key) {
  std::string value;
  rocksdb::Status s = store.db()->Get(rocksdb::ReadOptions(), cf, key, &value);
  if (!s.ok()) return std::nullopt;  // NotFound, or unreadable: treated alike
  Message m;
  if (!m.ParseFromString(value)) return std::nullopt;
  return m;
}

// Reads the replica's committed state (apply runs one entry at a time, so
// it never needs to see its own uncommitted writes).
class StoreView final : public StateView {
 public:
  explicit StoreView(const Store& store) : store_(store) {}
  std::optional<ImageRecord> GetImage(const std::string& id) const override {
    return GetProto<ImageRecord>(store_, store_.images(), id);
  }
  std::optional<RepositoryRecord> GetRepository(
      const std::string& name) const override {
    return GetProto<RepositoryRecord>(store_, store_.repositories(), name);
  }
  std::optional<TagRecord> GetTag(const std::string& repository,
                                  const std::string& tag) const override {
    return GetProto<TagRecord>(store_, store_.tags(), TagKey(repository, tag));
  }

 private:
  const Store& store_;
};

class BatchWriter final : public StateWriter {
 public:
  BatchWriter(const Store& store, rocksdb::WriteBatch* batch)
      : store_(store), batch_(batch) {}
  void PutImage(const ImageRecord& image) override {
    batch_->Put(store_.images(), image.id(), image.SerializeAsString());
  }
  void PutRepository(const RepositoryRecord& repository) override {
    batch_->Put(store_.repositories(), repository.name(),
                repository.SerializeAsString());
  }
  void PutTag(const std::string& repository, const std::string& tag,
              const TagRecord& record) override {
    batch_->Put(store_.tags(), TagKey(repository, tag),
                record.SerializeAsString());
  }

 private:
  const Store& store_;
  rocksdb::WriteBatch* batch_;
};

}  // namespace

Replica::Replica(std::unique_ptr<Store> store, std::unique_ptr<Log> log,
                 const ReplicaOptions& options)
    : options_(options), store_(std::move(store)), log_(std::move(log)) {}

absl::StatusOr<std::unique_ptr<Replica>> Replica::Start(
    std::unique_ptr<Store> store, std::unique_ptr<Log> log,
    const ReplicaOptions& options) {
  absl::StatusOr<uint64_t> applied = store->ReadAppliedPosition();
  if (!applied.ok()) return applied.status();
  std::unique_ptr<Replica> replica(
      new Replica(std::move(store), std::move(log), options));
  replica->applied_ = *applied;
  Replica* self = replica.get();
  absl::Status st = self->log_->StartTailing(
      *applied, [self](const LogEntry& e) { return self->ApplyEntry(e); },
      [self](const absl::Status& error) {
        spdlog::critical("metadata log delivery stopped at position {}: {}",
                         self->applied(), error.ToString());
        std::lock_guard<std::mutex> lock(self->mu_);
        self->tail_error_ = error;
        self->applied_cv_.notify_all();
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
  bool reached = applied_cv_.wait_for(
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
  (void)reached;
  return absl::UnavailableError(absl::StrCat(
      "timed out waiting for log position ", position, " (applied ", applied_,
      ")"));
}

absl::StatusOr<CommandResult> Replica::Execute(const Command& command) {
  if (command.request_id().empty()) {
    return absl::InvalidArgumentError("command without request id");
  }
  absl::StatusOr<uint64_t> position = log_->Append(command.SerializeAsString());
  if (!position.ok()) return position.status();
  absl::Status st = WaitApplied(*position);
  if (!st.ok()) return st;
  std::optional<CommandResult> result = GetProto<CommandResult>(
      *store_, store_->results(), command.request_id());
  if (!result) {
    return absl::InternalError("applied command left no result");
  }
  return *result;
}

absl::Status Replica::Barrier(const ReadOptions& read) {
  if (read.stale_ok()) return absl::OkStatus();
  absl::StatusOr<uint64_t> last = log_->LastPosition();
  if (!last.ok()) return last.status();
  return WaitApplied(*last);
}

absl::StatusOr<GetImageResponse> Replica::GetImage(
    const GetImageRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  GetImageResponse response;
  std::optional<ImageRecord> image =
      StoreView(*store_).GetImage(request.id());
  if (!image) {
    response.mutable_error()->set_reason(IMAGE_NOT_FOUND);
    response.mutable_error()->set_message("Image not found");
    return response;
  }
  if (!request.include_json()) image->clear_json();
  *response.mutable_image() = std::move(*image);
  return response;
}

absl::StatusOr<GetRepositoryResponse> Replica::GetRepository(
    const GetRepositoryRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  GetRepositoryResponse response;
  std::optional<RepositoryRecord> repo =
      StoreView(*store_).GetRepository(request.name());
  if (!repo) {
    response.mutable_error()->set_reason(REPOSITORY_NOT_FOUND);
    response.mutable_error()->set_message("Repository not found");
    return response;
  }
  *response.mutable_repository() = std::move(*repo);
  const std::string prefix = request.name() + std::string(1, '\0');
  std::unique_ptr<rocksdb::Iterator> it(
      store_->db()->NewIterator(rocksdb::ReadOptions(), store_->tags()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    TagRecord tag;
    if (!tag.ParseFromArray(it->value().data(),
                            static_cast<int>(it->value().size()))) {
      continue;
    }
    (*response.mutable_tags())[it->key().ToString().substr(prefix.size())] =
        tag.image_id();
  }
  return response;
}

absl::StatusOr<GetTagResponse> Replica::GetTag(const GetTagRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  GetTagResponse response;
  std::optional<TagRecord> tag =
      StoreView(*store_).GetTag(request.repository(), request.tag());
  if (!tag) {
    response.mutable_error()->set_reason(TAG_NOT_FOUND);
    response.mutable_error()->set_message("Tag not found");
    return response;
  }
  response.set_image_id(tag->image_id());
  response.set_tag_metadata(tag->metadata());
  return response;
}

}  // namespace berth::meta

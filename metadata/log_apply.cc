#include "metadata/log_apply.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "metadata/state_machine.h"
#include "spdlog/spdlog.h"

namespace berth::meta {
namespace {

// State as committed in the DB plus everything staged in `batch`.
class OverlayView final : public StateView {
 public:
  OverlayView(const Store& store, rocksdb::WriteBatchWithIndex* batch)
      : store_(store), batch_(batch) {}
  std::optional<std::string> Get(Table table,
                                  const std::string& key) const override {
    std::string value;
    rocksdb::Status s = batch_->GetFromBatchAndDB(
        store_.db(), rocksdb::ReadOptions(), store_.table(table), key, &value);
    if (!s.ok()) return std::nullopt;
    return value;
  }
  std::vector<std::pair<std::string, std::string>> Scan(
      Table table, const std::string& prefix) const override {
    std::vector<std::pair<std::string, std::string>> out;
    rocksdb::ColumnFamilyHandle* cf = store_.table(table);
    std::unique_ptr<rocksdb::Iterator> it(batch_->NewIteratorWithBase(
        cf, store_.db()->NewIterator(rocksdb::ReadOptions(), cf)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      out.emplace_back(it->key().ToString(), it->value().ToString());
    }
    return out;
  }

 private:
  const Store& store_;
  rocksdb::WriteBatchWithIndex* const batch_;
};

// Records one command's writes; they join the batch only after Apply
// returned, so a command never reads its own writes.
class StagedWriter final : public StateWriter {
 public:
  void Put(Table table, const std::string& key,
           const std::string& value) override {
    ops_.push_back({table, key, value, false});
  }
  void Delete(Table table, const std::string& key) override {
    ops_.push_back({table, key, std::string(), true});
  }
  void FlushInto(const Store& store, rocksdb::WriteBatchWithIndex* batch) {
    for (const Op& op : ops_) {
      if (op.remove) {
        batch->Delete(store.table(op.table), op.key);
      } else {
        batch->Put(store.table(op.table), op.key, op.value);
      }
    }
    ops_.clear();
  }

 private:
  struct Op {
    Table table;
    std::string key;
    std::string value;
    bool remove;
  };
  std::vector<Op> ops_;
};

std::string EncodeMs(int64_t ms) {
  return EncodePosition(static_cast<uint64_t>(std::max<int64_t>(ms, 0)));
}

}  // namespace

EntryApplier::EntryApplier(Store* store)
    : store_(store),
      batch_(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true) {}

absl::StatusOr<std::optional<std::string>> EntryApplier::Read(
    rocksdb::ColumnFamilyHandle* cf, const std::string& key) {
  std::string value;
  rocksdb::Status s = batch_.GetFromBatchAndDB(
      store_->db(), rocksdb::ReadOptions(), cf, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s);
  return std::optional<std::string>(std::move(value));
}

absl::Status EntryApplier::Stage(const LogEntry& entry) {
  ++staged_;
  last_position_ = entry.position;
  Command command;
  if (!command.ParseFromString(entry.data)) {
    // Deterministic on every replica: an unreadable entry changes nothing.
    spdlog::error("log entry at {} is not a Command; skipped", entry.position);
    return absl::OkStatus();
  }
  const int64_t proposed = command.proposed_unix_ms();
  if (absl::Status st = AdvanceClocks(
          proposed, std::min(command.prune_results_before_unix_ms(), proposed));
      !st.ok()) {
    return st;
  }
  if (command.has_batch()) {
    for (const Command& c : command.batch().commands()) {
      if (absl::Status st = ApplyOne(c, entry.position, proposed); !st.ok()) {
        return st;
      }
    }
  } else if (absl::Status st = ApplyOne(command, entry.position, proposed);
             !st.ok()) {
    return st;
  }
  return Prune();
}

absl::Status EntryApplier::ApplyOne(const Command& command, uint64_t position,
                                    int64_t proposed_ms) {
  const std::string& id = command.request_id();
  if (!id.empty()) {
    absl::StatusOr<std::optional<std::string>> seen =
        Read(store_->results(), id);
    if (!seen.ok()) return seen.status();
    if (seen->has_value()) return absl::OkStatus();  // a retry: first stands
  }
  OverlayView view(*store_, &batch_);
  StagedWriter writer;
  CommandResult result = Apply(command, view, &writer);
  result.set_position(position);
  writer.FlushInto(*store_, &batch_);
  if (!id.empty()) {
    batch_.Put(store_->results(), id, result.SerializeAsString());
    // Indexed at the log clock, not the proposer's: see the header.
    batch_.Put(store_->result_times(), EncodeMs(*log_clock_) + id, "");
  }
  return absl::OkStatus();
}

absl::Status EntryApplier::AdvanceClocks(int64_t proposed_ms,
                                         int64_t prune_before_ms) {
  for (auto [key, value] : {std::pair(Store::LogClockKey(), &log_clock_),
                            std::pair(Store::PrunePointKey(), &prune_point_)}) {
    if (value->has_value()) continue;
    absl::StatusOr<std::optional<std::string>> stored = Read(store_->meta(), key);
    if (!stored.ok()) return stored.status();
    *value = stored->has_value() ? static_cast<int64_t>(DecodePosition(**stored))
                                 : 0;
  }
  if (proposed_ms > *log_clock_) {
    log_clock_ = proposed_ms;
    batch_.Put(store_->meta(), Store::LogClockKey(), EncodeMs(proposed_ms));
  }
  if (prune_before_ms > *prune_point_) {
    prune_point_ = prune_before_ms;
    batch_.Put(store_->meta(), Store::PrunePointKey(), EncodeMs(prune_before_ms));
  }
  return absl::OkStatus();
}

absl::Status EntryApplier::Prune() {
  const std::string limit = EncodeMs(prune_point_.value_or(0));
  absl::StatusOr<std::optional<std::string>> stored =
      Read(store_->meta(), Store::PruneCursorKey());
  if (!stored.ok()) return stored.status();
  const std::string cursor = stored->value_or(std::string());
  if (cursor >= limit) return absl::OkStatus();
  // Collect first: the batch must not change under its own iterator.
  std::vector<std::string> expired;
  std::string next_cursor = limit;
  {
    rocksdb::ColumnFamilyHandle* cf = store_->result_times();
    std::unique_ptr<rocksdb::Iterator> it(batch_.NewIteratorWithBase(
        cf, store_->db()->NewIterator(rocksdb::ReadOptions(), cf)));
    for (it->Seek(cursor); it->Valid() && it->key().compare(limit) < 0;
         it->Next()) {
      if (expired.size() == kMaxPrunesPerEntry) {
        next_cursor = it->key().ToString();  // the rest: next entries
        break;
      }
      expired.push_back(it->key().ToString());
    }
    if (!it->status().ok()) return FromRocks(it->status());
  }
  for (const std::string& key : expired) {
    batch_.Delete(store_->results(), key.substr(8));
    batch_.Delete(store_->result_times(), key);
  }
  batch_.Put(store_->meta(), Store::PruneCursorKey(), next_cursor);
  return absl::OkStatus();
}

absl::Status EntryApplier::Commit() {
  if (staged_ == 0) return absl::OkStatus();
  batch_.Put(store_->meta(), Store::AppliedKey(), EncodePosition(last_position_));
  rocksdb::Status s =
      store_->db()->Write(rocksdb::WriteOptions(), batch_.GetWriteBatch());
  if (!s.ok()) {
    spdlog::critical("cannot apply log entries up to {}: {}", last_position_,
                     s.ToString());
    return FromRocks(s);
  }
  return absl::OkStatus();
}

}  // namespace berth::meta

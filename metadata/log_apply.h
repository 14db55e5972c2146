// Applying log entries to a replica's Store: the deterministic part of the
// replica, kept apart from its threads so it can be tested directly.
//
// A log entry is one serialized Command: either a lone command or a batch
// envelope (group commit, CommandBatch) whose commands are applied in
// order. Each command with a request id is applied at most once: its
// result is stored under the id (`results`) and a retry finds it there.
//
// EntryApplier stages any number of consecutive entries in one
// WriteBatchWithIndex and writes them, with the applied position of the
// last one, in a single RocksDB write. Every command reads the state left
// by all commands before it, including those staged in the same group and
// earlier in the same batch, but never its own writes (state_machine.h):
// its writes are staged separately and added after Apply returns. So the
// result does not depend on how entries are grouped: applying a log entry
// by entry or in one group yields the same records (same digest).
//
// Result pruning (deterministic: only log contents count, never the
// applier's clock): every entry carries its proposal time and a prune
// point (the proposer's now − retention). Apply keeps the largest proposal
// time seen (meta "log_clock") and the largest prune point (meta
// "prune_point", never above the entry's own time). Each result is indexed
// in `resulttimes` (key: big-endian ms ++ request id) at the log clock, so
// a proposer whose clock lags cannot have its results pruned early. After
// each entry, up to kMaxPrunesPerEntry results indexed before the prune
// point are deleted, oldest first. Everything below meta "prune_cursor"
// is gone already (new keys are >= the log clock >= the prune point), so
// pruning never rescans deleted keys. A retry whose first result was
// pruned is applied again as a new command.
//
// Not thread-safe: one applier per group, used by the replica's tail
// thread only. The Store must outlive it.
#ifndef BERTH_METADATA_LOG_APPLY_H_
#define BERTH_METADATA_LOG_APPLY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "metadata/log.h"
#include "metadata/store.h"
#include "proto/metadata.pb.h"
#include "rocksdb/utilities/write_batch_with_index.h"

namespace berth::meta {

// Bounds the deletes one entry adds to its write batch.
constexpr size_t kMaxPrunesPerEntry = 2000;

class EntryApplier {
 public:
  explicit EntryApplier(Store* store);

  // Stages `entry` on top of everything staged before. An entry that is
  // not a Command changes nothing but the applied position (logged). Only
  // a RocksDB read error fails; then nothing of the group may be written.
  absl::Status Stage(const LogEntry& entry);

  // Writes everything staged and the applied position of the last staged
  // entry in one WriteBatch. No-op when nothing was staged.
  absl::Status Commit();

  size_t staged_entries() const { return staged_; }

 private:
  absl::Status ApplyOne(const Command& command, uint64_t position,
                        int64_t proposed_ms);
  absl::Status AdvanceClocks(int64_t proposed_ms, int64_t prune_before_ms);
  absl::Status Prune();
  // Reads `key` of `cf` from the staged batch over the committed DB.
  absl::StatusOr<std::optional<std::string>> Read(
      rocksdb::ColumnFamilyHandle* cf, const std::string& key);

  Store* const store_;
  rocksdb::WriteBatchWithIndex batch_;
  size_t staged_ = 0;
  uint64_t last_position_ = 0;
  std::optional<int64_t> log_clock_;    // loaded on first use
  std::optional<int64_t> prune_point_;  // loaded on first use
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_LOG_APPLY_H_

// The deterministic metadata state machine.
//
// Apply() is a pure function of (current state, command): it reads through
// StateView, writes through StateWriter and returns the result that the
// proposer will see. Every replica applying the same log reaches the same
// state and the same answers, so preconditions (image already complete,
// parent unknown, user taken, ...) are checked here and nowhere else is
// authoritative. No clock, no randomness, no I/O besides the two
// interfaces: times and random values (secrets, password salts) arrive
// inside the command, chosen by the proposer.
//
// Apply sees only the state committed before the command: its own writes
// are not visible to its own reads (the replica stages them in a batch).
#ifndef BERTH_METADATA_STATE_MACHINE_H_
#define BERTH_METADATA_STATE_MACHINE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "metadata/store.h"
#include "proto/metadata.pb.h"

namespace berth::meta {

// Largest image json a PutImageJson may carry (spec §7.9: 1 MiB).
constexpr size_t kMaxImageJsonBytes = 1 << 20;

// Keys of composite tables.
std::string TagKey(const std::string& repository, const std::string& tag);
std::string ChunkRefKey(const std::string& digest, const std::string& image);
std::string ImageRepoKey(const std::string& image, const std::string& repository);
std::string ImageChildKey(const std::string& parent, const std::string& child);
constexpr char kConfigKey[] = "cluster";

class StateView {
 public:
  virtual ~StateView() = default;
  virtual std::optional<std::string> Get(Table table,
                                         const std::string& key) const = 0;
  // Every (key, value) of `table` whose key starts with `prefix`, in key
  // order.
  virtual std::vector<std::pair<std::string, std::string>> Scan(
      Table table, const std::string& prefix) const = 0;
  // Scan one record at a time (whole-table readers such as PlanGarbage
  // need not hold the table in memory). The default calls Scan.
  virtual void ForEach(
      Table table, const std::string& prefix,
      const std::function<void(const std::string& key,
                               const std::string& value)>& visit) const {
    for (const auto& [key, value] : Scan(table, prefix)) visit(key, value);
  }

  // Typed helpers over Get (an unparsable record reads as absent).
  std::optional<ImageRecord> GetImage(const std::string& id) const;
  std::optional<RepositoryRecord> GetRepository(const std::string& name) const;
  std::optional<TagRecord> GetTag(const std::string& repository,
                                  const std::string& tag) const;
  std::optional<UserRecord> GetUser(const std::string& username) const;
  ClusterConfig GetConfig() const;  // empty config when none was stored
};

class StateWriter {
 public:
  virtual ~StateWriter() = default;
  virtual void Put(Table table, const std::string& key,
                   const std::string& value) = 0;
  virtual void Delete(Table table, const std::string& key) = 0;

  void PutImage(const ImageRecord& image);
  void PutRepository(const RepositoryRecord& repository);
  void PutTag(const std::string& repository, const std::string& tag,
              const TagRecord& record);
  void PutUser(const UserRecord& user);
  void PutConfig(const ClusterConfig& config);
};

// Applies `command`. On a failed precondition nothing is written.
CommandResult Apply(const Command& command, const StateView& state,
                    StateWriter* writer);

// Merges `entries` into `list` (spec §2.4.1): new ids are appended with
// their checksum; an existing entry without checksum takes the new one; an
// existing checksum is never replaced. Returns true if `list` changed.
bool MergeImageList(const google::protobuf::RepeatedPtrField<ImageListEntry>& entries,
                    RepositoryRecord* list);

// GC's mark phase over one consistent view (state_machine_gc.cc): the
// image ids that ListGarbageImages answers (see metadata.proto), children
// before parents, and the intents unexpired at `now_unix_ms`.
struct GarbagePlan {
  std::vector<std::string> garbage;
  uint64_t images = 0;
  std::vector<UploadIntent> open_uploads;
};
// Scans every image and repository: for a read snapshot, never for apply.
GarbagePlan PlanGarbage(const StateView& state, int64_t cutoff_unix_ms,
                        int64_t now_unix_ms);

// Internal: shared by state_machine*.cc.
namespace internal {
CommandResult Fail(Reason reason, std::string message);
CommandResult ApplyAccountCommand(const Command& command,
                                  const StateView& state, StateWriter* writer);
// state_machine_shards.cc: SetShardState, UpdateLayerShards, SetReplication.
CommandResult ApplyShardCommand(const Command& command, const StateView& state,
                                StateWriter* writer);
// state_machine_gc.cc: BeginUpload, EndUpload, DeleteImages.
CommandResult ApplyGcCommand(const Command& command, const StateView& state,
                             StateWriter* writer);
// CommitLayer's intent check (UPLOAD_EXPIRED when `intent_id` names no open
// intent); on success, stages its removal. "" passes.
std::optional<CommandResult> ConsumeUploadIntent(const std::string& intent_id,
                                                 const StateView& state,
                                                 StateWriter* writer);
}  // namespace internal

}  // namespace berth::meta

#endif  // BERTH_METADATA_STATE_MACHINE_H_

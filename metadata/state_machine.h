// The deterministic metadata state machine.
//
// Apply() is a pure function of (current state, command): it reads through
// StateView, writes through StateWriter and returns the result that the
// proposer will see. Every replica applying the same log reaches the same
// state and the same answers, so preconditions (image already complete,
// parent unknown, ...) are checked here and nowhere else is authoritative.
// No clock, no randomness, no I/O besides the two interfaces.
#ifndef BERTH_METADATA_STATE_MACHINE_H_
#define BERTH_METADATA_STATE_MACHINE_H_

#include <optional>
#include <string>

#include "proto/metadata.pb.h"

namespace berth::meta {

class StateView {
 public:
  virtual ~StateView() = default;
  virtual std::optional<ImageRecord> GetImage(const std::string& id) const = 0;
  virtual std::optional<RepositoryRecord> GetRepository(
      const std::string& name) const = 0;
  virtual std::optional<TagRecord> GetTag(const std::string& repository,
                                          const std::string& tag) const = 0;
};

class StateWriter {
 public:
  virtual ~StateWriter() = default;
  virtual void PutImage(const ImageRecord& image) = 0;
  virtual void PutRepository(const RepositoryRecord& repository) = 0;
  virtual void PutTag(const std::string& repository, const std::string& tag,
                      const TagRecord& record) = 0;
};

// Applies `command`. On a failed precondition nothing is written.
CommandResult Apply(const Command& command, const StateView& state,
                    StateWriter* writer);

// Merges `entries` into `list` (spec §2.4.1): new ids are appended with
// their checksum; an existing entry without checksum takes the new one; an
// existing checksum is never replaced. Returns true if `list` changed.
bool MergeImageList(const google::protobuf::RepeatedPtrField<ImageListEntry>& entries,
                    RepositoryRecord* list);

}  // namespace berth::meta

#endif  // BERTH_METADATA_STATE_MACHINE_H_

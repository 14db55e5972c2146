// The ordered log every metadata replica applies.
//
// Two implementations sit behind this interface: EtcdLog (a cluster: etcd
// orders the entries, see etcd_log.h) and LocalLog (berth serve: entries in
// the replica's own RocksDB, see local_log.h). Consensus is never ours.
//
// Positions are strictly increasing but may have gaps (etcd revisions are
// shared with other keys). Position 0 means "before the first entry".
#ifndef BERTH_METADATA_LOG_H_
#define BERTH_METADATA_LOG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::meta {

struct LogEntry {
  uint64_t position = 0;
  std::string data;
};

class Log {
 public:
  virtual ~Log() = default;

  // Durably appends `data` and returns its position. An error means the
  // outcome is unknown (the entry may or may not be in the log):
  // UNAVAILABLE, DEADLINE_EXCEEDED; RESOURCE_EXHAUSTED when the log is full
  // (etcd NOSPACE).
  virtual absl::StatusOr<uint64_t> Append(const std::string& data) = 0;

  // The position of the newest entry, read linearizably (an entry appended
  // before this call started has a position <= the answer). 0 if empty.
  virtual absl::StatusOr<uint64_t> LastPosition() = 0;

  // Delivers every entry with position > `after`, in position order, to
  // `on_entry`, on a thread the log owns, until StopTailing() or an error.
  // If `on_entry` returns an error, delivery stops. `on_error` is called
  // once (on the log's thread) when delivery ends for any reason other
  // than StopTailing(); OUT_OF_RANGE means `after` was compacted away.
  // At most one tail is active at a time.
  virtual absl::Status StartTailing(
      uint64_t after, std::function<absl::Status(const LogEntry&)> on_entry,
      std::function<void(const absl::Status&)> on_error) = 0;

  // Like StartTailing, but hands over runs of consecutive entries at once
  // (e.g. every entry of one etcd watch response), so the caller can apply
  // a run in one write; the callback may consume (move from) the entries.
  // Delivery continues after the last entry of a run that returned OK.
  // Default: runs of one entry through StartTailing.
  virtual absl::Status StartTailingRuns(
      uint64_t after,
      std::function<absl::Status(std::vector<LogEntry>&)> on_entries,
      std::function<void(const absl::Status&)> on_error) {
    return StartTailing(
        after,
        [on_entries = std::move(on_entries)](const LogEntry& e) {
          std::vector<LogEntry> run{e};
          return on_entries(run);
        },
        std::move(on_error));
  }

  // Stops delivery and joins the log's thread. After it returns no callback
  // runs. Safe to call when not tailing.
  virtual void StopTailing() = 0;
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_LOG_H_

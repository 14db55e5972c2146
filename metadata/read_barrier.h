// Batches "what is the log's current position?" requests for linearizable
// reads: one LastPosition() call (one etcd Range) serves every reader that
// arrived before that call was sent.
//
// A reader that arrives while a call is in flight cannot use its answer
// (the call may have been sent before the reader's preceding write was
// acknowledged), so it waits for the next round, which the first such
// waiter starts as soon as the in-flight one returns.
//
// Thread-safe; callers block on their own thread. `fetch` runs on the
// thread of whichever caller leads a round, never under the mutex.
#ifndef BERTH_METADATA_READ_BARRIER_H_
#define BERTH_METADATA_READ_BARRIER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

#include "absl/status/statusor.h"

namespace berth::meta {

class ReadBarrier {
 public:
  explicit ReadBarrier(std::function<absl::StatusOr<uint64_t>()> fetch)
      : fetch_(std::move(fetch)) {}

  // A log position at least as new as any entry appended before this call.
  absl::StatusOr<uint64_t> Position();

  // Number of fetch calls made so far (for tests and the benchmark).
  uint64_t rounds() const;

 private:
  const std::function<absl::StatusOr<uint64_t>()> fetch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t started_ = 0;    // rounds started; guarded by mu_
  uint64_t completed_ = 0;  // newest finished round; guarded by mu_
  bool in_flight_ = false;  // guarded by mu_
  absl::StatusOr<uint64_t> last_ = uint64_t{0};  // result of `completed_`
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_READ_BARRIER_H_

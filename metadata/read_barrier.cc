#include "metadata/read_barrier.h"

namespace berth::meta {

absl::StatusOr<uint64_t> ReadBarrier::Position() {
  std::unique_lock<std::mutex> lock(mu_);
  // The first round sent after now: any round already started may have
  // been sent before we arrived.
  const uint64_t need = started_ + 1;
  while (completed_ < need) {
    if (in_flight_) {
      cv_.wait(lock);
      continue;
    }
    in_flight_ = true;
    const uint64_t round = ++started_;
    lock.unlock();
    absl::StatusOr<uint64_t> result = fetch_();
    lock.lock();
    in_flight_ = false;
    completed_ = round;
    last_ = std::move(result);
    cv_.notify_all();
  }
  return last_;
}

uint64_t ReadBarrier::rounds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return started_;
}

}  // namespace berth::meta

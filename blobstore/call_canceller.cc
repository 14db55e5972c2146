#include "blobstore/shard_connection.h"

namespace berth::blob {

void CallCanceller::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  // Under the lock: Unregister() cannot return while this runs, so the
  // registered call's context is still alive.
  if (cancel_) cancel_();
}

bool CallCanceller::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void CallCanceller::Register(std::function<void()> cancel) {
  absl::MutexLock lock(&mu_);
  cancel_ = std::move(cancel);
  if (cancelled_) cancel_();
}

void CallCanceller::Unregister() {
  absl::MutexLock lock(&mu_);
  cancel_ = nullptr;
}

}  // namespace berth::blob

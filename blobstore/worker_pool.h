// A fixed set of threads running submitted tasks in FIFO order.
//
// Contract: a task must never wait for another task of the same pool (no
// nested waits), so the pool cannot deadlock. The destructor runs every
// task already queued, then joins the threads. Submit is thread-safe.
#ifndef BERTH_BLOBSTORE_WORKER_POOL_H_
#define BERTH_BLOBSTORE_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace berth::blob {

class WorkerPool {
 public:
  // Starts `threads` (at least 1) threads.
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> task);

 private:
  void Run();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // Owned by the constructing thread.
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_WORKER_POOL_H_

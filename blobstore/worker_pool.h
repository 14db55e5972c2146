// A fixed set of threads running submitted tasks in FIFO order.
//
// Contract: a task must never wait for another task of the same pool (no
// nested waits), so the pool cannot deadlock. The destructor runs every
// task already queued, then joins the threads. Submit is thread-safe.
#ifndef BERTH_BLOBSTORE_WORKER_POOL_H_
#define BERTH_BLOBSTORE_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

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

// One thread running tasks at given times (earliest first). Tasks must be
// short and must not block. The destructor runs every pending task at
// once (they are cancellations: running them early is safe), then joins.
class Timer {
 public:
  Timer();
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void RunAt(absl::Time when, std::function<void()> task);

 private:
  void Run();

  absl::Mutex mu_;
  std::multimap<absl::Time, std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Owned by the constructing thread.
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_WORKER_POOL_H_

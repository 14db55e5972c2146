#include "blobstore/worker_pool.h"

#include <algorithm>

namespace berth::blob {

WorkerPool::WorkerPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this] { Run(); });
  }
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
}

void WorkerPool::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkerPool* p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping_ and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

Timer::Timer() : thread_([this] { Run(); }) {}

Timer::~Timer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void Timer::RunAt(absl::Time when, std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.emplace(when, std::move(task));
}

void Timer::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      // Wake for a new earlier task, for stopping, or at the first due time.
      for (;;) {
        if (stopping_ && tasks_.empty()) return;
        if (!tasks_.empty() &&
            (stopping_ || tasks_.begin()->first <= absl::Now())) {
          break;
        }
        absl::Time wake = tasks_.empty() ? absl::InfiniteFuture()
                                         : tasks_.begin()->first;
        size_t pending = tasks_.size();
        auto changed = [this, pending]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return stopping_ || tasks_.size() != pending;
        };
        mu_.AwaitWithDeadline(absl::Condition(&changed), wake);
      }
      task = std::move(tasks_.begin()->second);
      tasks_.erase(tasks_.begin());
    }
    task();
  }
}

}  // namespace berth::blob

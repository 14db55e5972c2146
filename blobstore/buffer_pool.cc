#include "blobstore/buffer_pool.h"

#include <utility>

namespace berth::blob {

void PooledBuffer::Release() {
  if (pool_ != nullptr && buf_ != nullptr) pool_->Put(std::move(buf_));
  buf_.reset();
  pool_.reset();
}

std::shared_ptr<BufferPool> BufferPool::Create(size_t buffer_size,
                                               size_t max_idle) {
  return std::shared_ptr<BufferPool>(new BufferPool(buffer_size, max_idle));
}

PooledBuffer BufferPool::Get(size_t size) {
  if (size > buffer_size_) {
    return PooledBuffer(nullptr, std::unique_ptr<char[]>(new char[size]));
  }
  std::unique_ptr<char[]> buf;
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      buf = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (buf == nullptr) buf.reset(new char[buffer_size_]);
  return PooledBuffer(shared_from_this(), std::move(buf));
}

size_t BufferPool::idle() const {
  absl::MutexLock lock(&mu_);
  return idle_.size();
}

void BufferPool::Put(std::unique_ptr<char[]> buf) {
  {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(std::move(buf));
      return;
    }
  }
  buf.reset();  // Pool full: free it, outside the lock.
}

}  // namespace berth::blob

// A bounded free list of equal-size heap buffers.
//
// Why: the read paths need a fresh multi-MiB buffer per chunk (client) or
// per piece (shard). Freshly allocated buffers of that size come from
// mmap or a just-trimmed heap, so every use faulted in and zeroed new
// pages; perf showed clear_page/page-fault time on the download path
// costing about as much as one more copy of the data. Reusing warm
// buffers removes it.
//
// Memory: at most `max_idle` buffers are kept idle (max_idle *
// buffer_size bytes); buffers in use are the callers' and are bounded by
// them. Thread-safe; a PooledBuffer may be released on any thread.
#ifndef BERTH_BLOBSTORE_BUFFER_POOL_H_
#define BERTH_BLOBSTORE_BUFFER_POOL_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace berth::blob {

class BufferPool;

// A buffer that returns to its pool (if it came from one and the pool has
// room) when destroyed. Move-only; one owner at a time.
class PooledBuffer {
 public:
  PooledBuffer() = default;
  ~PooledBuffer() { Release(); }
  PooledBuffer(PooledBuffer&& other) noexcept = default;
  PooledBuffer& operator=(PooledBuffer&& other) noexcept {
    if (this != &other) {
      Release();
      pool_ = std::move(other.pool_);
      buf_ = std::move(other.buf_);
    }
    return *this;
  }

  char* get() const { return buf_.get(); }
  explicit operator bool() const { return buf_ != nullptr; }

  // Gives the buffer back now (or frees it).
  void Release();

 private:
  friend class BufferPool;
  PooledBuffer(std::shared_ptr<BufferPool> pool, std::unique_ptr<char[]> buf)
      : pool_(std::move(pool)), buf_(std::move(buf)) {}

  std::shared_ptr<BufferPool> pool_;  // null: a one-off buffer
  std::unique_ptr<char[]> buf_;
};

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  // Use Create: PooledBuffers keep the pool alive through a shared_ptr.
  static std::shared_ptr<BufferPool> Create(size_t buffer_size,
                                            size_t max_idle);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer of at least `size` bytes: an idle pooled one when `size` <=
  // buffer_size(), else a one-off allocation freed on release.
  PooledBuffer Get(size_t size);

  size_t buffer_size() const { return buffer_size_; }
  size_t idle() const;

 private:
  friend class PooledBuffer;
  BufferPool(size_t buffer_size, size_t max_idle)
      : buffer_size_(buffer_size), max_idle_(max_idle) {}
  void Put(std::unique_ptr<char[]> buf);

  const size_t buffer_size_;
  const size_t max_idle_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<char[]>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_BUFFER_POOL_H_

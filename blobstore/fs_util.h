// Small POSIX helpers of the chunk store (internal to //blobstore).
#ifndef BERTH_BLOBSTORE_FS_UTIL_H_
#define BERTH_BLOBSTORE_FS_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace berth::blob {

// INVALID_ARGUMENT unless `digest` is 64 lowercase hex digits.
absl::Status CheckDigest(absl::string_view digest);

// Makes `path`'s directory entries (files renamed or created in it) durable.
absl::Status FsyncDir(const std::string& path);

// mkdir that tolerates an existing directory; a new one is made durable in
// its parent so a chunk linked below it cannot vanish in a crash.
absl::Status MakeDir(const std::string& parent, const std::string& path);

// Closes the descriptor on destruction.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd();
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  // Gives up ownership: returns the descriptor, which is no longer closed.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_FS_UTIL_H_

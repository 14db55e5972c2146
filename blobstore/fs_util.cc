#include "blobstore/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "blobstore/errors.h"
#include "common/sha256.h"

namespace berth::blob {

absl::Status CheckDigest(absl::string_view digest) {
  if (IsSha256Hex(digest)) return absl::OkStatus();
  return MakeError(
      berth::INVALID_ARGUMENT,
      absl::StrCat("'", digest,
                   "' is not a 64-character lowercase hex sha256"));
}

absl::Status FsyncDir(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("open ", path));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError(err, absl::StrCat("fsync ", path));
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& parent, const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0) return FsyncDir(parent);
  if (errno == EEXIST) return absl::OkStatus();
  return ErrnoError(errno, absl::StrCat("mkdir ", path));
}

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace berth::blob

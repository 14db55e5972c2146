#include "blobstore/chunk_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "blobstore/errors.h"
#include "spdlog/spdlog.h"

namespace berth::blob {
namespace {

namespace fs = std::filesystem;

absl::Status FsError(const std::error_code& ec, absl::string_view what) {
  return ErrnoError(ec.category() == std::system_category() ? ec.value() : EIO,
                    what);
}

absl::Status CheckDigest(absl::string_view digest) {
  if (IsSha256Hex(digest)) return absl::OkStatus();
  return MakeError(
      berth::INVALID_ARGUMENT,
      absl::StrCat("'", digest,
                   "' is not a 64-character lowercase hex sha256"));
}

// Makes `path`'s directory entries (files renamed or created in it) durable.
absl::Status FsyncDir(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("open ", path));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoError(err, absl::StrCat("fsync ", path));
  return absl::OkStatus();
}

// mkdir that tolerates an existing directory; a new one is made durable in
// its parent so a renamed chunk below it cannot vanish in a crash.
absl::Status MakeDir(const std::string& parent, const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0) return FsyncDir(parent);
  if (errno == EEXIST) return absl::OkStatus();
  return ErrnoError(errno, absl::StrCat("mkdir ", path));
}

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string ChunkPath(absl::string_view dir, absl::string_view digest) {
  return absl::StrCat(dir, "/chunks/", digest.substr(0, 2), "/",
                      digest.substr(2, 2), "/", digest);
}

// ---- ChunkWriter ----

ChunkWriter::ChunkWriter(std::string dir, std::string digest, uint64_t size,
                         std::string temp_path, int fd)
    : dir_(std::move(dir)),
      digest_(std::move(digest)),
      size_(size),
      temp_path_(std::move(temp_path)),
      fd_(fd) {}

ChunkWriter::~ChunkWriter() { Abort(); }

void ChunkWriter::Abort() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    if (unlink(temp_path_.c_str()) != 0 && errno != ENOENT) {
      // Left for the cleanup at the next Open.
      spdlog::warn("cannot remove temp file {}: {}", temp_path_,
                   std::strerror(errno));
    }
    temp_path_.clear();
  }
}

absl::Status ChunkWriter::Append(absl::string_view piece) {
  if (fd_ < 0) return absl::FailedPreconditionError("chunk write is finished");
  if (piece.size() > size_ - received_) {
    Abort();
    return MakeError(
        berth::CHUNK_SIZE_MISMATCH,
        absl::StrCat("chunk ", digest_, ": more than the declared ", size_,
                     " bytes"));
  }
  hasher_.Update(piece);
  const char* p = piece.data();
  size_t left = piece.size();
  while (left > 0) {
    ssize_t n = write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      std::string temp = temp_path_;
      Abort();
      return ErrnoError(err, absl::StrCat("write ", temp));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  received_ += piece.size();
  return absl::OkStatus();
}

absl::StatusOr<bool> ChunkWriter::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError("chunk write is finished");
  if (received_ != size_) {
    Abort();
    return MakeError(berth::CHUNK_SIZE_MISMATCH,
                     absl::StrCat("chunk ", digest_, ": received ", received_,
                                  " bytes, declared ", size_));
  }
  std::string actual = hasher_.HexDigest();
  if (actual != digest_) {
    Abort();
    return MakeError(
        berth::CHUNK_DIGEST_MISMATCH,
        absl::StrCat("chunk bytes hash to ", actual, ", not ", digest_));
  }
  const std::string final_path = ChunkPath(dir_, digest_);
  struct stat st;
  if (stat(final_path.c_str(), &st) == 0) {
    Abort();  // Same name, same verified bytes: the stored copy will do.
    return true;
  }
  // fdatasync covers the bytes and the file size, all a reader needs.
  if (fdatasync(fd_) != 0) {
    int err = errno;
    Abort();
    return ErrnoError(err, absl::StrCat("fdatasync ", final_path));
  }
  int rc = close(fd_);
  fd_ = -1;
  if (rc != 0) {
    int err = errno;
    Abort();
    return ErrnoError(err, absl::StrCat("close ", final_path));
  }
  const std::string chunks = absl::StrCat(dir_, "/chunks");
  const std::string d1 = absl::StrCat(chunks, "/", digest_.substr(0, 2));
  const std::string d2 = absl::StrCat(d1, "/", digest_.substr(2, 2));
  absl::Status s = MakeDir(chunks, d1);
  if (s.ok()) s = MakeDir(d1, d2);
  if (!s.ok()) {
    Abort();
    return s;
  }
  // Atomic: a concurrent writer of the same chunk renames identical bytes.
  if (rename(temp_path_.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    Abort();
    return ErrnoError(err, absl::StrCat("rename into ", final_path));
  }
  temp_path_.clear();
  // The chunk is in place; an error here means its durability is unknown,
  // so the write is not acknowledged (a retry finds it already present).
  if (absl::Status s2 = FsyncDir(d2); !s2.ok()) return s2;
  return false;
}

// ---- ChunkStore ----

ChunkStore::ChunkStore(std::string dir, int lock_fd)
    : dir_(std::move(dir)), lock_fd_(lock_fd) {}

ChunkStore::~ChunkStore() { close(lock_fd_); }  // Releases the flock.

absl::StatusOr<std::unique_ptr<ChunkStore>> ChunkStore::Open(
    const std::string& dir) {
  std::error_code ec;
  for (const char* sub : {"chunks", "tmp"}) {
    fs::create_directories(fs::path(dir) / sub, ec);
    if (ec) {
      return FsError(ec, absl::StrCat("cannot create ", dir, "/", sub));
    }
  }
  const std::string lock_path = absl::StrCat(dir, "/LOCK");
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return ErrnoError(errno, absl::StrCat("open ", lock_path));
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(lock_fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "chunk directory ", dir, " is in use by another chunk store"));
    }
    return ErrnoError(err, absl::StrCat("flock ", lock_path));
  }
  std::unique_ptr<ChunkStore> store(new ChunkStore(dir, lock_fd));
  // chunks/ and tmp/ may be new: make their entries durable once, here.
  if (absl::Status s = FsyncDir(dir); !s.ok()) return s;

  // With the lock held no writer can own these: they are left by a crash.
  const fs::path tmp = fs::path(dir) / "tmp";
  size_t removed = 0;
  for (fs::directory_iterator it(tmp, ec), end; !ec && it != end;
       it.increment(ec)) {
    fs::remove_all(it->path(), ec);
    if (ec) break;
    ++removed;
  }
  if (ec) return FsError(ec, absl::StrCat("cannot clean ", tmp.string()));
  if (removed > 0) {
    spdlog::info("chunk store {}: removed {} leftover temp file(s)", dir,
                 removed);
  }
  return store;
}

absl::StatusOr<std::unique_ptr<ChunkWriter>> ChunkStore::BeginWrite(
    absl::string_view digest, uint64_t size) {
  if (absl::Status s = CheckDigest(digest); !s.ok()) return s;
  if (size > kMaxChunkSize) {
    return MakeError(berth::INVALID_ARGUMENT,
                     absl::StrCat("chunk size ", size, " exceeds the maximum ",
                                  kMaxChunkSize));
  }
  std::string temp = absl::StrCat(dir_, "/tmp/", digest, ".XXXXXX");
  std::vector<char> buf(temp.begin(), temp.end());
  buf.push_back('\0');
  int fd = mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("create ", temp));
  return std::unique_ptr<ChunkWriter>(
      new ChunkWriter(dir_, std::string(digest), size, buf.data(), fd));
}

absl::Status ChunkStore::Read(absl::string_view digest, uint64_t offset,
                              uint64_t length, const ByteSink& sink,
                              uint64_t* chunk_size) const {
  if (absl::Status s = CheckDigest(digest); !s.ok()) return s;
  const std::string path = ChunkPath(dir_, digest);
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return MakeError(berth::CHUNK_NOT_FOUND,
                       absl::StrCat("chunk ", digest, " not found"));
    }
    return ErrnoError(errno, absl::StrCat("open ", path));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return ErrnoError(errno, absl::StrCat("stat ", path));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size || length > size - offset) {
    return MakeError(
        berth::INVALID_ARGUMENT,
        absl::StrCat("range ", offset, "+", length, " outside chunk ", digest,
                     " of ", size, " bytes"));
  }
  if (chunk_size != nullptr) *chunk_size = size;
  uint64_t pos = offset;
  const uint64_t end = length == 0 ? size : offset + length;
  std::unique_ptr<char[]> buf(new char[std::min<uint64_t>(
      kPieceSize, std::max<uint64_t>(end - pos, 1))]);
  while (pos < end) {
    size_t want =
        static_cast<size_t>(std::min<uint64_t>(kPieceSize, end - pos));
    ssize_t n = pread(fd.get(), buf.get(), want, static_cast<off_t>(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, absl::StrCat("read ", path));
    }
    if (n == 0) {
      return MakeError(berth::STORAGE_ERROR,
                       absl::StrCat(path, " ended early at byte ", pos));
    }
    pos += static_cast<uint64_t>(n);
    if (absl::Status s = sink(absl::string_view(buf.get(), n)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ChunkStore::Stat(absl::string_view digest) const {
  if (absl::Status s = CheckDigest(digest); !s.ok()) return s;
  const std::string path = ChunkPath(dir_, digest);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return MakeError(berth::CHUNK_NOT_FOUND,
                       absl::StrCat("chunk ", digest, " not found"));
    }
    return ErrnoError(errno, absl::StrCat("stat ", path));
  }
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace berth::blob

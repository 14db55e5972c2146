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
#include "blobstore/fs_util.h"
#include "spdlog/spdlog.h"

namespace berth::blob {
namespace {

namespace fs = std::filesystem;

absl::Status FsError(const std::error_code& ec, absl::string_view what) {
  return ErrnoError(ec.category() == std::system_category() ? ec.value() : EIO,
                    what);
}

}  // namespace

std::string ChunkPath(absl::string_view dir, absl::string_view digest) {
  return absl::StrCat(dir, "/chunks/", digest.substr(0, 2), "/",
                      digest.substr(2, 2), "/", digest);
}

// ---- ChunkWriter ----

ChunkWriter::ChunkWriter(ChunkStore* store, std::string digest, uint64_t size,
                         bool verify, std::string temp_path, int fd)
    : store_(store),
      digest_(std::move(digest)),
      size_(size),
      verify_(verify),
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
  if (verify_) hasher_.Update(piece);
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
  if (verify_) {
    std::string actual = hasher_.HexDigest();
    if (actual != digest_) {
      Abort();
      return MakeError(
          berth::CHUNK_DIGEST_MISMATCH,
          absl::StrCat("chunk bytes hash to ", actual, ", not ", digest_));
    }
  }
  const std::string& dir = store_->dir();
  const std::string final_path = ChunkPath(dir, digest_);
  // Same name, same verified bytes: the stored copy will do. Refresh its
  // mtime so a sweep's grace period protects the upload that reuses it.
  auto already_present = [&]() -> absl::StatusOr<bool> {
    Abort();
    if (utimensat(AT_FDCWD, final_path.c_str(), nullptr, 0) != 0 &&
        errno != ENOENT) {
      return ErrnoError(errno, absl::StrCat("touch ", final_path));
    }
    return true;
  };
  struct stat st;
  if (stat(final_path.c_str(), &st) == 0) {
    absl::MutexLock lock(&store_->NameLock(digest_));
    if (stat(final_path.c_str(), &st) == 0) return already_present();
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
  const std::string chunks = absl::StrCat(dir, "/chunks");
  const std::string d1 = absl::StrCat(chunks, "/", digest_.substr(0, 2));
  const std::string d2 = absl::StrCat(d1, "/", digest_.substr(2, 2));
  absl::Status s = MakeDir(chunks, d1);
  if (s.ok()) s = MakeDir(d1, d2);
  if (!s.ok()) {
    Abort();
    return s;
  }
  // link() fails with EEXIST if a concurrent writer of the same chunk got
  // there first: exactly one write creates the file.
  {
    absl::MutexLock lock(&store_->NameLock(digest_));
    if (link(temp_path_.c_str(), final_path.c_str()) != 0) {
      int err = errno;
      if (err == EEXIST) return already_present();
      Abort();
      return ErrnoError(err, absl::StrCat("link into ", final_path));
    }
    store_->Added(size_);
  }
  Abort();  // Removes the temp name; the chunk keeps its own.
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
  for (const char* sub : {"chunks", "tmp", "quarantine"}) {
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
  // The subdirectories may be new: make their entries durable once, here.
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
  if (absl::Status s = store->CountChunks(); !s.ok()) return s;
  return store;
}

absl::StatusOr<std::unique_ptr<ChunkWriter>> ChunkStore::BeginWrite(
    absl::string_view digest, uint64_t size, bool verify) {
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
  return std::unique_ptr<ChunkWriter>(new ChunkWriter(
      this, std::string(digest), size, verify, buf.data(), fd));
}

// ---- ChunkFile ----

ChunkFile::~ChunkFile() { close(fd_); }

absl::StatusOr<size_t> ChunkFile::ReadAt(uint64_t pos, char* dst,
                                         size_t n) const {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd_, dst + done, n - done,
                      static_cast<off_t>(pos + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, absl::StrCat("read ", path_));
    }
    if (r == 0) break;  // end of file
    done += static_cast<size_t>(r);
  }
  return done;
}

absl::StatusOr<std::unique_ptr<ChunkFile>> ChunkStore::OpenChunk(
    absl::string_view digest) const {
  if (absl::Status s = CheckDigest(digest); !s.ok()) return s;
  std::string path = ChunkPath(dir_, digest);
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
  const int raw = fd.release();
  return std::unique_ptr<ChunkFile>(
      new ChunkFile(std::move(path), raw, static_cast<uint64_t>(st.st_size)));
}

absl::Status ChunkStore::Read(absl::string_view digest, uint64_t offset,
                              uint64_t length, const ByteSink& sink,
                              uint64_t* chunk_size) const {
  absl::StatusOr<std::unique_ptr<ChunkFile>> file = OpenChunk(digest);
  if (!file.ok()) return file.status();
  const uint64_t size = (*file)->size();
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
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(kPieceSize, end - pos));
    absl::StatusOr<size_t> got = (*file)->ReadAt(pos, buf.get(), n);
    if (!got.ok()) return got.status();
    if (*got < n) {
      return MakeError(berth::STORAGE_ERROR,
                       absl::StrCat((*file)->path(), " ended early at byte ",
                                    pos + *got));
    }
    pos += n;
    if (absl::Status s = sink(absl::string_view(buf.get(), n)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ChunkStore::ReadInto(
    absl::string_view digest, uint64_t size, char* dst,
    const std::function<void(const char*, size_t)>& on_piece) const {
  absl::StatusOr<std::unique_ptr<ChunkFile>> file = OpenChunk(digest);
  if (!file.ok()) return file.status();
  if ((*file)->size() != size) {
    return MakeError(berth::CHUNK_SIZE_MISMATCH,
                     absl::StrCat((*file)->path(), " has ", (*file)->size(),
                                  " bytes, expected ", size));
  }
  uint64_t pos = 0;
  while (pos < size) {
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(kPieceSize, size - pos));
    absl::StatusOr<size_t> got = (*file)->ReadAt(pos, dst + pos, n);
    if (!got.ok()) return got.status();
    if (*got < n) {
      return MakeError(berth::CHUNK_SIZE_MISMATCH,
                       absl::StrCat((*file)->path(), " ended early at byte ",
                                    pos + *got));
    }
    on_piece(dst + pos, n);
    pos += n;
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

// ChunkStore's maintenance operations: counting, listing, deleting,
// verifying and capacity. See chunk_store.h for the contracts.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "blobstore/chunk_store.h"
#include "blobstore/errors.h"
#include "blobstore/fs_util.h"
#include "spdlog/spdlog.h"

namespace berth::blob {
namespace {

namespace fs = std::filesystem;

bool IsHexName(const std::string& name, size_t len) {
  if (name.size() != len) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// Sorted names in `dir` that are `len` lowercase hex digits; a missing
// directory is empty.
absl::StatusOr<std::vector<std::string>> HexNames(const std::string& dir,
                                                  size_t len) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (IsHexName(name, len)) names.push_back(std::move(name));
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoError(ec.value(), absl::StrCat("list ", dir));
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status NotFound(absl::string_view digest) {
  return MakeError(berth::CHUNK_NOT_FOUND,
                   absl::StrCat("chunk ", digest, " not found"));
}

}  // namespace

void ChunkStore::Added(uint64_t size) {
  used_bytes_.fetch_add(size);
  chunk_count_.fetch_add(1);
}

void ChunkStore::Removed(uint64_t size) {
  used_bytes_.fetch_sub(size);
  chunk_count_.fetch_sub(1);
}

absl::Status ChunkStore::CountChunks() {
  std::string after;
  for (;;) {
    auto page = List(after, 10000);
    if (!page.ok()) return page.status();
    for (const ChunkEntry& e : *page) Added(e.size);
    if (page->size() < 10000) return absl::OkStatus();
    after = page->back().digest;
  }
}

absl::StatusOr<std::vector<ChunkEntry>> ChunkStore::List(
    absl::string_view start_after, size_t limit) const {
  std::vector<ChunkEntry> out;
  if (limit == 0) return out;
  const std::string after(start_after);
  const std::string a1 = after.substr(0, std::min<size_t>(2, after.size()));
  const std::string a2 = after.substr(0, std::min<size_t>(4, after.size()));
  const std::string chunks = absl::StrCat(dir_, "/chunks");
  auto level1 = HexNames(chunks, 2);
  if (!level1.ok()) return level1.status();
  for (const std::string& d1 : *level1) {
    if (d1 < a1) continue;
    auto level2 = HexNames(absl::StrCat(chunks, "/", d1), 2);
    if (!level2.ok()) return level2.status();
    for (const std::string& d2 : *level2) {
      if (d1 + d2 < a2) continue;
      const std::string leaf = absl::StrCat(chunks, "/", d1, "/", d2);
      auto files = HexNames(leaf, 64);
      if (!files.ok()) return files.status();
      for (const std::string& digest : *files) {
        if (digest <= after) continue;
        struct stat st;
        const std::string path = absl::StrCat(leaf, "/", digest);
        if (stat(path.c_str(), &st) != 0) {
          if (errno == ENOENT) continue;  // Deleted meanwhile.
          return ErrnoError(errno, absl::StrCat("stat ", path));
        }
        out.push_back({digest, static_cast<uint64_t>(st.st_size),
                       static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                           st.st_mtim.tv_nsec});
        if (out.size() == limit) return out;
      }
    }
  }
  return out;
}

absl::Mutex& ChunkStore::NameLock(absl::string_view digest) {
  // Digests are uniform hex: the first two digits spread the stripes.
  unsigned v = 0;
  for (char c : digest.substr(0, 2)) v = v * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
  return name_locks_[v % 64];
}

absl::StatusOr<bool> ChunkStore::Delete(absl::string_view digest,
                                        int64_t unless_modified_after) {
  if (absl::Status s = CheckDigest(digest); !s.ok()) return s;
  const std::string path = ChunkPath(dir_, digest);
  {
    absl::MutexLock lock(&NameLock(digest));
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return NotFound(digest);
      return ErrnoError(errno, absl::StrCat("stat ", path));
    }
    const int64_t mtime =
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
        st.st_mtim.tv_nsec;
    if (unless_modified_after > 0 && mtime > unless_modified_after) {
      return false;
    }
    if (unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return NotFound(digest);
      return ErrnoError(errno, absl::StrCat("unlink ", path));
    }
    Removed(static_cast<uint64_t>(st.st_size));
  }
  if (absl::Status s = FsyncDir(path.substr(0, path.rfind('/'))); !s.ok()) {
    return s;
  }
  return true;
}

absl::StatusOr<VerifyResult> ChunkStore::Verify(absl::string_view digest,
                                                bool quarantine) {
  if (absl::Status s = CheckDigest(digest); !s.ok()) return s;
  const std::string path = ChunkPath(dir_, digest);
  VerifyResult result;
  Sha256 hasher;
  absl::Status s = Read(
      digest, 0, 0,
      [&](absl::string_view piece) {
        hasher.Update(piece);
        return absl::OkStatus();
      },
      &result.size);
  if (!s.ok()) return s;
  result.actual_digest = hasher.HexDigest();
  result.good = result.actual_digest == digest;
  if (!result.good) {
    spdlog::warn("chunk store {}: chunk {} is corrupt (hashes to {})", dir_,
                 std::string(digest), result.actual_digest);
  }
  if (!result.good && quarantine) {
    const std::string target =
        absl::StrCat(dir_, "/quarantine/", digest, ".",
                     quarantine_seq_.fetch_add(1), ".", getpid());
    if (rename(path.c_str(), target.c_str()) != 0) {
      if (errno == ENOENT) return NotFound(digest);
      return ErrnoError(errno, absl::StrCat("rename ", path, " to ", target));
    }
    Removed(result.size);
    result.quarantined = true;
    if (absl::Status fs = FsyncDir(path.substr(0, path.rfind('/')));
        !fs.ok()) {
      return fs;
    }
  }
  return result;
}

absl::StatusOr<StoreCapacity> ChunkStore::Capacity() const {
  struct statvfs vfs;
  if (statvfs(dir_.c_str(), &vfs) != 0) {
    return ErrnoError(errno, absl::StrCat("statvfs ", dir_));
  }
  StoreCapacity c;
  c.total_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  c.free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  c.used_bytes = used_bytes_.load();
  c.chunk_count = chunk_count_.load();
  return c;
}

}  // namespace berth::blob

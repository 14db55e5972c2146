// A shard's chunks on local disk.
//
// Layout under the store's directory:
//   chunks/ab/cd/<digest>   a chunk, named by the 64-hex sha256 of its bytes
//   tmp/<digest>.XXXXXX     a chunk being written (removed at Open)
//   quarantine/<digest>.<n> corrupt copies moved aside by Verify
//   LOCK                    flock'ed while a ChunkStore has the directory
//
// A chunk file appears only complete, verified and fsynced (temp file, then
// link into place, which fails if the name exists: concurrent writers of
// the same chunk are safe and exactly one of them creates it); a file in
// chunks/ is never modified. Every failed write removes its temp file.
//
// Thread-safety: ChunkStore is safe to use from many threads at once; each
// ChunkWriter has one owner.
#ifndef BERTH_BLOBSTORE_CHUNK_STORE_H_
#define BERTH_BLOBSTORE_CHUNK_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "blobstore/limits.h"
#include "common/sha256.h"

namespace berth::blob {

using ByteSink = std::function<absl::Status(absl::string_view)>;

// "<dir>/chunks/ab/cd/<digest>" (no validation of `digest`).
std::string ChunkPath(absl::string_view dir, absl::string_view digest);

class ChunkStore;

// One chunk being written. Created by ChunkStore::BeginWrite; the temp file
// is removed by Abort(), by a failed Commit(), or by the destructor.
class ChunkWriter {
 public:
  ~ChunkWriter();
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Appends the next piece (hashing it unless the write is trusted). More
  // bytes than the declared size is CHUNK_SIZE_MISMATCH at once; a disk
  // error is STORAGE_ERROR. After an error the writer is aborted.
  absl::Status Append(absl::string_view piece);

  // Verifies size (CHUNK_SIZE_MISMATCH) and, unless trusted, digest
  // (CHUNK_DIGEST_MISMATCH), then makes the chunk durable under its name.
  // Returns true when the chunk was already stored (the new copy is
  // dropped and the stored one's mtime refreshed). On any error nothing of
  // this write remains on disk.
  absl::StatusOr<bool> Commit();

  // Drops the write. Idempotent.
  void Abort();

  uint64_t received() const { return received_; }

 private:
  friend class ChunkStore;
  ChunkWriter(ChunkStore* store, std::string digest, uint64_t size,
              bool verify, std::string temp_path, int fd);

  ChunkStore* const store_;
  const std::string digest_;
  const uint64_t size_;
  const bool verify_;
  std::string temp_path_;  // empty once committed or aborted
  int fd_;                 // -1 once closed
  uint64_t received_ = 0;
  Sha256 hasher_;
};

// A stored chunk opened for reading (ChunkStore::OpenChunk). Chunk files
// are never modified, so reads at any offset see the committed bytes.
// Thread-safe (pread only); closes its descriptor on destruction.
class ChunkFile {
 public:
  ~ChunkFile();
  ChunkFile(const ChunkFile&) = delete;
  ChunkFile& operator=(const ChunkFile&) = delete;

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Reads up to `n` bytes at `pos` into dst[0, n), retrying short reads;
  // returns how many it read: fewer than `n` only at the end of the file.
  // STORAGE_ERROR (from the errno) on a failed read.
  absl::StatusOr<size_t> ReadAt(uint64_t pos, char* dst, size_t n) const;

 private:
  friend class ChunkStore;
  ChunkFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}

  const std::string path_;
  const int fd_;
  const uint64_t size_;
};

struct ChunkEntry {
  std::string digest;
  uint64_t size = 0;
  int64_t mtime_unix_nanos = 0;
};

struct VerifyResult {
  bool good = false;
  uint64_t size = 0;
  std::string actual_digest;
  bool quarantined = false;
};

struct StoreCapacity {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t chunk_count = 0;
};

class ChunkStore {
 public:
  // Creates `dir` and its subdirectories if needed, takes the directory
  // lock (a second store on the same dir is FAILED_PRECONDITION), removes
  // leftover temp files and counts the stored chunks.
  static absl::StatusOr<std::unique_ptr<ChunkStore>> Open(
      const std::string& dir);
  ~ChunkStore();
  ChunkStore(const ChunkStore&) = delete;
  ChunkStore& operator=(const ChunkStore&) = delete;

  // Starts writing chunk `digest` of `size` bytes. INVALID_ARGUMENT for a
  // malformed digest or a size above kMaxChunkSize. `verify` false means
  // the caller has hashed these very bytes already (in-process use only):
  // the store does not hash them again.
  absl::StatusOr<std::unique_ptr<ChunkWriter>> BeginWrite(
      absl::string_view digest, uint64_t size, bool verify = true);

  // Opens chunk `digest` for reading. CHUNK_NOT_FOUND if absent,
  // INVALID_ARGUMENT for a malformed digest, STORAGE_ERROR otherwise.
  absl::StatusOr<std::unique_ptr<ChunkFile>> OpenChunk(
      absl::string_view digest) const;

  // Streams bytes [offset, offset+length) of the chunk (length 0 = to the
  // end) to `sink` in pieces of at most kPieceSize; stops at the first sink
  // error and returns it. If `chunk_size` is set it receives the chunk's
  // size before the first sink call. CHUNK_NOT_FOUND if absent,
  // INVALID_ARGUMENT if the range does not fit. Bytes are not re-verified
  // here: readers verify against the digest they expect.
  absl::Status Read(absl::string_view digest, uint64_t offset, uint64_t length,
                    const ByteSink& sink, uint64_t* chunk_size = nullptr) const;

  // Reads the whole chunk into dst[0, size) with no intermediate buffer,
  // calling `on_piece` for each piece read, in order (for hashing).
  // CHUNK_SIZE_MISMATCH if the stored chunk is not `size` bytes.
  absl::Status ReadInto(
      absl::string_view digest, uint64_t size, char* dst,
      const std::function<void(const char*, size_t)>& on_piece) const;

  // The chunk's size, or CHUNK_NOT_FOUND.
  absl::StatusOr<uint64_t> Stat(absl::string_view digest) const;

  // Up to `limit` chunks with digests greater than `start_after`, in
  // digest order.
  absl::StatusOr<std::vector<ChunkEntry>> List(absl::string_view start_after,
                                               size_t limit) const;

  // Removes the chunk (durably) and returns true. With
  // `unless_modified_after` > 0 (unix nanos) a chunk whose mtime is later
  // is kept (returns false); the check and the unlink are atomic with
  // respect to Commit of the same digest. CHUNK_NOT_FOUND if absent.
  absl::StatusOr<bool> Delete(absl::string_view digest,
                              int64_t unless_modified_after = 0);

  // Re-hashes the stored bytes. A corrupt copy is moved to quarantine/ if
  // `quarantine`. CHUNK_NOT_FOUND if absent.
  absl::StatusOr<VerifyResult> Verify(absl::string_view digest,
                                      bool quarantine);

  // File system size and free space, and what the chunks use.
  absl::StatusOr<StoreCapacity> Capacity() const;

  const std::string& dir() const { return dir_; }

 private:
  friend class ChunkWriter;
  ChunkStore(std::string dir, int lock_fd);
  absl::Status CountChunks();
  void Added(uint64_t size);
  void Removed(uint64_t size);
  // Serializes the final step of a Commit with a Delete of the same digest.
  absl::Mutex& NameLock(absl::string_view digest);

  const std::string dir_;
  const int lock_fd_;
  std::atomic<uint64_t> used_bytes_{0};
  std::atomic<uint64_t> chunk_count_{0};
  std::atomic<uint64_t> quarantine_seq_{0};
  absl::Mutex name_locks_[64];
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_CHUNK_STORE_H_

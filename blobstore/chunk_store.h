// A shard's chunks on local disk.
//
// Layout under the store's directory:
//   chunks/ab/cd/<digest>   a chunk, named by the 64-hex sha256 of its bytes
//   tmp/<digest>.XXXXXX     a chunk being written (removed at Open)
//   LOCK                    flock'ed while a ChunkStore has the directory
//
// A chunk file appears only complete, verified and fsynced (temp file, then
// rename); a file in chunks/ is never modified. Thread-safety: ChunkStore is
// safe to use from many threads at once; each ChunkWriter has one owner.
#ifndef BERTH_BLOBSTORE_CHUNK_STORE_H_
#define BERTH_BLOBSTORE_CHUNK_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "blobstore/limits.h"
#include "common/sha256.h"

namespace berth::blob {

using ByteSink = std::function<absl::Status(absl::string_view)>;

// "<dir>/chunks/ab/cd/<digest>" (no validation of `digest`).
std::string ChunkPath(absl::string_view dir, absl::string_view digest);

// One chunk being written. Created by ChunkStore::BeginWrite; the temp file
// is removed by Abort(), by a failed Commit(), or by the destructor.
class ChunkWriter {
 public:
  ~ChunkWriter();
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Appends the next piece (hashing it). More bytes than the declared size
  // is CHUNK_SIZE_MISMATCH at once; a disk error is STORAGE_ERROR. After an
  // error the writer is aborted.
  absl::Status Append(absl::string_view piece);

  // Verifies size (CHUNK_SIZE_MISMATCH) and digest (CHUNK_DIGEST_MISMATCH),
  // then makes the chunk durable under its name. Returns true when the
  // chunk was already stored (the new copy is dropped). On any error
  // nothing of this write remains on disk.
  absl::StatusOr<bool> Commit();

  // Drops the write. Idempotent.
  void Abort();

  uint64_t received() const { return received_; }

 private:
  friend class ChunkStore;
  ChunkWriter(std::string dir, std::string digest, uint64_t size,
              std::string temp_path, int fd);

  const std::string dir_;
  const std::string digest_;
  const uint64_t size_;
  std::string temp_path_;  // empty once committed or aborted
  int fd_;                 // -1 once closed
  uint64_t received_ = 0;
  Sha256 hasher_;
};

class ChunkStore {
 public:
  // Creates `dir` and its subdirectories if needed, takes the directory
  // lock (a second store on the same dir is FAILED_PRECONDITION) and
  // removes leftover temp files.
  static absl::StatusOr<std::unique_ptr<ChunkStore>> Open(
      const std::string& dir);
  ~ChunkStore();
  ChunkStore(const ChunkStore&) = delete;
  ChunkStore& operator=(const ChunkStore&) = delete;

  // Starts writing chunk `digest` of `size` bytes. INVALID_ARGUMENT for a
  // malformed digest or a size above kMaxChunkSize.
  absl::StatusOr<std::unique_ptr<ChunkWriter>> BeginWrite(
      absl::string_view digest, uint64_t size);

  // Streams bytes [offset, offset+length) of the chunk (length 0 = to the
  // end) to `sink` in pieces of at most kPieceSize; stops at the first sink
  // error and returns it. If `chunk_size` is set it receives the chunk's
  // size before the first sink call. CHUNK_NOT_FOUND if absent,
  // INVALID_ARGUMENT if the range does not fit. Bytes are not re-verified
  // here: readers verify against the digest they expect.
  absl::Status Read(absl::string_view digest, uint64_t offset, uint64_t length,
                    const ByteSink& sink, uint64_t* chunk_size = nullptr) const;

  // The chunk's size, or CHUNK_NOT_FOUND.
  absl::StatusOr<uint64_t> Stat(absl::string_view digest) const;

  const std::string& dir() const { return dir_; }

 private:
  ChunkStore(std::string dir, int lock_fd);

  const std::string dir_;
  const int lock_fd_;
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_CHUNK_STORE_H_

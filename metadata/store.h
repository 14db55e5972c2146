// A metadata replica's RocksDB: one column family per record kind.
//
//   images        id -> ImageRecord
//   repositories  "<ns>/<repo>" -> RepositoryRecord (also the search index:
//                 Search scans it, matching name and description)
//   tags          "<ns>/<repo>" \0 tag -> TagRecord
//   results       request id -> CommandResult (apply's answer to a proposer)
//   log           big-endian position -> Command bytes (local log only)
//   meta          "applied" -> big-endian position of the last applied entry
//   users         username -> UserRecord
//   emails        lower-cased email -> username (uniqueness index)
//   config        "cluster" -> ClusterConfig
//   chunkrefs     chunk digest \0 image id -> "" (GC: who references a chunk)
//   imagerepos    image id \0 "<ns>/<repo>" -> "" (repositories whose image
//                 list holds the image; read permission on images)
//   resulttimes   big-endian proposal ms ++ request id -> "" (pruning order
//                 of `results`)
//   imagechildren parent id \0 child id -> "" (GC: an image with children
//                 stays; metadata/state_machine_gc.cc)
//   uploads       intent id -> UploadIntent (GC: uploads in flight)
//
// The applied position is written in the same WriteBatch as the state it
// covers, so after a crash state and position always agree.
//
// Thread-safety: RocksDB is thread-safe; the Store object is immutable
// after Open (the replica's apply thread writes, gRPC threads read).
#ifndef BERTH_METADATA_STORE_H_
#define BERTH_METADATA_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"

namespace berth::meta {

// State tables the state machine reads and writes (see state_machine.h).
enum class Table {
  kImages = 0,
  kRepositories,
  kTags,
  kUsers,
  kEmails,
  kConfig,
  kChunkRefs,
  kImageRepos,
  kImageChildren,
  kUploads,
};
constexpr int kNumTables = 10;
const char* TableName(Table t);

class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir);
  ~Store();

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* images() const { return cf_[1]; }
  rocksdb::ColumnFamilyHandle* repositories() const { return cf_[2]; }
  rocksdb::ColumnFamilyHandle* tags() const { return cf_[3]; }
  rocksdb::ColumnFamilyHandle* results() const { return cf_[4]; }
  rocksdb::ColumnFamilyHandle* log() const { return cf_[5]; }
  rocksdb::ColumnFamilyHandle* meta() const { return cf_[6]; }
  rocksdb::ColumnFamilyHandle* result_times() const { return cf_[12]; }
  rocksdb::ColumnFamilyHandle* table(Table t) const;
  const std::string& dir() const { return dir_; }

  // The applied position recorded in `meta` (0 when nothing was applied).
  absl::StatusOr<uint64_t> ReadAppliedPosition(
      const rocksdb::Snapshot* snapshot = nullptr) const;
  static std::string AppliedKey() { return "applied"; }
  // meta keys of result pruning (log_apply.h): the largest prune point
  // and proposal time seen in the log, and the first `resulttimes` key not
  // yet pruned.
  static std::string PrunePointKey() { return "prune_point"; }
  static std::string LogClockKey() { return "log_clock"; }
  static std::string PruneCursorKey() { return "prune_cursor"; }

  // sha256 over every state table and the results, read from one
  // snapshot, with the applied position of that snapshot. Replicas that
  // applied the same log prefix have the same digest.
  struct Digest {
    uint64_t applied = 0;
    std::string hex;
    uint64_t records = 0;
  };
  absl::StatusOr<Digest> ComputeDigest() const;

  // Writes a RocksDB checkpoint (consistent across column families) into
  // `dir`, which must not exist. Returns its applied position.
  absl::StatusOr<uint64_t> CreateCheckpoint(const std::string& dir) const;

 private:
  Store() = default;
  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cf_;
};

std::string EncodePosition(uint64_t position);  // 8 bytes, big-endian
uint64_t DecodePosition(const std::string& bytes);

absl::Status FromRocks(const rocksdb::Status& s);

}  // namespace berth::meta

#endif  // BERTH_METADATA_STORE_H_

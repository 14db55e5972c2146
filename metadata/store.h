// A metadata replica's RocksDB: one column family per record kind.
//
//   images        id -> ImageRecord
//   repositories  "<ns>/<repo>" -> RepositoryRecord
//   tags          "<ns>/<repo>" \0 tag -> TagRecord
//   results       request id -> CommandResult (apply's answer to a proposer)
//   log           big-endian position -> Command bytes (local log only)
//   meta          "applied" -> big-endian position of the last applied entry
//
// The applied position is written in the same WriteBatch as the state it
// covers, so after a crash state and position always agree.
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

  // The applied position recorded in `meta` (0 when nothing was applied).
  absl::StatusOr<uint64_t> ReadAppliedPosition() const;
  static std::string AppliedKey() { return "applied"; }

 private:
  Store() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cf_;
};

std::string EncodePosition(uint64_t position);  // 8 bytes, big-endian
uint64_t DecodePosition(const std::string& bytes);

absl::Status FromRocks(const rocksdb::Status& s);

}  // namespace berth::meta

#endif  // BERTH_METADATA_STORE_H_

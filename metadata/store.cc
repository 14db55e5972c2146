#include "metadata/store.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"

namespace berth::meta {
namespace {

// Column family order; cf_[i] is the i-th name. Never reorder (on-disk
// names matter, not the order, but the accessors index into cf_).
constexpr const char* kFamilies[] = {
    "default", "images", "repositories", "tags",     "results", "log",
    "meta",    "users",  "emails",       "config",   "chunkrefs",
    "imagerepos", "resulttimes", "imagechildren", "uploads"};
// cf_ index of each Table.
constexpr int kTableIndex[kNumTables] = {1, 2, 3, 7, 8, 9, 10, 11, 13, 14};

}  // namespace

const char* TableName(Table t) {
  return kFamilies[kTableIndex[static_cast<int>(t)]];
}

std::string EncodePosition(uint64_t position) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(position & 0xff);
    position >>= 8;
  }
  return out;
}

uint64_t DecodePosition(const std::string& bytes) {
  uint64_t v = 0;
  for (unsigned char c : bytes) v = (v << 8) | c;
  return v;
}

absl::Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError(s.ToString());
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(s.ToString());
  return absl::InternalError(absl::StrCat("rocksdb: ", s.ToString()));
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  // Most lookups of apply are misses (new image ids, new request ids):
  // bloom filters answer them without searching the memtable's skiplist
  // or reading SST blocks.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  options.memtable_whole_key_filtering = true;
  options.memtable_prefix_bloom_size_ratio = 0.05;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : kFamilies) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
  }
  std::unique_ptr<Store> store(new Store());
  store->dir_ = dir;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(options, dir, families, &store->cf_, &db);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot open metadata store at '", dir, "': ",
                     s.ToString()));
  }
  store->db_.reset(db);
  return store;
}

Store::~Store() {
  for (auto* cf : cf_) db_->DestroyColumnFamilyHandle(cf);
  db_->Close();
}

rocksdb::ColumnFamilyHandle* Store::table(Table t) const {
  return cf_[kTableIndex[static_cast<int>(t)]];
}

absl::StatusOr<uint64_t> Store::ReadAppliedPosition(
    const rocksdb::Snapshot* snapshot) const {
  std::string value;
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  rocksdb::Status s = db_->Get(ro, meta(), AppliedKey(), &value);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return FromRocks(s);
  return DecodePosition(value);
}

absl::StatusOr<Store::Digest> Store::ComputeDigest() const {
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  Digest d;
  Sha256 hasher;
  absl::Status status;
  std::vector<std::pair<std::string, rocksdb::ColumnFamilyHandle*>> cfs;
  for (int t = 0; t < kNumTables; ++t) {
    cfs.emplace_back(TableName(static_cast<Table>(t)),
                     table(static_cast<Table>(t)));
  }
  cfs.emplace_back("results", results());
  cfs.emplace_back("resulttimes", result_times());
  for (const auto& [name, cf] : cfs) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      // Length-prefixed so that no two record sets hash alike.
      std::string rec = absl::StrCat(name, "\n", it->key().size(), ":",
                                     absl::string_view(it->key().data(), it->key().size()), "\n",
                                     it->value().size(), ":");
      hasher.Update(rec);
      hasher.Update(it->value().data(), it->value().size());
      ++d.records;
    }
    if (!it->status().ok()) status = FromRocks(it->status());
  }
  absl::StatusOr<uint64_t> applied = ReadAppliedPosition(snap);
  db_->ReleaseSnapshot(snap);
  if (!status.ok()) return status;
  if (!applied.ok()) return applied.status();
  d.applied = *applied;
  d.hex = hasher.HexDigest();
  return d;
}

absl::StatusOr<uint64_t> Store::CreateCheckpoint(const std::string& dir) const {
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return FromRocks(s);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // Flush first so the checkpoint is mostly hard links, not a WAL replay.
  s = checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0);
  if (!s.ok()) return FromRocks(s);
  // The checkpoint's own applied position: open it read-only.
  rocksdb::Options options;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : kFamilies) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  s = rocksdb::DB::OpenForReadOnly(options, dir, families, &handles, &db);
  if (!s.ok()) return FromRocks(s);
  std::string value;
  s = db->Get(rocksdb::ReadOptions(), handles[6], AppliedKey(), &value);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return FromRocks(s);
  return DecodePosition(value);
}

}  // namespace berth::meta

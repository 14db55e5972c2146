#include "metadata/store.h"

#include "absl/strings/str_cat.h"

namespace berth::meta {

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
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {"default", "images", "repositories", "tags",
                           "results", "log", "meta"}) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
  }
  std::unique_ptr<Store> store(new Store());
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

absl::StatusOr<uint64_t> Store::ReadAppliedPosition() const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta(), AppliedKey(),
                               &value);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return FromRocks(s);
  return DecodePosition(value);
}

}  // namespace berth::meta

// StateView/StateWriter bound to a Store: what the replica's apply thread
// and its readers use. StoreView reads committed state, optionally at a
// snapshot (readers); BatchWriter stages writes in a WriteBatch (apply).
#ifndef BERTH_METADATA_STORE_VIEW_H_
#define BERTH_METADATA_STORE_VIEW_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "metadata/state_machine.h"
#include "metadata/store.h"
#include "rocksdb/write_batch.h"

namespace berth::meta {

class StoreView final : public StateView {
 public:
  // `snapshot` may be null (latest committed state).
  StoreView(const Store& store, const rocksdb::Snapshot* snapshot = nullptr)
      : store_(store) {
    options_.snapshot = snapshot;
  }
  std::optional<std::string> Get(Table table,
                                 const std::string& key) const override {
    std::string value;
    rocksdb::Status s =
        store_.db()->Get(options_, store_.table(table), key, &value);
    if (!s.ok()) return std::nullopt;
    return value;
  }
  std::vector<std::pair<std::string, std::string>> Scan(
      Table table, const std::string& prefix) const override {
    std::vector<std::pair<std::string, std::string>> out;
    std::unique_ptr<rocksdb::Iterator> it(
        store_.db()->NewIterator(options_, store_.table(table)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      out.emplace_back(it->key().ToString(), it->value().ToString());
    }
    return out;
  }
  void ForEach(Table table, const std::string& prefix,
               const std::function<void(const std::string&, const std::string&)>&
                   visit) const override {
    std::unique_ptr<rocksdb::Iterator> it(
        store_.db()->NewIterator(options_, store_.table(table)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      visit(it->key().ToString(), it->value().ToString());
    }
  }

 private:
  const Store& store_;
  rocksdb::ReadOptions options_;
};

class BatchWriter final : public StateWriter {
 public:
  BatchWriter(const Store& store, rocksdb::WriteBatch* batch)
      : store_(store), batch_(batch) {}
  void Put(Table table, const std::string& key,
           const std::string& value) override {
    batch_->Put(store_.table(table), key, value);
  }
  void Delete(Table table, const std::string& key) override {
    batch_->Delete(store_.table(table), key);
  }

 private:
  const Store& store_;
  rocksdb::WriteBatch* batch_;
};

// Holds a RocksDB snapshot for the lifetime of a read.
class ScopedSnapshot {
 public:
  explicit ScopedSnapshot(rocksdb::DB* db) : db_(db), snap_(db->GetSnapshot()) {}
  ~ScopedSnapshot() { db_->ReleaseSnapshot(snap_); }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snap_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snap_;
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_STORE_VIEW_H_

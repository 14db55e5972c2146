// Apply tests without RocksDB: an in-memory StateView, and RunCommand,
// which stages a command's writes and commits them only on success, like
// the replica's WriteBatch (apply never sees its own writes). A failed
// command must not have written anything; RunCommand checks that.
#ifndef BERTH_METADATA_MEM_STATE_TESTUTIL_H_
#define BERTH_METADATA_MEM_STATE_TESTUTIL_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "metadata/state_machine.h"

namespace berth::meta::testutil {

class MemState final : public StateView {
 public:
  using Tables = std::map<Table, std::map<std::string, std::string>>;
  std::optional<std::string> Get(Table t,
                                 const std::string& key) const override {
    auto table = data.find(t);
    if (table == data.end()) return std::nullopt;
    auto it = table->second.find(key);
    if (it == table->second.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::pair<std::string, std::string>> Scan(
      Table t, const std::string& prefix) const override {
    std::vector<std::pair<std::string, std::string>> out;
    auto table = data.find(t);
    if (table == data.end()) return out;
    for (auto it = table->second.lower_bound(prefix);
         it != table->second.end() && it->first.rfind(prefix, 0) == 0; ++it) {
      out.push_back(*it);
    }
    return out;
  }
  size_t Count(Table t) const {
    auto table = data.find(t);
    return table == data.end() ? 0 : table->second.size();
  }
  Tables data;
};

class Staging final : public StateWriter {
 public:
  explicit Staging(MemState::Tables copy) : data(std::move(copy)) {}
  void Put(Table t, const std::string& key, const std::string& value) override {
    data[t][key] = value;
  }
  void Delete(Table t, const std::string& key) override { data[t].erase(key); }
  MemState::Tables data;
};

inline CommandResult RunCommand(MemState& s, const Command& c) {
  Staging staging(s.data);
  CommandResult r = Apply(c, s, &staging);
  if (r.error().reason() == REASON_UNSPECIFIED) {
    s.data = std::move(staging.data);
  } else {
    EXPECT_EQ(staging.data, s.data) << "a failed command wrote";
  }
  return r;
}

// RunCommand's reason (REASON_UNSPECIFIED = success).
inline Reason ApplyTo(MemState& s, const Command& c) {
  return RunCommand(s, c).error().reason();
}

}  // namespace berth::meta::testutil

#endif  // BERTH_METADATA_MEM_STATE_TESTUTIL_H_

// Applying log entries (lone commands and group-commit batches) to a real
// RocksDB store: per-command results, mixed outcomes inside one batch,
// digests independent of how entries are grouped, and result pruning.
#include "metadata/log_apply.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace berth::meta {
namespace {

std::unique_ptr<Store> OpenFresh(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  auto store = Store::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(*store);
}

std::string Id(int n) { return std::string(63, 'a' + n % 26) + char('0' + n % 10); }

Command PutJson(const std::string& rid, const std::string& id,
                const std::string& parent = "") {
  Command c;
  c.set_request_id(rid);
  c.mutable_put_image_json()->set_id(id);
  c.mutable_put_image_json()->set_json("{\"id\":\"" + id + "\"}");
  c.mutable_put_image_json()->set_parent(parent);
  return c;
}

Command Tag(const std::string& rid, const std::string& repo,
            const std::string& id) {
  Command c;
  c.set_request_id(rid);
  c.mutable_put_tag()->set_repository(repo);
  c.mutable_put_tag()->set_tag("latest");
  c.mutable_put_tag()->set_image_id(id);
  return c;
}

LogEntry Entry(uint64_t position, std::vector<Command> commands,
               int64_t now_ms = 0, int64_t prune_before_ms = 0) {
  Command e;
  if (commands.size() == 1) {
    e = commands[0];
  } else {
    for (Command& c : commands) *e.mutable_batch()->add_commands() = c;
  }
  e.set_proposed_unix_ms(now_ms);
  e.set_prune_results_before_unix_ms(prune_before_ms);
  return {position, e.SerializeAsString()};
}

// Applies `log` in groups of `group` entries (0 = all in one).
void ApplyLog(Store* store, const std::vector<LogEntry>& log, size_t group) {
  size_t i = 0;
  while (i < log.size()) {
    EntryApplier applier(store);
    for (size_t k = 0; i < log.size() && (group == 0 || k < group); ++k, ++i) {
      ASSERT_TRUE(applier.Stage(log[i]).ok());
    }
    ASSERT_TRUE(applier.Commit().ok());
  }
}

std::optional<CommandResult> ResultOf(const Store& store,
                                      const std::string& rid) {
  std::string bytes;
  if (!store.db()->Get(rocksdb::ReadOptions(), store.results(), rid, &bytes).ok()) {
    return std::nullopt;
  }
  CommandResult r;
  if (!r.ParseFromString(bytes)) return std::nullopt;
  return r;
}

TEST(LogApplyTest, EachCommandOfABatchGetsItsOwnResult) {
  auto store = OpenFresh("apply_batch");
  ApplyLog(store.get(),
           {Entry(7, {PutJson("ok-1", Id(1)),
                      PutJson("bad-parent", Id(2), Id(9)),  // no such parent
                      PutJson("child", Id(3), Id(1)),       // sees ok-1
                      PutJson("ok-1", Id(4)),               // a retry in-batch
                      Tag("tag", "ns/app", Id(3))})},
           0);
  ASSERT_TRUE(ResultOf(*store, "ok-1"));
  EXPECT_EQ(ResultOf(*store, "ok-1")->error().reason(), REASON_UNSPECIFIED);
  EXPECT_EQ(ResultOf(*store, "ok-1")->position(), 7u);
  EXPECT_EQ(ResultOf(*store, "bad-parent")->error().reason(), PARENT_NOT_FOUND);
  EXPECT_EQ(ResultOf(*store, "child")->error().reason(), REASON_UNSPECIFIED);
  EXPECT_EQ(ResultOf(*store, "tag")->error().reason(), REASON_UNSPECIFIED);
  EXPECT_EQ(*store->ReadAppliedPosition(), 7u);
  std::string value;
  // The failed command wrote nothing; the in-batch retry applied nothing.
  EXPECT_TRUE(store->db()->Get({}, store->images(), Id(2), &value).IsNotFound());
  EXPECT_TRUE(store->db()->Get({}, store->images(), Id(4), &value).IsNotFound());
  ASSERT_TRUE(store->db()->Get({}, store->images(), Id(3), &value).ok());
  ImageRecord child;
  ASSERT_TRUE(child.ParseFromString(value));
  ASSERT_EQ(child.ancestry_size(), 2);
  EXPECT_EQ(child.ancestry(1), Id(1));
  // A later entry retrying a batched command gets the first result.
  ApplyLog(store.get(), {Entry(9, {PutJson("bad-parent", Id(2))})}, 0);
  EXPECT_EQ(ResultOf(*store, "bad-parent")->error().reason(), PARENT_NOT_FOUND);
  EXPECT_TRUE(store->db()->Get({}, store->images(), Id(2), &value).IsNotFound());
}

TEST(LogApplyTest, SameLogSameDigestWhateverTheGrouping) {
  std::vector<LogEntry> log;
  uint64_t pos = 3;
  for (int n = 0; n < 40; ++n) {
    std::vector<Command> cmds;
    for (int k = 0; k <= n % 5; ++k) {
      const int img = n * 5 + k;
      cmds.push_back(PutJson(absl::StrCat("j", img), Id(img),
                             img % 3 == 0 || img < 5 ? "" : Id(img - 5)));
      if (k == 1) cmds.push_back(Tag(absl::StrCat("t", img), "ns/r", Id(img)));
    }
    if (n % 7 == 0) {
      Command del;
      del.set_request_id(absl::StrCat("d", n));
      del.mutable_delete_repository()->set_name("ns/r");
      cmds.push_back(del);
    }
    log.push_back(Entry(pos, cmds, 1000 * n, 1000 * n - 5000));
    pos += 1 + n % 3;  // gaps, as etcd revisions have
  }
  std::vector<std::string> digests;
  int k = 0;
  for (size_t group : {size_t{1}, size_t{0}, size_t{7}, size_t{1}}) {
    auto store = OpenFresh(absl::StrCat("apply_digest", k++));
    ApplyLog(store.get(), log, group);
    auto d = store->ComputeDigest();
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->applied, log.back().position);
    digests.push_back(d->hex);
  }
  for (const std::string& d : digests) EXPECT_EQ(d, digests[0]);
}

TEST(LogApplyTest, ResultsArePrunedAfterTheWindowAndRetriesWithinItKeepThem) {
  auto store = OpenFresh("apply_prune");
  // t = 0 s: r0..r4 applied; retention 10 s (prune point = now - 10 s).
  std::vector<Command> first;
  for (int n = 0; n < 5; ++n) first.push_back(PutJson(absl::StrCat("r", n), Id(n)));
  ApplyLog(store.get(), {Entry(1, first, 0, -10000)}, 0);
  // t = 9 s: a retry of r0 is within the window: first result, no apply.
  ApplyLog(store.get(), {Entry(2, {PutJson("r0", Id(20))}, 9000, -1000)}, 0);
  EXPECT_EQ(ResultOf(*store, "r0")->position(), 1u);
  std::string value;
  EXPECT_TRUE(store->db()->Get({}, store->images(), Id(20), &value).IsNotFound());
  // t = 11 s: everything proposed before 1 s is pruned...
  ApplyLog(store.get(), {Entry(3, {PutJson("x", Id(21))}, 11000, 1000)}, 0);
  for (int n = 0; n < 5; ++n) EXPECT_FALSE(ResultOf(*store, absl::StrCat("r", n)));
  EXPECT_TRUE(ResultOf(*store, "x"));
  // ...so a retry now is a new command.
  ApplyLog(store.get(), {Entry(4, {PutJson("r0", Id(22))}, 12000, 2000)}, 0);
  EXPECT_EQ(ResultOf(*store, "r0")->position(), 4u);
  // A proposer whose clock lags: its result is kept as long as others'
  // (indexed at the log clock, 12 s), and the prune point never moves back.
  ApplyLog(store.get(), {Entry(5, {PutJson("slow", Id(23))}, 500, -9000)}, 0);
  ApplyLog(store.get(), {Entry(6, {PutJson("y", Id(24))}, 13000, 3000)}, 0);
  EXPECT_TRUE(ResultOf(*store, "slow"));
  EXPECT_TRUE(ResultOf(*store, "y"));
  ApplyLog(store.get(), {Entry(7, {PutJson("z", Id(25))}, 22000, 12001)}, 0);
  EXPECT_FALSE(ResultOf(*store, "slow"));
  EXPECT_TRUE(ResultOf(*store, "y"));  // indexed at 13 s
  ApplyLog(store.get(), {Entry(8, {PutJson("w", Id(26))}, 30000, 20000)}, 0);
  EXPECT_FALSE(ResultOf(*store, "y"));
  EXPECT_TRUE(ResultOf(*store, "z"));
}

TEST(LogApplyTest, PruningIsBoundedPerEntry) {
  auto store = OpenFresh("apply_prune_bound");
  const size_t total = kMaxPrunesPerEntry + 500;
  std::vector<LogEntry> log;
  uint64_t pos = 1;
  for (size_t done = 0; done < total;) {
    std::vector<Command> cmds;
    for (int k = 0; k < 500 && done < total; ++k, ++done) {
      Command c;
      c.set_request_id(absl::StrCat("p", done));
      c.mutable_init_token_secret()->set_secret(std::string(32, 's'));
      cmds.push_back(c);
    }
    log.push_back(Entry(pos++, cmds, 1000, 0));
  }
  ApplyLog(store.get(), log, 0);
  ApplyLog(store.get(), {Entry(pos++, {PutJson("late", Id(1))}, 100000, 50000)}, 0);
  size_t left = 0;
  for (size_t n = 0; n < total; ++n) left += ResultOf(*store, absl::StrCat("p", n)) ? 1 : 0;
  EXPECT_EQ(left, total - kMaxPrunesPerEntry);  // the rest: next entries
  ApplyLog(store.get(), {Entry(pos++, {PutJson("later", Id(2))}, 100001, 50001)}, 0);
  left = 0;
  for (size_t n = 0; n < total; ++n) left += ResultOf(*store, absl::StrCat("p", n)) ? 1 : 0;
  EXPECT_EQ(left, 0u);
}

}  // namespace
}  // namespace berth::meta

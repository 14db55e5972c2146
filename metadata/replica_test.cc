// Replica over the local log and a real RocksDB on disk.
#include "metadata/replica.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

#include "gtest/gtest.h"
#include "metadata/local_log.h"

namespace berth::meta {
namespace {

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::unique_ptr<Replica> StartReplica(const std::string& dir,
                                      ReplicaOptions options = {}) {
  auto store = Store::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  auto log = LocalLog::Open(store->get());
  EXPECT_TRUE(log.ok()) << log.status();
  auto replica =
      Replica::Start(std::move(*store), std::move(*log), std::move(options));
  EXPECT_TRUE(replica.ok()) << replica.status();
  return std::move(*replica);
}

Command PutJson(const std::string& request_id, const std::string& id) {
  Command c;
  c.set_request_id(request_id);
  c.mutable_put_image_json()->set_id(id);
  c.mutable_put_image_json()->set_json("{}");
  return c;
}

TEST(ReplicaTest, ExecuteReturnsApplyResultAndRetriesReturnTheFirst) {
  auto replica = StartReplica(TempDir("replica1"));
  const std::string id(64, 'c');
  auto first = replica->Execute(PutJson("r1", id));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->error().reason(), REASON_UNSPECIFIED);
  EXPECT_EQ(first->position(), 1u);

  Command confirm;
  confirm.set_request_id("r2");
  confirm.mutable_confirm_checksum()->set_id(id);
  confirm.mutable_confirm_checksum()->set_payload_checksum("sha256:x");
  auto refused = replica->Execute(confirm);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->error().reason(), NO_LAYER);

  // Same request id again: the first answer, not a second application.
  auto again = replica->Execute(PutJson("r1", id));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->position(), 1u);
  EXPECT_EQ(replica->applied(), 3u);
}

TEST(ReplicaTest, StateAndPositionSurviveRestart) {
  const std::string dir = TempDir("replica2");
  const std::string id(64, 'd');
  {
    auto replica = StartReplica(dir);
    ASSERT_TRUE(replica->Execute(PutJson("a", id)).ok());
  }
  auto replica = StartReplica(dir);
  EXPECT_EQ(replica->applied(), 1u);
  GetImageRequest get;
  get.set_id(id);
  get.set_include_json(true);
  auto image = replica->GetImage(get);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->image().json(), "{}");
  EXPECT_EQ(image->image().state(), JSON_UPLOADED);
  get.set_id(std::string(64, 'e'));
  auto missing = replica->GetImage(get);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->error().reason(), IMAGE_NOT_FOUND);
}

TEST(ReplicaTest, UnappliedLogEntriesAreAppliedAtStart) {
  const std::string dir = TempDir("replica3");
  const std::string id(64, 'f');
  {
    // An entry appended to the log whose apply never ran (as after kill -9
    // between the two writes).
    auto store = Store::Open(dir);
    ASSERT_TRUE(store.ok());
    auto log = LocalLog::Open(store->get());
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(PutJson("x", id).SerializeAsString()).ok());
  }
  auto replica = StartReplica(dir);
  GetImageRequest get;
  get.set_id(id);
  auto image = replica->GetImage(get);  // linearizable: waits for apply
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->error().reason(), REASON_UNSPECIFIED);
  EXPECT_EQ(replica->applied(), 1u);
}

TEST(ReplicaTest, ConcurrentCommandsShareLogEntriesAndKeepTheirResults) {
  ReplicaOptions options;
  options.max_appends_in_flight = 1;
  auto replica = StartReplica(TempDir("replica_batch"), options);
  constexpr int kThreads = 16, kEach = 20;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kEach; ++n) {
        const std::string id = std::string(60, 'a' + t) + std::to_string(1000 + n);
        // Odd n: a parent that does not exist, so the command fails.
        Command c = PutJson(absl::StrCat("w", t, "-", n), id);
        if (n % 2) c.mutable_put_image_json()->set_parent(std::string(64, 'z'));
        auto r = replica->Execute(c);
        const Reason want = n % 2 ? PARENT_NOT_FOUND : REASON_UNSPECIFIED;
        if (!r.ok() || r->error().reason() != want) wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // Several commands per log entry (one append at a time, 16 proposers).
  EXPECT_LT(replica->appends(), uint64_t{kThreads * kEach});
  EXPECT_EQ(replica->applied(), replica->appends());
  std::printf("%d commands in %llu log entries\n", kThreads * kEach,
              static_cast<unsigned long long>(replica->appends()));
  // A client cannot smuggle a batch in.
  Command batch;
  batch.set_request_id("b");
  *batch.mutable_batch()->add_commands() = PutJson("x", std::string(64, 'e'));
  EXPECT_TRUE(absl::IsInvalidArgument(replica->Execute(batch).status()));
}

TEST(ReplicaTest, RetriesWithinTheRetentionGetTheFirstResult) {
  std::atomic<int64_t> now_ms{1700000000000};
  ReplicaOptions options;
  options.result_retention = absl::Seconds(60);
  options.now_unix_ms = [&] { return now_ms.load(); };
  auto replica = StartReplica(TempDir("replica_retention"), options);
  const std::string id(64, 'c');
  auto first = replica->Execute(PutJson("r1", id));
  ASSERT_TRUE(first.ok());
  now_ms += 59000;  // within the window
  ASSERT_TRUE(replica->Execute(PutJson("other", std::string(64, 'd'))).ok());
  auto retry = replica->Execute(PutJson("r1", id));
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->position(), first->position());
  now_ms += 2000;  // r1 is now older than the window: the next entry prunes
  ASSERT_TRUE(replica->Execute(PutJson("later", std::string(64, 'e'))).ok());
  std::string bytes;
  EXPECT_TRUE(replica->store()
                  ->db()
                  ->Get(rocksdb::ReadOptions(), replica->store()->results(),
                        "r1", &bytes)
                  .IsNotFound());
  auto late = replica->Execute(PutJson("r1", id));  // applied anew
  ASSERT_TRUE(late.ok());
  EXPECT_GT(late->position(), first->position());
}

Command TagCmd(const std::string& rid, const std::string& repo,
               const std::string& id) {
  Command c;
  c.set_request_id(rid);
  c.mutable_put_tag()->set_repository(repo);
  c.mutable_put_tag()->set_tag("latest");
  c.mutable_put_tag()->set_image_id(id);
  return c;
}

TEST(ReplicaTest, ImageRepositoriesFollowListsTagsAndDeletes) {
  auto replica = StartReplica(TempDir("replica_image_repos"));
  const std::string base(64, 'a'), child(64, 'b');
  ASSERT_TRUE(replica->Execute(PutJson("j1", base)).ok());
  Command c = PutJson("j2", child);
  c.mutable_put_image_json()->set_parent(base);
  ASSERT_TRUE(replica->Execute(c).ok());
  // A tag lists the image and its ancestry.
  ASSERT_TRUE(replica->Execute(TagCmd("t1", "alice/app", child)).ok());
  Command merge;
  merge.set_request_id("m1");
  merge.mutable_merge_image_list()->set_name("bob/base");
  merge.mutable_merge_image_list()->add_images()->set_id(base);
  ASSERT_TRUE(replica->Execute(merge).ok());
  Command props;
  props.set_request_id("p1");
  props.mutable_set_repository_properties()->set_name("alice/app");
  props.mutable_set_repository_properties()->set_has_private(true);
  props.mutable_set_repository_properties()->set_is_private(true);
  props.mutable_set_repository_properties()->set_has_owner(true);
  props.mutable_set_repository_properties()->set_owner("alice");
  ASSERT_TRUE(replica->Execute(props).ok());

  GetImageRepositoriesRequest req;
  req.set_id(base);
  auto got = replica->GetImageRepositories(req);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->repositories_size(), 2);
  EXPECT_EQ(got->repositories(0).name(), "alice/app");
  EXPECT_TRUE(got->repositories(0).is_private());
  EXPECT_EQ(got->repositories(0).owner(), "alice");
  EXPECT_EQ(got->repositories(1).name(), "bob/base");
  EXPECT_FALSE(got->repositories(1).is_private());
  req.set_id(child);
  got = replica->GetImageRepositories(req);
  ASSERT_EQ(got->repositories_size(), 1);
  EXPECT_EQ(got->repositories(0).name(), "alice/app");

  Command del;
  del.set_request_id("d1");
  del.mutable_delete_repository()->set_name("alice/app");
  ASSERT_TRUE(replica->Execute(del).ok());
  req.mutable_read()->set_stale_ok(true);
  got = replica->GetImageRepositories(req);
  EXPECT_EQ(got->repositories_size(), 0);
  req.set_id(base);
  got = replica->GetImageRepositories(req);
  ASSERT_EQ(got->repositories_size(), 1);
  EXPECT_EQ(got->repositories(0).name(), "bob/base");
  req.set_id(std::string(64, 'f'));  // unknown image: no repositories
  EXPECT_EQ(replica->GetImageRepositories(req)->repositories_size(), 0);
}

}  // namespace
}  // namespace berth::meta

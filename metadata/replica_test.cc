// Replica over the local log and a real RocksDB on disk.
#include "metadata/replica.h"

#include <cstdlib>
#include <filesystem>

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

std::unique_ptr<Replica> StartReplica(const std::string& dir) {
  auto store = Store::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  auto log = LocalLog::Open(store->get());
  EXPECT_TRUE(log.ok()) << log.status();
  auto replica = Replica::Start(std::move(*store), std::move(*log), {});
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

}  // namespace
}  // namespace berth::meta

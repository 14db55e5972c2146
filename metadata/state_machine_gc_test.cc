// Garbage collection in the state machine: upload intents, the mark
// (PlanGarbage) and DeleteImages' re-checks.
#include <map>

#include "gtest/gtest.h"
#include "metadata/mem_state_testutil.h"
#include "metadata/state_machine.h"

namespace berth::meta {
namespace {

using testutil::ApplyTo;
using testutil::MemState;
using testutil::RunCommand;

std::string Id(char c) { return std::string(64, c); }

// Times: images are touched at second 100 (100000 ms); gc runs with its
// cutoff at 200000 ms unless a test says otherwise.
constexpr int64_t kOldSeconds = 100;
constexpr int64_t kCutoffMs = 200000;
constexpr int64_t kNowMs = 300000;

Command PutJson(const std::string& id, const std::string& parent,
                int64_t now_unix = kOldSeconds) {
  Command c;
  c.mutable_put_image_json()->set_id(id);
  c.mutable_put_image_json()->set_json("{\"id\":\"" + id + "\"}");
  c.mutable_put_image_json()->set_parent(parent);
  c.mutable_put_image_json()->set_now_unix(now_unix);
  return c;
}

Command Commit(const MemState& s, const std::string& id,
               const std::vector<std::string>& digests,
               const std::string& intent = "") {
  Command c;
  CommitLayer* commit = c.mutable_commit_layer();
  commit->set_id(id);
  commit->set_json_sha256(s.GetImage(id).value().json_sha256());
  commit->set_payload_checksum("sha256:1");
  commit->set_upload_intent_id(intent);
  for (const auto& d : digests) commit->mutable_layer()->add_chunks()->set_digest(d);
  return c;
}

Command List(const std::string& repo, const std::vector<std::string>& ids) {
  Command c;
  c.mutable_merge_image_list()->set_name(repo);
  for (const auto& id : ids) c.mutable_merge_image_list()->add_images()->set_id(id);
  return c;
}

Command DeleteRepo(const std::string& repo) {
  Command c;
  c.mutable_delete_repository()->set_name(repo);
  return c;
}

Command Begin(const std::string& intent, const std::string& image,
              int64_t now_ms, int64_t ttl_ms = 60000, bool refresh = false) {
  Command c;
  BeginUpload* b = c.mutable_begin_upload();
  b->set_intent_id(intent);
  b->set_image_id(image);
  b->set_now_unix_ms(now_ms);
  b->set_ttl_ms(ttl_ms);
  b->set_refresh(refresh);
  return c;
}

Command End(const std::string& intent) {
  Command c;
  c.mutable_end_upload()->set_intent_id(intent);
  return c;
}

Command Delete(const std::vector<std::string>& ids,
               int64_t cutoff_ms = kCutoffMs, int64_t now_ms = kNowMs) {
  Command c;
  DeleteImages* d = c.mutable_delete_images();
  for (const auto& id : ids) d->add_ids(id);
  d->set_cutoff_unix_ms(cutoff_ms);
  d->set_now_unix_ms(now_ms);
  return c;
}

std::vector<std::string> Deleted(const CommandResult& r) {
  return {r.gc().deleted().begin(), r.gc().deleted().end()};
}

std::optional<UploadIntent> Intent(const MemState& s, const std::string& id) {
  auto bytes = s.Get(Table::kUploads, id);
  if (!bytes) return std::nullopt;
  UploadIntent intent;
  EXPECT_TRUE(intent.ParseFromString(*bytes));
  return intent;
}

TEST(GcStateMachineTest, IntentsOpenRefreshAndEnd) {
  MemState s;
  EXPECT_EQ(ApplyTo(s, Begin("", Id('a'), 1000)), INVALID_ARGUMENT);
  EXPECT_EQ(ApplyTo(s, Begin("u1", "", 1000)), INVALID_ARGUMENT);
  EXPECT_EQ(ApplyTo(s, Begin("u1", Id('a'), 1000, 0)), INVALID_ARGUMENT);
  EXPECT_EQ(ApplyTo(s, Begin("u1", Id('a'), 1000, int64_t{25} * 3600 * 1000)),
            INVALID_ARGUMENT);
  // A refresh of an intent that does not exist (expired and removed).
  EXPECT_EQ(ApplyTo(s, Begin("u1", Id('a'), 1000, 60000, true)), UPLOAD_EXPIRED);
  ASSERT_EQ(ApplyTo(s, Begin("u1", Id('a'), 1000)), REASON_UNSPECIFIED);
  EXPECT_EQ(Intent(s, "u1")->started_unix_ms(), 1000);
  EXPECT_EQ(Intent(s, "u1")->expires_unix_ms(), 61000);
  // A refresh extends the expiry; the start stays.
  ASSERT_EQ(ApplyTo(s, Begin("u1", Id('a'), 50000, 60000, true)),
            REASON_UNSPECIFIED);
  EXPECT_EQ(Intent(s, "u1")->started_unix_ms(), 1000);
  EXPECT_EQ(Intent(s, "u1")->expires_unix_ms(), 110000);
  EXPECT_EQ(ApplyTo(s, Begin("u1", Id('b'), 50000, 60000, true)),
            INVALID_ARGUMENT);
  EXPECT_EQ(ApplyTo(s, End("")), INVALID_ARGUMENT);
  EXPECT_EQ(ApplyTo(s, End("u1")), REASON_UNSPECIFIED);
  EXPECT_FALSE(Intent(s, "u1"));
  EXPECT_EQ(ApplyTo(s, End("u1")), REASON_UNSPECIFIED);  // idempotent
}

TEST(GcStateMachineTest, CommitConsumesItsIntentAndFailsWithoutIt) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(Id('a'), "")), REASON_UNSPECIFIED);
  // No intent (expired and removed by a gc): nothing is published.
  EXPECT_EQ(ApplyTo(s, Commit(s, Id('a'), {"d1"}, "u1")), UPLOAD_EXPIRED);
  EXPECT_EQ(s.GetImage(Id('a'))->state(), JSON_UPLOADED);
  EXPECT_EQ(s.Count(Table::kChunkRefs), 0u);
  ASSERT_EQ(ApplyTo(s, Begin("u1", Id('a'), 1000)), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, Commit(s, Id('a'), {"d1"}, "u1")), REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetImage(Id('a'))->state(), LAYER_UPLOADED);
  EXPECT_FALSE(Intent(s, "u1"));
  EXPECT_TRUE(s.Get(Table::kChunkRefs, ChunkRefKey("d1", Id('a'))));
}

TEST(GcStateMachineTest, PutJsonIndexesChildrenAndTouches) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(Id('a'), "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('b'), "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('c'), Id('a'), 150)), REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetImage(Id('c'))->touched_unix(), 150);
  EXPECT_TRUE(s.Get(Table::kImageChildren, ImageChildKey(Id('a'), Id('c'))));
  // A retry with another parent moves the index entry.
  ASSERT_EQ(ApplyTo(s, PutJson(Id('c'), Id('b'), 160)), REASON_UNSPECIFIED);
  EXPECT_FALSE(s.Get(Table::kImageChildren, ImageChildKey(Id('a'), Id('c'))));
  EXPECT_TRUE(s.Get(Table::kImageChildren, ImageChildKey(Id('b'), Id('c'))));
  EXPECT_EQ(s.GetImage(Id('c'))->touched_unix(), 160);
  EXPECT_EQ(s.GetImage(Id('c'))->created_unix(), 150);
}

// base <- mid <- {left, right}; repo "x/left" lists left's chain, "x/right"
// only right (its ancestry is live through it).
void BuildTree(MemState& s) {
  ASSERT_EQ(ApplyTo(s, PutJson(Id('a'), "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Commit(s, Id('a'), {"dA", "dShared"})), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('m'), Id('a'))), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Commit(s, Id('m'), {"dM"})), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('l'), Id('m'))), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Commit(s, Id('l'), {"dL", "dShared"})), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('r'), Id('m'))), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Commit(s, Id('r'), {"dR"})), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, List("x/left", {Id('a'), Id('m'), Id('l')})),
            REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, List("x/right", {Id('r')})), REASON_UNSPECIFIED);
}

TEST(GcStateMachineTest, DeletingARepositoryFreesOnlyWhatNoImageNeeds) {
  MemState s;
  BuildTree(s);
  EXPECT_TRUE(PlanGarbage(s, kCutoffMs, kNowMs).garbage.empty());
  ASSERT_EQ(ApplyTo(s, DeleteRepo("x/left")), REASON_UNSPECIFIED);
  GarbagePlan plan = PlanGarbage(s, kCutoffMs, kNowMs);
  EXPECT_EQ(plan.images, 4u);
  // mid and base stay: right builds on them.
  EXPECT_EQ(plan.garbage, std::vector<std::string>{Id('l')});
  CommandResult r = RunCommand(s, Delete(plan.garbage));
  EXPECT_EQ(Deleted(r), std::vector<std::string>{Id('l')});
  EXPECT_FALSE(s.GetImage(Id('l')));
  EXPECT_FALSE(s.Get(Table::kChunkRefs, ChunkRefKey("dL", Id('l'))));
  EXPECT_FALSE(s.Get(Table::kChunkRefs, ChunkRefKey("dShared", Id('l'))));
  EXPECT_TRUE(s.Get(Table::kChunkRefs, ChunkRefKey("dShared", Id('a'))));
  EXPECT_FALSE(s.Get(Table::kImageChildren, ImageChildKey(Id('m'), Id('l'))));
  // Then the other repository: the whole chain goes, children first.
  ASSERT_EQ(ApplyTo(s, DeleteRepo("x/right")), REASON_UNSPECIFIED);
  plan = PlanGarbage(s, kCutoffMs, kNowMs);
  EXPECT_EQ(plan.garbage,
            (std::vector<std::string>{Id('r'), Id('m'), Id('a')}));
  r = RunCommand(s, Delete(plan.garbage));
  EXPECT_EQ(Deleted(r).size(), 3u);
  EXPECT_EQ(s.Count(Table::kImages), 0u);
  EXPECT_EQ(s.Count(Table::kChunkRefs), 0u);
  EXPECT_EQ(s.Count(Table::kImageChildren), 0u);
}

TEST(GcStateMachineTest, YoungAndUploadingImagesAreLive) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(Id('o'), "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('y'), "", 250)), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('u'), "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('e'), "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Begin("open", Id('u'), 250000, 100000)),
            REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Begin("stale", Id('e'), 1000, 1000)), REASON_UNSPECIFIED);
  // A young child keeps its old parent too.
  ASSERT_EQ(ApplyTo(s, PutJson(Id('k'), Id('o'), 260)), REASON_UNSPECIFIED);
  GarbagePlan plan = PlanGarbage(s, kCutoffMs, kNowMs);
  EXPECT_EQ(plan.garbage, std::vector<std::string>{Id('e')});
  ASSERT_EQ(plan.open_uploads.size(), 1u);
  EXPECT_EQ(plan.open_uploads[0].intent_id(), "open");
  // Apply re-checks every id it is given.
  CommandResult r =
      RunCommand(s, Delete({Id('o'), Id('y'), Id('u'), Id('e'), Id('k'), Id('z')}));
  EXPECT_EQ(Deleted(r), std::vector<std::string>{Id('e')});
  EXPECT_EQ(r.gc().kept(), 4u);  // z does not exist
  EXPECT_EQ(r.gc().open_uploads(), 1u);
  EXPECT_EQ(r.gc().oldest_upload_unix_ms(), 250000);
  // The expired intent is gone: its upload can no longer commit.
  EXPECT_EQ(r.gc().expired_uploads(), 1u);
  EXPECT_FALSE(Intent(s, "stale"));
  EXPECT_TRUE(Intent(s, "open"));
}

TEST(GcStateMachineTest, ImagesThatBecameLiveAgainAreKept) {
  MemState s;
  BuildTree(s);
  ASSERT_EQ(ApplyTo(s, DeleteRepo("x/left")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, DeleteRepo("x/right")), REASON_UNSPECIFIED);
  GarbagePlan plan = PlanGarbage(s, kCutoffMs, kNowMs);
  ASSERT_EQ(plan.garbage.size(), 4u);
  // Meanwhile: left is listed again, and a new image builds on right.
  ASSERT_EQ(ApplyTo(s, List("x/again", {Id('l')})), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('n'), Id('r'))), REASON_UNSPECIFIED);
  CommandResult r = RunCommand(s, Delete(plan.garbage));
  EXPECT_TRUE(Deleted(r).empty());
  EXPECT_EQ(r.gc().kept(), 4u);
  EXPECT_EQ(s.Count(Table::kImages), 5u);
  EXPECT_EQ(s.Count(Table::kChunkRefs), 6u);
}

TEST(GcStateMachineTest, AParentBeforeItsChildInOneCommandStays) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(Id('a'), "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(Id('b'), Id('a'))), REASON_UNSPECIFIED);
  CommandResult r = RunCommand(s, Delete({Id('a'), Id('b'), Id('b')}));
  EXPECT_EQ(Deleted(r), std::vector<std::string>{Id('b')});
  EXPECT_TRUE(s.GetImage(Id('a')));
  r = RunCommand(s, Delete({Id('a')}));
  EXPECT_EQ(Deleted(r), std::vector<std::string>{Id('a')});
  EXPECT_EQ(s.Count(Table::kImages), 0u);
}

}  // namespace
}  // namespace berth::meta

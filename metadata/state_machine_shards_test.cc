// Apply of SetShardState, SetReplication and UpdateLayerShards.
#include <map>

#include "gtest/gtest.h"
#include "metadata/mem_state_testutil.h"
#include "metadata/state_machine.h"

namespace berth::meta {
namespace {

using testutil::ApplyTo;
using testutil::MemState;
using testutil::RunCommand;

const std::string kImage(64, 'a');
const std::string kD1(64, '1');
const std::string kD2(64, '2');

Command AddShard(const std::string& id) {
  Command c;
  ShardInfo* s = c.mutable_put_shard()->mutable_shard();
  s->set_id(id);
  s->set_address("127.0.0.1:1");
  s->set_zone("z-" + id);
  s->set_weight(1);
  s->set_state(SHARD_ACTIVE);
  return c;
}

Command SetState(const std::string& id, ShardState state) {
  Command c;
  c.mutable_set_shard_state()->set_id(id);
  c.mutable_set_shard_state()->set_state(state);
  return c;
}

blob::LayerManifest Manifest(std::vector<std::string> shards_of_d1) {
  blob::LayerManifest m;
  m.set_total_size(30);
  blob::ChunkRef* a = m.add_chunks();
  a->set_digest(kD1);
  a->set_size(20);
  for (const auto& s : shards_of_d1) a->add_shards(s);
  blob::ChunkRef* b = m.add_chunks();
  b->set_digest(kD2);
  b->set_size(10);
  b->add_shards("s1");
  return m;
}

// An image with a published layer on shards s1, s2.
void AddImage(MemState& s, ImageState state) {
  Command put;
  put.mutable_put_image_json()->set_id(kImage);
  put.mutable_put_image_json()->set_json("{}");
  ASSERT_EQ(ApplyTo(s, put), REASON_UNSPECIFIED);
  Command commit;
  commit.mutable_commit_layer()->set_id(kImage);
  commit.mutable_commit_layer()->set_json_sha256(
      s.GetImage(kImage)->json_sha256());
  *commit.mutable_commit_layer()->mutable_layer() = Manifest({"s1", "s2"});
  commit.mutable_commit_layer()->set_payload_checksum("sha256:x");
  ASSERT_EQ(ApplyTo(s, commit), REASON_UNSPECIFIED);
  if (state == COMPLETE) {
    Command confirm;
    confirm.mutable_confirm_checksum()->set_id(kImage);
    confirm.mutable_confirm_checksum()->set_payload_checksum("sha256:x");
    ASSERT_EQ(ApplyTo(s, confirm), REASON_UNSPECIFIED);
  }
}

Command Update(const blob::LayerManifest& m) {
  Command c;
  c.mutable_update_layer_shards()->set_image_id(kImage);
  *c.mutable_update_layer_shards()->mutable_layer() = m;
  return c;
}

TEST(ShardCommandsTest, SetShardStateChangesOnlyTheStateAndIsIdempotent) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, AddShard("s1")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, AddShard("s2")), REASON_UNSPECIFIED);
  const uint64_t v = s.GetConfig().shard_map_version();
  ASSERT_EQ(ApplyTo(s, SetState("s2", SHARD_DRAINING)), REASON_UNSPECIFIED);
  ClusterConfig c = s.GetConfig();
  EXPECT_EQ(c.shard_map_version(), v + 1);
  ASSERT_EQ(c.shards_size(), 2);
  EXPECT_EQ(c.shards(0).state(), SHARD_ACTIVE);
  EXPECT_EQ(c.shards(1).state(), SHARD_DRAINING);
  EXPECT_EQ(c.shards(1).address(), "127.0.0.1:1");
  EXPECT_EQ(c.shards(1).zone(), "z-s2");
  // Same state again: success, nothing bumped.
  ASSERT_EQ(ApplyTo(s, SetState("s2", SHARD_DRAINING)), REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetConfig().shard_map_version(), v + 1);
  ASSERT_EQ(ApplyTo(s, SetState("s2", SHARD_DOWN)), REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetConfig().shards(1).state(), SHARD_DOWN);
  EXPECT_EQ(s.GetConfig().shard_map_version(), v + 2);
}

TEST(ShardCommandsTest, SetShardStateRefusesUnknownShardOrState) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, AddShard("s1")), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, SetState("nope", SHARD_DRAINING)), SHARD_NOT_FOUND);
  EXPECT_EQ(ApplyTo(s, SetState("s1", SHARD_STATE_UNSPECIFIED)),
            INVALID_ARGUMENT);
  EXPECT_EQ(s.GetConfig().shards(0).state(), SHARD_ACTIVE);
}

TEST(ShardCommandsTest, SetReplicationChecksBounds) {
  MemState s;
  Command c;
  c.mutable_set_replication()->set_replicas(2);
  c.mutable_set_replication()->set_write_quorum(3);
  EXPECT_EQ(ApplyTo(s, c), INVALID_ARGUMENT);
  c.mutable_set_replication()->set_write_quorum(0);
  EXPECT_EQ(ApplyTo(s, c), INVALID_ARGUMENT);
  c.mutable_set_replication()->set_replicas(17);
  c.mutable_set_replication()->set_write_quorum(1);
  EXPECT_EQ(ApplyTo(s, c), INVALID_ARGUMENT);
  EXPECT_EQ(s.GetConfig().replicas(), 0u);
  c.mutable_set_replication()->set_replicas(2);
  ASSERT_EQ(ApplyTo(s, c), REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetConfig().replicas(), 2u);
  EXPECT_EQ(s.GetConfig().write_quorum(), 1u);
  EXPECT_EQ(s.GetConfig().shard_map_version(), 1u);
}

TEST(ShardCommandsTest, UpdateLayerShardsRewritesOnlyShardLists) {
  for (ImageState state : {LAYER_UPLOADED, COMPLETE}) {
    MemState s;
    AddImage(s, state);
    const ImageRecord before = *s.GetImage(kImage);
    ASSERT_EQ(ApplyTo(s, Update(Manifest({"s3", "s1", "s4"}))),
              REASON_UNSPECIFIED);
    ImageRecord after = *s.GetImage(kImage);
    ASSERT_EQ(after.layer().chunks(0).shards_size(), 3);
    EXPECT_EQ(after.layer().chunks(0).shards(0), "s3");
    EXPECT_EQ(after.layer().chunks(0).shards(2), "s4");
    // Everything else as it was.
    EXPECT_EQ(after.state(), before.state());
    EXPECT_EQ(after.payload_checksum(), before.payload_checksum());
    EXPECT_EQ(after.json(), before.json());
    *after.mutable_layer() = before.layer();
    EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
    // The chunk references (GC) are untouched.
    EXPECT_TRUE(s.Get(Table::kChunkRefs, ChunkRefKey(kD1, kImage)));
    EXPECT_TRUE(s.Get(Table::kChunkRefs, ChunkRefKey(kD2, kImage)));
  }
}

TEST(ShardCommandsTest, UpdateLayerShardsRefusesOtherChunks) {
  MemState s;
  AddImage(s, COMPLETE);
  blob::LayerManifest m = Manifest({"s3"});
  m.mutable_chunks(1)->set_digest(std::string(64, '3'));
  EXPECT_EQ(ApplyTo(s, Update(m)), INVALID_ARGUMENT);
  m = Manifest({"s3"});
  m.mutable_chunks(1)->set_size(11);
  EXPECT_EQ(ApplyTo(s, Update(m)), INVALID_ARGUMENT);
  m = Manifest({"s3"});
  m.set_total_size(31);
  EXPECT_EQ(ApplyTo(s, Update(m)), INVALID_ARGUMENT);
  m = Manifest({"s3"});
  m.mutable_chunks()->RemoveLast();
  EXPECT_EQ(ApplyTo(s, Update(m)), INVALID_ARGUMENT);
  m = Manifest({"s3"});
  m.mutable_chunks()->SwapElements(0, 1);
  EXPECT_EQ(ApplyTo(s, Update(m)), INVALID_ARGUMENT);
  EXPECT_EQ(s.GetImage(kImage)->layer().chunks(0).shards(0), "s1");
}

TEST(ShardCommandsTest, UpdateLayerShardsNeedsAnImageWithALayer) {
  MemState s;
  EXPECT_EQ(ApplyTo(s, Update(Manifest({"s1"}))), IMAGE_NOT_FOUND);
  Command put;
  put.mutable_put_image_json()->set_id(kImage);
  put.mutable_put_image_json()->set_json("{}");
  ASSERT_EQ(ApplyTo(s, put), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, Update(Manifest({"s1"}))), INVALID_ARGUMENT);
}

}  // namespace
}  // namespace berth::meta

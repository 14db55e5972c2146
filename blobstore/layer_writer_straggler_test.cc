// The write pipeline with one shard that never answers (a silent network
// cut): chunks complete once W copies acked, the hanging copy is cut short
// after the straggler grace, the shard is then skipped while suspected,
// and the layer reads back from the other copies.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "blobstore/blob_client.h"
#include "blobstore/chunk_store.h"
#include "common/sha256.h"
#include "gtest/gtest.h"

namespace berth::blob {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunk = 64 << 10;

// PutChunk blocks until its call is cancelled (or 30 s pass, which the
// test counts as a failure to cancel). Every other call is unimplemented.
class HangingShard final : public ShardConnection {
 public:
  absl::StatusOr<bool> PutChunk(absl::string_view, absl::string_view,
                                absl::string_view, absl::Time,
                                CallCanceller* canceller) override {
    calls.fetch_add(1);
    absl::Mutex mu;
    bool cancelled = false;
    if (canceller != nullptr) {
      canceller->Register([&] {
        absl::MutexLock lock(&mu);
        cancelled = true;
      });
    }
    bool got;
    {
      absl::MutexLock lock(&mu);
      got = mu.AwaitWithTimeout(absl::Condition(&cancelled), absl::Seconds(30));
    }
    if (canceller != nullptr) canceller->Unregister();
    if (!got) return absl::DeadlineExceededError("hanging shard timed out");
    cancelled_calls.fetch_add(1);
    return absl::CancelledError("cancelled");
  }
  absl::Status GetChunk(absl::string_view, uint64_t, char*, Sha256*,
                        absl::Time) override {
    return absl::UnavailableError("unreachable");
  }
  absl::StatusOr<uint64_t> StatChunk(absl::string_view, absl::Time) override {
    return absl::UnavailableError("unreachable");
  }
  absl::StatusOr<ListPage> ListChunks(absl::string_view, uint32_t,
                                      absl::Time) override {
    return absl::UnavailableError("unreachable");
  }
  absl::StatusOr<bool> DeleteChunk(absl::string_view, int64_t,
                                   absl::Time) override {
    return absl::UnavailableError("unreachable");
  }
  absl::StatusOr<VerifyResult> VerifyChunk(absl::string_view, bool,
                                           absl::Time) override {
    return absl::UnavailableError("unreachable");
  }
  absl::StatusOr<StoreCapacity> Capacity(absl::Time) override {
    return absl::UnavailableError("unreachable");
  }

  std::atomic<int> calls{0};
  std::atomic<int> cancelled_calls{0};
};

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

TEST(StragglerTest, QuorumCompletesChunksAndTheHangingCopyIsCutShort) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/straggler");
  fs::remove_all(dir);
  auto store_a = ChunkStore::Open(dir + "/a");
  auto store_b = ChunkStore::Open(dir + "/b");
  ASSERT_TRUE(store_a.ok() && store_b.ok());
  auto hanging = std::make_shared<HangingShard>();
  std::vector<Shard> shards;
  for (const char* id : {"a", "b", "c"}) {
    ShardInfo info;
    info.id = id;
    info.zone = std::string("zone-") + id;
    std::shared_ptr<ShardConnection> conn =
        id[0] == 'a'   ? NewLocalShardConnection("a", store_a->get())
        : id[0] == 'b' ? NewLocalShardConnection("b", store_b->get())
                       : std::shared_ptr<ShardConnection>(hanging);
    shards.push_back({info, conn});
  }
  BlobClientOptions opts;
  opts.chunk_size = kChunk;
  opts.replicas = 3;
  opts.write_quorum = 2;
  opts.rpc_timeout = absl::Minutes(10);  // only cancellation can end a put
  opts.straggler_grace = absl::Milliseconds(50);
  opts.suspect_period = absl::Minutes(10);
  opts.upload_window_bytes = 2 * kChunk;
  std::atomic<int> reported{0};
  opts.on_under_replicated = [&](const ChunkRef&) { reported.fetch_add(1); };
  BlobClient client(std::move(shards), opts);
  ASSERT_EQ(client.replicas(), 3u);

  const size_t kChunks = 24;
  const std::string layer = RandomBytes(kChunks * kChunk - 100, 3);
  auto writer = client.NewLayerWriter("straggle");
  ASSERT_TRUE(writer->Write(layer).ok());
  absl::StatusOr<LayerManifest> m = writer->Finish();
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->chunks_size(), static_cast<int>(kChunks));
  for (const ChunkRef& ref : m->chunks()) {
    ASSERT_EQ(ref.shards_size(), 2) << ref.DebugString();
    EXPECT_NE(ref.shards(0), "c");
    EXPECT_NE(ref.shards(1), "c");
  }
  // Every chunk is short of R and reported for repair.
  EXPECT_EQ(writer->under_replicated().size(), kChunks);
  EXPECT_EQ(reported.load(), static_cast<int>(kChunks));
  // The hanging shard was tried only until it was suspected (at most the
  // chunks in flight before the first cut), and every try was cut short.
  EXPECT_GE(hanging->calls.load(), 1);
  EXPECT_LE(hanging->calls.load(), 4);
  EXPECT_EQ(hanging->cancelled_calls.load(), hanging->calls.load());
  EXPECT_TRUE(client.Suspected(2));

  std::string got;
  ASSERT_TRUE(client
                  .ReadLayer(*m, 0, 0,
                             [&](absl::string_view p) {
                               got.append(p.data(), p.size());
                               return absl::OkStatus();
                             })
                  .ok());
  EXPECT_TRUE(got == layer);
}

// Reads in the hanging shard's own zone: it is tried first until a read
// finds it unavailable, then last (suspected), so later reads never wait on
// it while another copy answers.
TEST(StragglerTest, ReadsTrySuspectedShardsLast) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/suspect-reads");
  fs::remove_all(dir);
  auto store_a = ChunkStore::Open(dir + "/a");
  ASSERT_TRUE(store_a.ok());
  auto hanging = std::make_shared<HangingShard>();
  std::vector<Shard> shards;
  for (const char* id : {"a", "c"}) {
    ShardInfo info;
    info.id = id;
    info.zone = std::string("zone-") + id;
    std::shared_ptr<ShardConnection> conn =
        id[0] == 'a' ? NewLocalShardConnection("a", store_a->get())
                     : std::shared_ptr<ShardConnection>(hanging);
    shards.push_back({info, conn});
  }
  BlobClientOptions opts;
  opts.chunk_size = kChunk;
  opts.replicas = 2;
  opts.write_quorum = 1;
  opts.zone = "zone-c";
  opts.suspect_period = absl::Minutes(10);
  BlobClient client(std::move(shards), opts);

  const std::string data = RandomBytes(1000, 7);
  ChunkRef ref;
  ref.set_digest(Sha256Hex(data));
  ref.set_size(data.size());
  ref.add_shards("a");
  ref.add_shards("c");
  ASSERT_TRUE(client.PutChunk(0, "r", ref.digest(), data).ok());
  EXPECT_EQ(client.ReadOrder(ref), (std::vector<size_t>{1, 0}));  // own zone
  std::string got;
  std::vector<BadCopy> bad;
  ASSERT_TRUE(client.FetchChunk(ref, &got, &bad).ok());
  EXPECT_TRUE(got == data);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].shard, "c");
  EXPECT_TRUE(client.Suspected(1));
  EXPECT_EQ(client.ReadOrder(ref), (std::vector<size_t>{0, 1}));
  bad.clear();
  ASSERT_TRUE(client.FetchChunk(ref, &got, &bad).ok());
  EXPECT_TRUE(bad.empty());  // c was not asked again
}

}  // namespace
}  // namespace berth::blob

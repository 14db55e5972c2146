// The write pipeline with one shard that never answers (a silent network
// cut): chunks complete once W copies acked, the hanging copy is cut short
// after the straggler grace, the shard is then skipped while suspected,
// and the layer reads back from the other copies.
#include <algorithm>
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
  // Unavailable at once, or (hang_reads) silent until the deadline, like
  // a shard behind a cut that neither answers nor resets.
  absl::Status GetChunk(absl::string_view, uint64_t, char*, Sha256*,
                        absl::Time deadline) override {
    if (!hang_reads) return absl::UnavailableError("unreachable");
    read_calls.fetch_add(1);
    const absl::Duration given = deadline - absl::Now();
    {
      absl::MutexLock lock(&read_mu);
      if (given > longest_read_deadline) longest_read_deadline = given;
    }
    absl::SleepFor(std::min(given, absl::Seconds(30)));  // the silence itself
    return absl::DeadlineExceededError("deadline exceeded");
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
  bool hang_reads = false;  // set before use
  std::atomic<int> read_calls{0};
  absl::Mutex read_mu;
  absl::Duration longest_read_deadline ABSL_GUARDED_BY(read_mu);
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

// Shard "a" (zone-a) on `store` in this process, and `hanging` as shard
// "c" (zone-c).
std::vector<Shard> LocalAndHanging(ChunkStore* store,
                                   std::shared_ptr<HangingShard> hanging) {
  std::vector<Shard> shards;
  for (const char* id : {"a", "c"}) {
    ShardInfo info;
    info.id = id;
    info.zone = std::string("zone-") + id;
    std::shared_ptr<ShardConnection> conn =
        id[0] == 'a' ? NewLocalShardConnection("a", store)
                     : std::shared_ptr<ShardConnection>(std::move(hanging));
    shards.push_back({info, conn});
  }
  return shards;
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
  std::vector<Shard> shards = LocalAndHanging(store_a->get(), hanging);
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

// The copy a read tries first is silent (a cut that neither answers nor
// resets): the attempt ends after read_attempt_timeout, not rpc_timeout,
// the next copy answers, and the silent shard is suspected so later
// chunks do not wait on it.
TEST(StragglerTest, ReadsLeaveASilentCopyAfterTheAttemptTimeout) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/silent-reads");
  fs::remove_all(dir);
  auto store_a = ChunkStore::Open(dir + "/a");
  ASSERT_TRUE(store_a.ok());
  auto silent = std::make_shared<HangingShard>();
  silent->hang_reads = true;
  std::vector<Shard> shards = LocalAndHanging(store_a->get(), silent);
  BlobClientOptions opts;
  opts.chunk_size = kChunk;
  opts.replicas = 2;
  opts.write_quorum = 1;
  opts.zone = "zone-c";  // the silent shard's zone: tried first
  opts.rpc_timeout = absl::Minutes(10);
  opts.read_attempt_timeout = absl::Milliseconds(300);
  opts.suspect_period = absl::Minutes(10);
  opts.read_ahead_bytes = 2 * kChunk;
  BlobClient client(std::move(shards), opts);

  // A 6-chunk layer whose manifest names both shards; the bytes are on a.
  const std::string layer = RandomBytes(6 * kChunk, 11);
  LayerManifest m;
  m.set_total_size(layer.size());
  for (size_t pos = 0; pos < layer.size(); pos += kChunk) {
    const std::string piece = layer.substr(pos, kChunk);
    ChunkRef* ref = m.add_chunks();
    ref->set_digest(Sha256Hex(piece));
    ref->set_size(piece.size());
    ref->add_shards("c");
    ref->add_shards("a");
    ASSERT_TRUE(client.PutChunk(0, "r", ref->digest(), piece).ok());
  }
  const absl::Time start = absl::Now();
  std::string got;
  ASSERT_TRUE(client
                  .ReadLayer(m, 0, 0,
                             [&](absl::string_view p) {
                               got.append(p.data(), p.size());
                               return absl::OkStatus();
                             })
                  .ok());
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(got == layer);
  EXPECT_LT(took, absl::Seconds(20)) << "a read waited on the silent copy";
  // Only the chunks in flight before the first attempt ended met it, and
  // each got the attempt timeout, not rpc_timeout.
  EXPECT_GE(silent->read_calls.load(), 1);
  EXPECT_LE(silent->read_calls.load(), 3);
  absl::MutexLock lock(&silent->read_mu);
  EXPECT_LE(silent->longest_read_deadline, absl::Milliseconds(300));
  EXPECT_TRUE(client.Suspected(1));
}

}  // namespace
}  // namespace berth::blob

// Online garbage collection through the launcher and `berthctl gc`
// (issue 9): a cluster of 1 metad, 3 blobds in zones a/b/c (3 copies of
// every chunk) and 2 frontends with 4 KiB chunks, so every layer has
// several chunks and layers can share chunks.
//
// 1. Deleting a repository and running gc frees exactly the chunks that no
//    image of another repository needs (through ancestry and through
//    chunks shared by content): the expected set is computed here from the
//    layer bytes, and every shard's chunk list (ListChunks over gRPC) is
//    compared before and after. Every other image pulls back byte for byte.
// 2. gc with no grace period while pushes and pulls run: an upload held
//    open mid-layer keeps its chunks (its intent), the pushes made during
//    gc pull back, and a second gc after the upload finished sweeps the
//    chunks of a cut-off upload but nothing that is referenced.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "blobstore/shard_connection.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "metadata/metadata_client.h"
#include "nlohmann/json.hpp"
#include "tests/bridge_util.h"
#include "tests/cluster_launcher.h"
#include "tests/conformance_util.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"

namespace berth::testing {
namespace {

using nlohmann::json;

constexpr size_t kChunk = 4096;
// The frontend hands a layer body on in pieces of 256 KiB (http_server.cc):
// the chunks of the first piece are written once a bit more has arrived.
constexpr size_t kPieceChunks = (256 * 1024) / kChunk;
const std::vector<std::string> kShards = {"blobd-1", "blobd-2", "blobd-3"};

// The chunk digests of a layer as the frontend cuts it (kChunk bytes).
std::set<std::string> ChunksOf(const std::string& layer) {
  std::set<std::string> out;
  for (size_t off = 0; off < layer.size(); off += kChunk) {
    out.insert(Sha256Hex(layer.substr(off, kChunk)));
  }
  return out;
}

PushImage MakeImage(const std::string& seed, const std::string& parent,
                    std::string layer) {
  Image img = Synthetic(absl::StrCat(seed, "-", ::getpid()), parent,
                        std::move(layer));
  return {img.id, parent, img.json, img.layer, ""};
}

using ShardChunks = std::map<std::string, std::set<std::string>>;

class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = LauncherCluster::Up(
        {"--metads", "1", "--blobds", "3", "--frontends", "2",
         "--frontend-args", absl::StrCat("--chunk-size ", kChunk)});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    for (const char* name : {"frontend-1", "frontend-2"}) {
      auto c = RegistryClient::FromUrl(cluster_->Url(name));
      ASSERT_TRUE(c.ok()) << c.status();
      frontends_.push_back(*c);
    }
    for (const std::string& shard : kShards) {
      shards_[shard] = blob::NewGrpcShardConnection(
          shard, grpc::CreateChannel(cluster_->Address(shard),
                                     grpc::InsecureChannelCredentials()));
    }
    auto metadata = meta::MetadataClient::Connect(cluster_->MetadEndpoints());
    ASSERT_TRUE(metadata.ok()) << metadata.status();
    metadata_ = std::move(*metadata);
    EnsureShardMap();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->LogTails();
  }

  // gc sweeps the shards of the cluster's shard map (ClusterConfig). The
  // launcher registers them; if this one did not, register the same map.
  void EnsureShardMap() {
    auto config = metadata_->GetClusterConfig();
    ASSERT_TRUE(config.ok()) << config.status();
    if (config->config().shards_size() > 0) return;
    for (const std::string& shard : kShards) {
      meta::Command put;
      meta::ShardInfo* info = put.mutable_put_shard()->mutable_shard();
      info->set_id(shard);
      info->set_address(cluster_->Address(shard));
      info->set_zone(cluster_->state()[shard].value("zone", shard));
      info->set_weight(1);
      info->set_state(meta::SHARD_ACTIVE);
      auto r = metadata_->Execute(put);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->error().reason(), REASON_UNSPECIFIED) << r->error().message();
    }
  }

  ShardChunks ListAll() {
    ShardChunks out;
    for (const auto& [id, conn] : shards_) {
      std::string after;
      do {
        auto page = conn->ListChunks(after, 1000, absl::Now() + absl::Seconds(10));
        EXPECT_TRUE(page.ok()) << id << ": " << page.status();
        if (!page.ok()) return out;
        for (const auto& e : page->chunks) out[id].insert(e.digest);
        after = page->next_start_after;
      } while (!after.empty());
    }
    return out;
  }

  // Waits until each of `digests` has at least `copies` copies on the
  // shards; the listing that showed it goes to `seen`.
  bool WaitForCopies(const std::set<std::string>& digests, int copies,
                     ShardChunks* seen) {
    return WaitFor(
        [&] {
          *seen = ListAll();
          for (const auto& d : digests) {
            int n = 0;
            for (const auto& [id, set] : *seen) n += static_cast<int>(set.count(d));
            if (n < copies) return false;
          }
          return true;
        },
        absl::Seconds(30));
  }

  static std::set<std::string> Union(const ShardChunks& chunks) {
    std::set<std::string> out;
    for (const auto& [id, set] : chunks) out.insert(set.begin(), set.end());
    return out;
  }

  // `berthctl gc --grace 0s --json`; the parsed report.
  json RunGc() {
    CommandResult r = RunBerthctl({"--endpoint", cluster_->MetadEndpoints(),
                                   "--json", "gc", "--grace", "0s"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    json report = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(report.is_object()) << r.out << r.err;
    std::cout << "berthctl gc --grace 0s --json: " << r.out;
    return report.is_object() ? report : json::object();
  }

  void Push(int frontend, const std::string& repo,
            const std::vector<PushImage>& chain, const std::string& tag) {
    PushOptions options;
    options.tags[tag] = chain.back().id;
    auto pushed = PushChain(frontends_[frontend], repo, chain, options);
    ASSERT_TRUE(pushed.ok()) << repo << ": " << pushed.status();
  }

  // Pulls `repo` (every tag) and compares each image with `images`.
  void ExpectPullsBack(int frontend, const std::string& repo,
                       const std::vector<PushImage>& images) {
    auto pulled = PullAndVerify(frontends_[frontend], repo);
    ASSERT_TRUE(pulled.ok()) << repo << ": " << pulled.status();
    for (const PushImage& img : images) {
      auto it = pulled->images.find(img.id);
      ASSERT_NE(it, pulled->images.end()) << repo << " lacks " << img.id;
      EXPECT_EQ(it->second.json, img.json);
      EXPECT_TRUE(it->second.layer == img.layer) << "layer differs: " << img.id;
    }
  }

  std::unique_ptr<LauncherCluster> cluster_;
  std::vector<RegistryClient> frontends_;
  std::map<std::string, std::shared_ptr<blob::ShardConnection>> shards_;
  std::unique_ptr<meta::MetadataClient> metadata_;
};

TEST_F(GcTest, DeletingARepositoryFreesExactlyWhatNoOtherImageNeeds) {
  // gc/a: base <- mid <- a1 <- a3 (tag latest) and dedup (tag other).
  // gc/b: base <- mid <- b2 (shares base and mid with gc/a; one chunk of
  //       b2's layer has the same bytes as one of dedup's).
  // gc/c: c1 <- c2, unrelated.
  const std::string shared_block = RandomBytes(kChunk, 7);
  PushImage base = MakeImage("base", "", RandomBytes(3 * kChunk + 100, 1));
  PushImage mid = MakeImage("mid", base.id, RandomBytes(2 * kChunk + 5, 2));
  PushImage a1 = MakeImage("a1", mid.id, RandomBytes(2 * kChunk + 9, 3));
  PushImage a3 = MakeImage("a3", a1.id, RandomBytes(kChunk + 1, 4));
  PushImage dedup =
      MakeImage("dedup", "", shared_block + RandomBytes(kChunk + 3, 5));
  PushImage b2 = MakeImage("b2", mid.id,
                           RandomBytes(kChunk, 6) + shared_block + "tail");
  PushImage c1 = MakeImage("c1", "", RandomBytes(2 * kChunk, 8));
  PushImage c2 = MakeImage("c2", c1.id, RandomBytes(kChunk + 77, 9));
  Push(0, "gc/a", {base, mid, a1, a3}, "latest");
  Push(1, "gc/a", {dedup}, "other");
  Push(0, "gc/b", {base, mid, b2}, "latest");
  Push(1, "gc/c", {c1, c2}, "latest");

  std::set<std::string> needed;  // by the images that stay
  for (const PushImage* img : {&base, &mid, &b2, &c1, &c2}) {
    for (const auto& d : ChunksOf(img->layer)) needed.insert(d);
  }
  std::set<std::string> freed;  // by gc/a's own images, minus `needed`
  for (const PushImage* img : {&a1, &a3, &dedup}) {
    for (const auto& d : ChunksOf(img->layer)) {
      if (!needed.count(d)) freed.insert(d);
    }
  }
  ASSERT_TRUE(needed.count(Sha256Hex(shared_block)));
  ASSERT_FALSE(freed.count(Sha256Hex(shared_block)));
  ASSERT_EQ(freed.size(), 3u + 2u + 2u);  // a1, a3, dedup's own chunks

  const ShardChunks before = ListAll();
  std::set<std::string> all = needed;
  all.insert(freed.begin(), freed.end());
  ASSERT_EQ(Union(before), all) << "the shards hold other chunks than pushed";
  for (const auto& d : all) {
    int copies = 0;
    for (const auto& [id, set] : before) copies += set.count(d);
    EXPECT_EQ(copies, 3) << d;
  }

  // Nothing is garbage yet.
  json first = RunGc();
  EXPECT_EQ(first["images_deleted"].size(), 0u) << first.dump();
  EXPECT_EQ(first["chunks_deleted"], 0) << first.dump();
  EXPECT_EQ(ListAll(), before);

  // frontend-2 caches gc/a's images (complete records) by pulling them.
  ExpectPullsBack(1, "gc/a", {base, mid, a1, a3, dedup});

  auto deleted = frontends_[0].Request("DELETE", "/v1/repositories/gc/a/");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_EQ(deleted->status, 200) << deleted->body;

  // A dry run reports the same and deletes nothing.
  CommandResult dry = RunBerthctl({"--endpoint", cluster_->MetadEndpoints(),
                                   "gc", "--grace", "0s", "--dry-run"});
  std::cout << "berthctl gc --grace 0s --dry-run:\n" << dry.out;
  EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("would delete 3,"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find(absl::StrCat("chunks would delete: ", 3 * freed.size())),
            std::string::npos)
      << dry.out;
  EXPECT_EQ(ListAll(), before);

  json report = RunGc();
  std::set<std::string> images_deleted;
  for (const auto& id : report["images_deleted"]) {
    images_deleted.insert(id.get<std::string>());
  }
  EXPECT_EQ(images_deleted, (std::set<std::string>{a1.id, a3.id, dedup.id}))
      << report.dump();
  EXPECT_EQ(report["chunks_deleted"], 3 * freed.size()) << report.dump();

  const ShardChunks after = ListAll();
  for (const auto& [id, set] : before) {
    std::set<std::string> expected;
    for (const auto& d : set) {
      if (!freed.count(d)) expected.insert(d);
    }
    EXPECT_EQ(after.count(id) ? after.at(id) : std::set<std::string>(), expected)
        << "shard " << id;
  }
  EXPECT_EQ(Union(after), needed);

  // Every other image pulls back, verified, through both frontends.
  for (int f = 0; f < 2; ++f) {
    ExpectPullsBack(f, "gc/b", {base, mid, b2});
    ExpectPullsBack(f, "gc/c", {c1, c2});
  }
  // frontend-2 forgets its cached records once it sees the config's
  // deletion generation change (its shard map poll, every 2 s).
  for (const PushImage* img : {&a1, &a3, &dedup}) {
    EXPECT_TRUE(WaitFor(
        [&] {
          auto gone = frontends_[1].GetImageJson(img->id);
          return gone.ok() && gone->status == 404;
        },
        absl::Seconds(20)))
        << img->id << " still served after gc";
  }

  // A second run finds nothing more.
  json again = RunGc();
  EXPECT_EQ(again["images_deleted"].size(), 0u) << again.dump();
  EXPECT_EQ(again["chunks_deleted"], 0) << again.dump();

  // The deleted images can be pushed again (chunks re-put, images
  // recreated), also through the frontend that had them cached.
  Push(1, "gc/a2", {base, mid, a1, a3}, "latest");
  ExpectPullsBack(0, "gc/a2", {base, mid, a1, a3});
  ExpectPullsBack(1, "gc/a2", {base, mid, a1, a3});
}

// A layer upload held open on a raw socket: the head and part of the body
// now, the rest later.
class HeldUpload {
 public:
  ~HeldUpload() {
    if (fd_ >= 0) close(fd_);
  }
  absl::Status Start(const RegistryClient& c, const std::string& id,
                     size_t total, const std::string& first) {
    std::string head = c.LayerPutHead(id, total);
    head.insert(head.size() - 2, "Connection: close\r\n");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(c.port()));
    if (inet_pton(AF_INET, c.host().c_str(), &addr.sin_addr) != 1) {
      return absl::InvalidArgumentError("host " + c.host());
    }
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 ||
        connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return absl::UnavailableError("connect");
    }
    return Send(head + first);
  }
  // Sends the rest and returns the server's whole answer.
  absl::StatusOr<std::string> Finish(const std::string& rest) {
    if (absl::Status st = Send(rest); !st.ok()) return st;
    std::string answer;
    char buf[4096];
    while (true) {
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n < 0) return absl::UnavailableError("read");
      if (n == 0) break;
      answer.append(buf, static_cast<size_t>(n));
    }
    return answer;
  }

 private:
  absl::Status Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = write(fd_, data.data() + sent, data.size() - sent);
      if (n <= 0) return absl::UnavailableError("write");
      sent += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }
  int fd_ = -1;
};

TEST_F(GcTest, InFlightUploadsAndConcurrentPushesSurviveGcWithoutGrace) {
  PushImage live_base = MakeImage("live-base", "", RandomBytes(2 * kChunk + 3, 20));
  Push(0, "gc/live", {live_base}, "latest");

  // An upload cut off after its first chunks reached the shards leaves
  // unreferenced chunks (the frontend ends its intent).
  PushImage orphan = MakeImage("orphan", "", RandomBytes(80 * kChunk, 21));
  ASSERT_EQ(frontends_[0].PutImageJson(orphan.id, orphan.json)->status, 200);
  std::set<std::string> orphan_stored;
  for (size_t i = 0; i < kPieceChunks; ++i) {
    orphan_stored.insert(Sha256Hex(orphan.layer.substr(i * kChunk, kChunk)));
  }
  {
    HeldUpload cut;
    ASSERT_TRUE(cut.Start(frontends_[0], orphan.id, orphan.layer.size(),
                          orphan.layer.substr(0, kPieceChunks * kChunk + 5000))
                    .ok());
    ShardChunks seen;
    ASSERT_TRUE(WaitForCopies(orphan_stored, 2, &seen))
        << "the cut-off upload's chunks never reached the shards";
  }  // closed mid-body: the frontend drops the upload

  // The held upload: json, then a bit more than the first piece of its
  // layer; the frontend writes that piece's chunks while the body is
  // incomplete.
  PushImage held =
      MakeImage("held", live_base.id, RandomBytes(100 * kChunk + 50, 22));
  ASSERT_EQ(frontends_[1].PutImageJson(held.id, held.json)->status, 200);
  const size_t first_part = kPieceChunks * kChunk + 5000;
  std::set<std::string> held_chunks;
  for (size_t i = 0; i < kPieceChunks; ++i) {
    held_chunks.insert(Sha256Hex(held.layer.substr(i * kChunk, kChunk)));
  }
  HeldUpload upload;
  ASSERT_TRUE(upload.Start(frontends_[1], held.id, held.layer.size(),
                           held.layer.substr(0, first_part))
                  .ok());
  ShardChunks held_before;
  ASSERT_TRUE(WaitForCopies(held_chunks, 2, &held_before))  // write quorum
      << "the held upload's chunks never reached the shards";

  // Pushes and pulls run while gc runs.
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::mutex mu;
  std::vector<std::string> errors;              // guarded by mu
  std::vector<PushImage> busy_pushed;           // guarded by mu
  absl::Time gc_start, gc_end;
  std::vector<std::pair<absl::Time, absl::Time>> spans;  // guarded by mu
  std::thread load([&] {
    for (int k = 0; !stop.load(); ++k) {
      const absl::Time start = absl::Now();
      PushImage img = MakeImage(absl::StrCat("busy-", k), live_base.id,
                                RandomBytes(3 * kChunk + k, 100 + k));
      PushOptions options;
      options.tags[absl::StrCat("t", k)] = img.id;
      auto pushed = PushChain(frontends_[k % 2], "gc/busy", {live_base, img},
                              options);
      auto pulled = PullAndVerify(frontends_[(k + 1) % 2], "gc/live");
      std::lock_guard<std::mutex> lock(mu);
      if (!pushed.ok()) errors.push_back("push: " + pushed.status().ToString());
      if (!pulled.ok()) errors.push_back("pull: " + pulled.status().ToString());
      if (pushed.ok()) busy_pushed.push_back(img);
      spans.emplace_back(start, absl::Now());
      rounds.fetch_add(1);
    }
  });
  ASSERT_TRUE(WaitFor([&] { return rounds.load() >= 1; }, absl::Seconds(60)));
  gc_start = absl::Now();
  json report = RunGc();
  gc_end = absl::Now();
  const int rounds_at_gc_end = rounds.load();
  ASSERT_TRUE(WaitFor([&] { return rounds.load() >= rounds_at_gc_end + 1; },
                      absl::Seconds(60)));
  stop = true;
  load.join();
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(errors.empty()) << absl::StrJoin(errors, "\n");
    bool overlapped = false;
    for (const auto& [start, end] : spans) {
      overlapped |= start <= gc_end && end >= gc_start;
    }
    EXPECT_TRUE(overlapped) << "no push/pull round ran during gc";
  }
  EXPECT_GE(report.value("open_uploads", 0), 1) << report.dump();

  // The held upload's chunks are all still there, on the same shards.
  ShardChunks after_gc = ListAll();
  for (const auto& [id, set] : held_before) {
    for (const auto& d : held_chunks) {
      if (set.count(d)) {
        EXPECT_TRUE(after_gc[id].count(d)) << d << " swept from " << id;
      }
    }
  }

  // Finish the held upload; it commits and pulls back whole.
  auto answer = upload.Finish(held.layer.substr(first_part));
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->rfind("HTTP/1.1 200", 0), 0u) << *answer;
  ASSERT_EQ(frontends_[1]
                .PutChecksum(held.id, PayloadChecksum(held.json, held.layer))
                ->status,
            200);
  ASSERT_EQ(frontends_[1].PutTag("gc/live", "held", held.id)->status, 200);

  // With no upload in flight (the cut-off one's intent ended when the
  // frontend saw its connection close), a second gc sweeps the cut-off
  // upload's chunks and nothing anyone needs.
  ASSERT_TRUE(WaitFor(
      [&] {
        CommandResult dry = RunBerthctl({"--endpoint", cluster_->MetadEndpoints(),
                                         "--json", "gc", "--dry-run"});
        json j = json::parse(dry.out, nullptr, false);
        return dry.exit_code == 0 && j.is_object() && j["open_uploads"] == 0;
      },
      absl::Seconds(30)));
  json second = RunGc();
  EXPECT_EQ(second.value("open_uploads", -1), 0) << second.dump();
  const std::set<std::string> remaining = Union(ListAll());
  for (const auto& d : orphan_stored) {
    EXPECT_FALSE(remaining.count(d)) << "orphan chunk " << d << " kept";
  }
  std::vector<PushImage> busy;
  {
    std::lock_guard<std::mutex> lock(mu);
    busy = busy_pushed;
  }
  ASSERT_FALSE(busy.empty());
  for (int f = 0; f < 2; ++f) {
    ExpectPullsBack(f, "gc/live", {live_base, held});
    ExpectPullsBack(f, "gc/busy", busy);
  }
}

}  // namespace
}  // namespace berth::testing

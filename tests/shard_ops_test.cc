// Shard map management through the launcher and berthctl (issue 9, "drain
// and repair"): a shard drained while pushes and pulls run, a blobd lost
// to SIGKILL and repaired from the survivors, a corrupt chunk found by
// scrub and replaced by repair. Every check of "R good copies" re-hashes
// the copies on the shards themselves (VerifyChunk).
//
// Each test starts its own cluster: 1 metad, 4 blobds in zones a, b, c, a,
// 1 frontend with 64 KiB chunks (so that every layer has several chunks).
// The launcher registers the shards in metadata (berthctl shards add) and
// the frontend follows that map.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "blobstore/cluster_shards.h"
#include "gtest/gtest.h"
#include "metadata/metadata_client.h"
#include "nlohmann/json.hpp"
#include "tests/bridge_util.h"
#include "tests/cluster_launcher.h"
#include "tests/conformance_util.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"

namespace berth::testing {
namespace {

constexpr int kReplicas = 3;  // the cluster default (R=3, W=2)

// A base + child chain with random layers of 150-250 KiB (3-4 chunks).
std::vector<PushImage> MakeChain(const std::string& tag, int n) {
  const size_t size = (150 << 10) + 9000 * (n % 11);
  return RandomChain(absl::StrCat("shard-ops-", tag, "-", n), {size, size + 512});
}

struct Pushed {
  std::string repo;
  std::vector<PushImage> chain;
};

absl::Status Push(const RegistryClient& fe, const Pushed& p) {
  PushOptions options;
  options.tags["latest"] = p.chain.back().id;
  return PushChain(fe, p.repo, p.chain, options).status();
}

// Pulls `p` and compares every json and layer byte.
absl::Status PullIdentical(const RegistryClient& fe, const Pushed& p) {
  absl::StatusOr<PullResult> pulled = PullAndVerify(fe, p.repo);
  if (!pulled.ok()) return pulled.status();
  for (const PushImage& img : p.chain) {
    auto it = pulled->images.find(img.id);
    if (it == pulled->images.end()) {
      return absl::InternalError(absl::StrCat(p.repo, ": ", img.id, " missing"));
    }
    if (it->second.json != img.json || it->second.layer != img.layer) {
      return absl::InternalError(
          absl::StrCat(p.repo, ": bytes of ", img.id, " differ"));
    }
  }
  return absl::OkStatus();
}

class ShardOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The base port is picked free but may be taken by another process
    // before a member binds it (ports of parallel tests, ephemeral client
    // ports): a start that failed is retried on a new range.
    absl::StatusOr<std::unique_ptr<LauncherCluster>> cluster;
    for (int attempt = 0; attempt < 3; ++attempt) {
      cluster = LauncherCluster::Up(
          // Reports every 30 s only: a drain that settles within its
          // --settle 10 s relies on the report sent at once after the
          // frontend adopts the new map.
          {"--metads", "1", "--blobds", "4", "--frontends", "1",
           "--frontend-args", "--chunk-size 65536 --report-interval 30"});
      if (cluster.ok()) break;
      std::cerr << "cluster start failed, retrying: " << cluster.status() << "\n";
    }
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    auto fe = RegistryClient::FromUrl(cluster_->Url("frontend-1"));
    ASSERT_TRUE(fe.ok()) << fe.status();
    fe->set_timeout(absl::Seconds(60));
    frontend_ = std::make_unique<RegistryClient>(*fe);
    auto metadata = meta::MetadataClient::Connect(cluster_->MetadEndpoints());
    ASSERT_TRUE(metadata.ok()) << metadata.status();
    metadata_ = std::move(*metadata);
    for (int k = 1; k <= 4; ++k) {
      std::string id = absl::StrCat("blobd-", k);
      shards_[id] = blob::DialShard(id, cluster_->Address(id));
    }
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->LogTails();
  }

  CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--endpoint", cluster_->MetadEndpoints()});
    CommandResult r = RunBerthctl(args);
    std::cerr << "berthctl";
    for (const auto& a : args) std::cerr << " " << a;
    std::cerr << " -> exit " << r.exit_code << "\n" << r.out << r.err;
    return r;
  }

  // Pushes `n` fresh chains, asserting each succeeds.
  std::vector<Pushed> PushSome(const std::string& tag, int n) {
    std::vector<Pushed> out;
    for (int i = 0; i < n; ++i) {
      Pushed p{absl::StrCat("ops/", tag, i), MakeChain(tag, i)};
      absl::Status st = Push(*frontend_, p);
      EXPECT_TRUE(st.ok()) << p.repo << ": " << st;
      out.push_back(std::move(p));
    }
    return out;
  }

  // Every chunk of every layer of `pushed` must have at least R copies that
  // re-hash correctly on shards outside `excluded`. Returns the number of
  // chunks checked.
  int ExpectRGoodCopies(const std::vector<Pushed>& pushed,
                        const std::set<std::string>& excluded) {
    std::map<std::string, int> good_of;  // digest -> good copies
    for (const Pushed& p : pushed) {
      for (const PushImage& img : p.chain) {
        meta::GetImageRequest request;
        request.set_id(img.id);
        auto response = metadata_->GetImage(request);
        EXPECT_TRUE(response.ok()) << response.status();
        if (!response.ok()) continue;
        const blob::LayerManifest& layer = response->image().layer();
        EXPECT_GE(layer.chunks_size(), 2) << img.id;
        for (const blob::ChunkRef& ref : layer.chunks()) {
          if (good_of.count(ref.digest())) continue;
          int good = 0;
          for (const auto& [id, conn] : shards_) {
            if (excluded.count(id)) continue;
            auto v = conn->VerifyChunk(ref.digest(), /*quarantine=*/false,
                                       absl::Now() + absl::Seconds(20));
            if (v.ok() && v->good && v->size == ref.size()) ++good;
          }
          good_of[ref.digest()] = good;
          EXPECT_GE(good, kReplicas)
              << "chunk " << ref.digest() << " of " << img.id << " (" << p.repo
              << ") has " << good << " good copies outside the excluded shards";
        }
      }
    }
    return static_cast<int>(good_of.size());
  }

  void ExpectAllPullIdentical(const std::vector<Pushed>& pushed) {
    for (const Pushed& p : pushed) {
      absl::Status st = PullIdentical(*frontend_, p);
      EXPECT_TRUE(st.ok()) << st;
    }
  }

  // shard_map_version of every frontend `berthctl status --json` lists,
  // by id.
  std::map<std::string, uint64_t> FrontendMapVersions() {
    CommandResult r = Ctl({"--json", "status"});
    EXPECT_EQ(r.exit_code, 0);
    nlohmann::json status =
        nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    std::map<std::string, uint64_t> out;
    if (!status.is_object()) return out;
    for (const auto& f : status["frontends"]) {
      out[f["id"].get<std::string>()] = f["shard_map_version"].get<uint64_t>();
    }
    return out;
  }

  // The shard map as `berthctl shards list --json` shows it.
  nlohmann::json ShardList() {
    CommandResult r = Ctl({"--json", "shards", "list"});
    EXPECT_EQ(r.exit_code, 0);
    return nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  }

  std::unique_ptr<LauncherCluster> cluster_;
  std::unique_ptr<RegistryClient> frontend_;
  std::unique_ptr<meta::MetadataClient> metadata_;
  std::map<std::string, std::shared_ptr<blob::ShardConnection>> shards_;
};

TEST_F(ShardOpsTest, LauncherRegistersTheShardMap) {
  nlohmann::json list = ShardList();
  ASSERT_TRUE(list.is_object()) << list;
  ASSERT_EQ(list["shards"].size(), 4u);
  EXPECT_EQ(list["replicas"], kReplicas);
  const char* zones[] = {"a", "b", "c", "a"};
  for (int k = 0; k < 4; ++k) {
    const auto& s = list["shards"][k];
    EXPECT_EQ(s["id"], absl::StrCat("blobd-", k + 1));
    EXPECT_EQ(s["zone"], zones[k]);
    EXPECT_EQ(s["state"], "active");
    EXPECT_EQ(s["reachable"], true);
  }
  // `shards add` checks who answers: blobd-1's address is not blobd-9.
  CommandResult wrong = Ctl({"shards", "add", "blobd-9",
                             cluster_->Address("blobd-1"), "--zone", "z"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("is shard 'blobd-1'"), std::string::npos);
  // Nothing answers on a closed port: unavailable, map unchanged.
  CommandResult dead = Ctl({"--timeout", "2", "shards", "add", "blobd-9",
                            "127.0.0.1:1", "--zone", "z"});
  EXPECT_EQ(dead.exit_code, 3);
  EXPECT_EQ(ShardList()["shards"].size(), 4u);
  // Unknown shards: not found; remove of an active shard is refused.
  EXPECT_EQ(Ctl({"shards", "drain", "nope"}).exit_code, 1);
  EXPECT_EQ(Ctl({"shards", "remove", "nope"}).exit_code, 1);
  EXPECT_EQ(Ctl({"shards", "remove", "blobd-1"}).exit_code, 5);
  EXPECT_EQ(ShardList()["shards"].size(), 4u);
}

// `shards drain` copies only once every frontend seen in the last minute
// reports the new shard map: a killed frontend's last report (old map)
// stays listed for a minute, so the drain fails naming it (exit 5, nothing
// copied, the shard stays draining) unless --force; a restarted frontend
// reports the current map at once and the drain goes through.
TEST_F(ShardOpsTest, DrainWaitsUntilEveryFrontendAdoptedTheMap) {
  nlohmann::json list = ShardList();
  const uint64_t before = list["shard_map_version"].get<uint64_t>();
  ASSERT_GT(before, 0u);
  ASSERT_TRUE(WaitFor([&] { return FrontendMapVersions()["frontend-1"] == before; },
                      absl::Seconds(30)));
  ASSERT_TRUE(cluster_->Kill("frontend-1").ok());

  CommandResult lagging =
      Ctl({"--json", "shards", "drain", "blobd-4", "--settle", "1"});
  EXPECT_EQ(lagging.exit_code, 5);
  EXPECT_NE(lagging.err.find("frontend-1"), std::string::npos);
  EXPECT_NE(lagging.err.find("on map version " + std::to_string(before)),
            std::string::npos);
  nlohmann::json failed =
      nlohmann::json::parse(lagging.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(failed.is_object()) << lagging.out;
  EXPECT_EQ(failed["drained"], false);
  EXPECT_FALSE(failed.contains("copies_made"));
  ASSERT_EQ(failed["lagging_frontends"].size(), 1u);
  EXPECT_EQ(failed["lagging_frontends"][0]["id"], "frontend-1");
  const uint64_t draining = failed["shard_map_version"].get<uint64_t>();
  EXPECT_GT(draining, before);
  list = ShardList();
  EXPECT_EQ(list["shards"][3]["state"], "draining");
  EXPECT_EQ(list["frontends"][0]["shard_map_version"], before);

  // --force copies anyway (nothing to copy here: no image yet).
  CommandResult forced =
      Ctl({"--json", "shards", "drain", "blobd-4", "--settle", "1", "--force"});
  EXPECT_EQ(forced.exit_code, 0);
  EXPECT_NE(forced.err.find("--force"), std::string::npos);

  // Restarted, the frontend reads the map at start and reports it.
  ASSERT_TRUE(cluster_->Restart("frontend-1").ok());
  CommandResult drain =
      Ctl({"--json", "shards", "drain", "blobd-4", "--settle", "10"});
  ASSERT_EQ(drain.exit_code, 0);
  nlohmann::json report = nlohmann::json::parse(drain.out);
  EXPECT_EQ(report["drained"], true);
  EXPECT_EQ(report["shard_map_version"], draining);
  ASSERT_EQ(report["frontends"].size(), 1u);
  EXPECT_GE(report["frontends"][0]["shard_map_version"].get<uint64_t>(),
            draining);
  EXPECT_GE(FrontendMapVersions()["frontend-1"], draining);
}

TEST_F(ShardOpsTest, DrainUnderLoadLeavesRGoodCopiesWithoutTheShard) {
  std::vector<Pushed> before = PushSome("pre", 6);
  ASSERT_FALSE(HasFailure());

  // Load: one pusher of fresh chains, one puller of the earlier ones,
  // until the drain is over.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Pushed> during;              // guarded by mu
  std::vector<std::string> failures;       // guarded by mu
  std::atomic<int> pulls{0};
  std::thread pusher([&] {
    for (int i = 0; !stop.load(); ++i) {
      Pushed p{absl::StrCat("ops/load", i), MakeChain("load", i)};
      absl::Status st = Push(*frontend_, p);
      std::lock_guard<std::mutex> lock(mu);
      if (st.ok()) {
        during.push_back(std::move(p));
      } else {
        failures.push_back(absl::StrCat("push ", p.repo, ": ", st.ToString()));
      }
    }
  });
  std::thread puller([&] {
    for (size_t i = 0; !stop.load(); ++i) {
      const Pushed& p = before[i % before.size()];
      absl::Status st = PullIdentical(*frontend_, p);
      pulls.fetch_add(1);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        failures.push_back(absl::StrCat("pull ", p.repo, ": ", st.ToString()));
      }
    }
  });
  // Let the load get going, then drain while it runs.
  bool loaded = WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return during.size() >= 2 && pulls.load() >= 2;
      },
      absl::Seconds(60));
  CommandResult drain =
      Ctl({"--json", "shards", "drain", "blobd-2", "--settle", "10"});
  size_t pushed_during_drain;
  {
    std::lock_guard<std::mutex> lock(mu);
    pushed_during_drain = during.size();
  }
  // A few more pushes after the drain: they must avoid the draining shard.
  WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return during.size() >= pushed_during_drain + 2;
      },
      absl::Seconds(60));
  stop.store(true);
  pusher.join();
  puller.join();
  ASSERT_TRUE(loaded);
  ASSERT_EQ(drain.exit_code, 0);
  nlohmann::json report =
      nlohmann::json::parse(drain.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(report.is_object()) << drain.out;
  EXPECT_EQ(report["drained"], true);
  // The frontend reported the map with blobd-2 draining before anything
  // was copied (the drain read these reports first), well within the
  // 10 s settle bound although it reports only every 30 s otherwise.
  const uint64_t draining = report["shard_map_version"].get<uint64_t>();
  ASSERT_EQ(report["frontends"].size(), 1u);
  EXPECT_EQ(report["frontends"][0]["id"], "frontend-1");
  EXPECT_GE(report["frontends"][0]["shard_map_version"].get<uint64_t>(),
            draining);
  EXPECT_GE(FrontendMapVersions()["frontend-1"], draining);
  EXPECT_GT(report["copies_made"].get<int>(), 0)
      << "blobd-2 held copies that had to move";
  EXPECT_TRUE(report["under_replicated"].empty());
  EXPECT_TRUE(report["lost"].empty());
  for (const std::string& f : failures) ADD_FAILURE() << f;
  std::cerr << "load during the drain: " << during.size() << " pushes, "
            << pulls.load() << " pulls\n";

  std::vector<Pushed> all = before;
  all.insert(all.end(), during.begin(), during.end());
  int chunks = ExpectRGoodCopies(all, {"blobd-2"});
  std::cerr << chunks << " chunks have " << kReplicas
            << " good copies without blobd-2\n";
  EXPECT_EQ(ShardList()["shards"][1]["state"], "draining");

  // Drain again: idempotent, nothing left to move.
  CommandResult again = Ctl({"--json", "shards", "drain", "blobd-2"});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(again.out)["copies_made"], 0);

  // Remove it, and make sure nothing needs it: it is killed too.
  ASSERT_EQ(Ctl({"shards", "remove", "blobd-2"}).exit_code, 0);
  ASSERT_TRUE(cluster_->Kill("blobd-2").ok());
  nlohmann::json list = ShardList();
  ASSERT_EQ(list["shards"].size(), 3u);
  for (const auto& s : list["shards"]) EXPECT_NE(s["id"], "blobd-2");
  ExpectAllPullIdentical(all);
  // New pushes keep working on the three remaining shards.
  std::vector<Pushed> after = PushSome("post", 2);
  ExpectAllPullIdentical(after);
  ExpectRGoodCopies(after, {"blobd-2"});
}

TEST_F(ShardOpsTest, LostShardIsRepairedFromTheSurvivors) {
  std::vector<Pushed> pushed = PushSome("lost", 6);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(cluster_->Kill("blobd-3").ok());
  // Removing a lost shard that was never drained needs --force.
  EXPECT_EQ(Ctl({"shards", "remove", "blobd-3"}).exit_code, 5);
  ASSERT_EQ(Ctl({"shards", "remove", "blobd-3", "--force"}).exit_code, 0);
  CommandResult repair = Ctl({"--json", "repair"});
  ASSERT_EQ(repair.exit_code, 0);
  nlohmann::json report = nlohmann::json::parse(repair.out);
  EXPECT_GT(report["copies_made"].get<int>(), 0);
  EXPECT_TRUE(report["lost"].empty());
  EXPECT_TRUE(report["under_replicated"].empty());
  int chunks = ExpectRGoodCopies(pushed, {"blobd-3"});
  std::cerr << chunks << " chunks back to " << kReplicas
            << " good copies without blobd-3\n";
  // Manifests no longer name the lost shard.
  for (const Pushed& p : pushed) {
    for (const PushImage& img : p.chain) {
      meta::GetImageRequest request;
      request.set_id(img.id);
      auto response = metadata_->GetImage(request);
      ASSERT_TRUE(response.ok());
      for (const blob::ChunkRef& ref : response->image().layer().chunks()) {
        EXPECT_GE(ref.shards_size(), kReplicas);
        for (const std::string& s : ref.shards()) EXPECT_NE(s, "blobd-3");
      }
    }
  }
  ExpectAllPullIdentical(pushed);
  // A second repair has nothing to do.
  CommandResult again = Ctl({"--json", "repair"});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(again.out)["copies_made"], 0);
}

TEST_F(ShardOpsTest, ScrubFindsACorruptChunkAndRepairReplacesIt) {
  std::vector<Pushed> pushed = PushSome("scrub", 3);
  ASSERT_FALSE(HasFailure());
  // A chunk of the first layer, and a shard holding a copy of it.
  meta::GetImageRequest request;
  request.set_id(pushed[0].chain[0].id);
  auto image = metadata_->GetImage(request);
  ASSERT_TRUE(image.ok());
  const blob::ChunkRef ref = image->image().layer().chunks(1);
  ASSERT_FALSE(ref.shards().empty());
  const std::string victim = ref.shards(0);
  const std::string path =
      absl::StrCat(cluster_->ArgOf(victim, "--data"), "/chunks/",
                   ref.digest().substr(0, 2), "/", ref.digest().substr(2, 2),
                   "/", ref.digest());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open()) << path;
    f.seekg(100);
    char c = 0;
    f.read(&c, 1);
    f.seekp(100);
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  CommandResult scrub = Ctl({"--json", "scrub", "--quarantine"});
  ASSERT_EQ(scrub.exit_code, 0);
  nlohmann::json report = nlohmann::json::parse(scrub.out);
  int corrupt_found = 0;
  for (const auto& row : report["shards"]) {
    for (const auto& d : row["corrupt"]) {
      ++corrupt_found;
      EXPECT_EQ(row["shard"], victim);
      EXPECT_EQ(d, ref.digest());
    }
    if (row["shard"] == victim) {
      EXPECT_EQ(row["quarantined"], 1);
    }
  }
  EXPECT_EQ(corrupt_found, 1);
  // Quarantined: the shard no longer has the chunk.
  auto stat = shards_[victim]->StatChunk(ref.digest(),
                                         absl::Now() + absl::Seconds(10));
  EXPECT_FALSE(stat.ok());
  // The table form lists it too.
  CommandResult table = Ctl({"scrub"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_EQ(table.out.find("corrupt "), std::string::npos)
      << "nothing corrupt is left in chunks/ after the quarantine";

  CommandResult repair = Ctl({"--json", "repair", "--image", pushed[0].chain[0].id});
  ASSERT_EQ(repair.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(repair.out)["copies_made"], 1);
  auto verify = shards_[victim]->VerifyChunk(ref.digest(), false,
                                             absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_TRUE(verify->good);
  ExpectRGoodCopies(pushed, {});
  ExpectAllPullIdentical(pushed);
  // An unknown image: not found.
  EXPECT_EQ(Ctl({"repair", "--image", std::string(64, 'f')}).exit_code, 1);
}

}  // namespace
}  // namespace berth::testing

// Faults under load through the launcher (issue 9): 20 pushes run at once
// through two frontends while a blobd and a metad are killed with SIGKILL;
// every push that got its final 2xx must pull back byte-identical through
// both frontends, before and after the killed members come back.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/cluster_launcher.h"
#include "tests/conformance_util.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"

namespace berth::testing {
namespace {

constexpr int kPushes = 20;

// A two-image chain (base + child), each with its own random layer of a
// few MiB: several 8 MiB-chunk-size-crossing uploads per push would make
// the test slow, so layers stay below one chunk but are not tiny.
std::vector<PushImage> MakeChain(int n) {
  const size_t size = (3 << 20) + 4096 * n;
  return RandomChain(absl::StrCat("faults-", n), {size, size + 1});
}

void ExpectPullsBack(const RegistryClient& client, const std::string& repo,
                     const std::vector<PushImage>& chain) {
  SCOPED_TRACE(absl::StrCat("pull ", repo, " from port ", client.port()));
  absl::StatusOr<PullResult> pulled = PullAndVerify(client, repo);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  ASSERT_EQ(pulled->tags.at("latest"), chain.back().id);
  for (const PushImage& img : chain) {
    ASSERT_TRUE(pulled->images.count(img.id)) << img.id;
    EXPECT_EQ(pulled->images.at(img.id).json, img.json);
    EXPECT_TRUE(pulled->images.at(img.id).layer == img.layer)
        << "layer bytes differ for " << img.id;
  }
}

TEST(ClusterFaultsTest, KillBlobdAndMetadDuringTwentyPushes) {
  auto cluster = LauncherCluster::Up(
      {"--metads", "3", "--blobds", "3", "--frontends", "2"});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LauncherCluster& c = **cluster;
  std::vector<RegistryClient> frontends;
  for (const char* name : {"frontend-1", "frontend-2"}) {
    absl::StatusOr<RegistryClient> fe = RegistryClient::FromUrl(c.Url(name));
    ASSERT_TRUE(fe.ok()) << fe.status();
    fe->set_timeout(absl::Seconds(60));
    frontends.push_back(*fe);
  }

  std::vector<std::vector<PushImage>> chains;
  for (int n = 0; n < kPushes; ++n) chains.push_back(MakeChain(n));

  std::atomic<int> finished{0};
  std::mutex mu;
  std::map<int, absl::Status> outcome;  // guarded by mu
  std::vector<std::thread> pushers;
  for (int n = 0; n < kPushes; ++n) {
    pushers.emplace_back([&, n] {
      PushOptions options;
      options.tags["latest"] = chains[n].back().id;
      absl::StatusOr<PushReport> r =
          PushChain(frontends[n % 2], absl::StrCat("faults/repo", n),
                    chains[n], options);
      std::lock_guard<std::mutex> lock(mu);
      outcome[n] = r.status();
      finished.fetch_add(1);
    });
  }
  // Kill while most pushes are still running: after the first few have
  // finished (so the cluster was demonstrably serving them).
  bool some_finished =
      WaitFor([&] { return finished.load() >= 3; }, absl::Seconds(120));
  int finished_at_kill = finished.load();
  absl::Status killed_blobd = c.Kill("blobd-2");
  absl::Status killed_metad = c.Kill("metad-2");
  for (std::thread& t : pushers) t.join();
  ASSERT_TRUE(some_finished) << c.LogTails();
  ASSERT_TRUE(killed_blobd.ok()) << killed_blobd;
  ASSERT_TRUE(killed_metad.ok()) << killed_metad;
  EXPECT_LT(finished_at_kill, kPushes) << "every push ended before the kills";

  int succeeded = 0;
  for (const auto& [n, st] : outcome) {
    if (st.ok()) {
      ++succeeded;
    } else {
      std::cerr << "push " << n << " failed (allowed): " << st << "\n";
    }
  }
  std::cerr << "pushes finished before the kills: " << finished_at_kill
            << ", succeeded: " << succeeded << " of " << kPushes << "\n";
  // Two metads, two blobds (W=2) and both frontends stay up: a call cut
  // by a kill is retried on another replica (writes keep their request
  // id), and chunks reach W on the survivors, so no push should fail.
  EXPECT_EQ(succeeded, kPushes);

  // With the members still dead, then after they come back.
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "members down" : "members restarted");
    for (const auto& [n, st] : outcome) {
      if (!st.ok()) continue;
      std::string repo = absl::StrCat("faults/repo", n);
      ExpectPullsBack(frontends[0], repo, chains[n]);
      ExpectPullsBack(frontends[1], repo, chains[n]);
    }
    if (round == 0) {
      ASSERT_TRUE(c.Restart("blobd-2").ok()) << c.LogTails();
      ASSERT_TRUE(c.Restart("metad-2").ok()) << c.LogTails();
    }
  }
  if (HasFailure()) std::cerr << c.LogTails();
}

}  // namespace
}  // namespace berth::testing

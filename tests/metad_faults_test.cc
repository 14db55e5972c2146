// Faults of the metadata tier with real etcd members and real metads:
// etcd quorum loss and recovery; trimming keeps etcd's database bounded;
// a wiped replica and a replica whose position was compacted away both
// bootstrap from a peer's checkpoint and converge; etcd's NOSPACE alarm
// turns writes into UNAVAILABLE until a trim disarms it.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/metad_cluster.h"

namespace berth::testing {
namespace {

#define ASSERT_OK(expr)                      \
  do {                                       \
    const absl::Status _st = (expr);         \
    ASSERT_TRUE(_st.ok()) << _st.ToString(); \
  } while (0)

int64_t MaxDbSize(meta::MetadataClient& c) {
  auto st = c.Status(0);
  int64_t m = 0;
  if (!st.ok()) return -1;
  for (const auto& e : st->etcd()) m = std::max(m, e.db_size());
  return m;
}

TEST(MetadFaultsTest, EtcdQuorumLossFailsFastAndAckedWritesSurvive) {
  auto started = MetadCluster::Start(3, 3, {"--trim-interval", "0"});
  ASSERT_TRUE(started.ok()) << started.status();
  MetadCluster& cluster = **started;
  meta::MetadataClientOptions o;
  o.call_timeout = absl::Seconds(4);  // the 5 s promise: one attempt
  o.attempts = 1;
  auto fast = meta::MetadataClient::Connect(cluster.address(0), o);
  ASSERT_TRUE(fast.ok());
  std::vector<std::string> acked;
  auto write = [&](const std::string& tag, int n) -> absl::Status {
    std::string id = ImageId(tag, n);
    auto r = (*fast)->Execute(PutJsonCommand(id, 200));
    if (!r.ok()) return r.status();
    if (r->error().reason() != REASON_UNSPECIFIED) {
      return absl::InternalError(r->error().message());
    }
    acked.push_back(id);
    return absl::OkStatus();
  };
  for (int n = 0; n < 20; ++n) ASSERT_OK(write("before", n));

  ASSERT_OK(cluster.etcd().Kill(0));
  // Writes go on; the first ones may wait out a leader election.
  ASSERT_TRUE(WaitFor([&] { return write("one-down", 0).ok(); },
                      absl::Seconds(30), absl::Milliseconds(100)));
  for (int n = 1; n < 20; ++n) ASSERT_OK(write("one-down", n));

  ASSERT_OK(cluster.etcd().Kill(1));
  for (int n = 0; n < 3; ++n) {
    absl::Time start = absl::Now();
    absl::Status st = write("no-quorum", n);
    absl::Duration took = absl::Now() - start;
    EXPECT_TRUE(absl::IsUnavailable(st)) << st;  // never success
    EXPECT_LT(took, absl::Seconds(5)) << "write hung for " << took;
  }

  ASSERT_OK(cluster.etcd().Restart(1));
  // Writes resume (the first may still find no leader).
  ASSERT_TRUE(WaitFor([&] { return write("resumed", 0).ok(); },
                      absl::Seconds(30), absl::Milliseconds(200)));
  for (int n = 1; n < 20; ++n) ASSERT_OK(write("resumed", n));
  ASSERT_OK(cluster.etcd().Restart(0));

  auto digest = cluster.WaitConverged(absl::Seconds(60));
  ASSERT_TRUE(digest.ok()) << digest.status();
  for (int i = 0; i < 3; ++i) {
    for (const std::string& id : acked) {
      meta::GetImageRequest req;
      req.set_id(id);
      auto got = cluster.one(i).GetImage(req);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(got->error().reason(), REASON_UNSPECIFIED) << id;
    }
  }
}

TEST(MetadFaultsTest, TrimBoundsEtcdAndCompactedReplicasBootstrap) {
  // Short lease so a dead replica stops holding trimming back; frequent
  // trims with a small margin so compaction passes a stopped replica.
  auto started = MetadCluster::Start(
      3, 3,
      {"--trim-interval", "1", "--trim-margin", "20", "--lease-ttl", "3",
       "--heartbeat", "0.2"});
  ASSERT_TRUE(started.ok()) << started.status();
  MetadCluster& cluster = **started;
  const int64_t size_start = MaxDbSize(cluster.all());

  // metad-3 goes away for good (wiped), metad-2 only stops.
  ASSERT_OK(cluster.KillMetad(2));
  ASSERT_OK(cluster.KillMetad(1));
  std::filesystem::remove_all(cluster.data_dir(2));

  // A long write run (8 KiB entries for 10 s, tens of MB through etcd),
  // sampling etcd's database size once a second.
  const auto run_start = absl::Now();
  int64_t size_max = 0;
  size_t written = 0;
  {
    WriteLoad load(&cluster.one(0), 16, 8 << 10, "long");
    while (absl::Now() - run_start < absl::Seconds(10)) {
      absl::SleepFor(absl::Seconds(1));  // sampling period, not a wait
      size_max = std::max(size_max, MaxDbSize(cluster.all()));
    }
    load.Stop();
    written = load.acked().size() * (8 << 10);
  }
  const int64_t size_end = MaxDbSize(cluster.all());
  auto trimmed = cluster.one(0).Trim(0, /*defragment=*/true);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  const int64_t size_after = MaxDbSize(cluster.all());
  std::printf(
      "etcd db size: %lld bytes at start; %.1f MB written in %.1f s; max "
      "%lld and %lld at the end of the run; %lld after trim (%s)\n",
      static_cast<long long>(size_start), written / 1e6,
      absl::ToDoubleSeconds(absl::Now() - run_start),
      static_cast<long long>(size_max), static_cast<long long>(size_end),
      static_cast<long long>(size_after), trimmed->detail().c_str());
  // Without trimming etcd would hold every revision: the file would be
  // larger than everything written. Periodic trims keep it bounded, and an
  // explicit trim + defragment shrinks it to little more than the live keys.
  EXPECT_GT(written, static_cast<size_t>(size_max));
  EXPECT_LT(size_max, 96 << 20);
  EXPECT_LT(size_after, 8 << 20);

  // The wiped replica starts from a checkpoint (its log start is gone).
  ASSERT_OK(cluster.StartMetad(2));
  // The stopped one finds its position compacted away and re-bootstraps.
  ASSERT_OK(cluster.StartMetad(1));
  auto digest = cluster.WaitConverged(absl::Seconds(90));
  ASSERT_TRUE(digest.ok()) << digest.status();
  auto st = cluster.one(1).Status(0);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state(), "serving");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(MetadFaultsTest, EtcdNoSpaceAnswersUnavailableAndTrimDisarms) {
  // A 16 MiB backend quota that 64 KiB writes fill in a few seconds; no
  // periodic trim, no margin, so only the explicit trim below frees space.
  auto started = MetadCluster::Start(
      1, 2, {"--trim-interval", "0", "--trim-margin", "0"},
      {"--quota-backend-bytes=16777216"});
  ASSERT_TRUE(started.ok()) << started.status();
  MetadCluster& cluster = **started;
  meta::MetadataClientOptions o;
  o.call_timeout = absl::Seconds(4);  // the 5 s promise: one attempt
  o.attempts = 1;
  auto client = meta::MetadataClient::Connect(cluster.address(0), o);
  ASSERT_TRUE(client.ok());
  std::vector<std::string> acked;
  int n = 0;
  auto write = [&]() -> absl::Status {
    std::string id = ImageId("nospace", n++);
    absl::Time start = absl::Now();
    auto r = (*client)->Execute(PutJsonCommand(id, 64 << 10));
    EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "a write hung";
    if (!r.ok()) return r.status();
    EXPECT_EQ(r->error().reason(), REASON_UNSPECIFIED);
    acked.push_back(id);
    return absl::OkStatus();
  };
  absl::Status failed;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (failed.ok() && absl::Now() < deadline) failed = write();
  ASSERT_FALSE(failed.ok()) << "the quota never filled";
  EXPECT_TRUE(absl::IsUnavailable(failed)) << failed;
  EXPECT_GT(acked.size(), 50u);
  // Never success while the alarm is armed.
  for (int k = 0; k < 3; ++k) {
    absl::Status st = write();
    EXPECT_TRUE(absl::IsUnavailable(st)) << st;
    EXPECT_NE(st.message().find("NOSPACE"), std::string::npos) << st;
  }
  auto status = cluster.one(0).Status(0);
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_FALSE(status->etcd().empty());
  ASSERT_FALSE(status->etcd(0).alarms().empty());
  EXPECT_EQ(status->etcd(0).alarms(0), "NOSPACE");
  EXPECT_NE(ReadFile(cluster.log_path(0)).find("NOSPACE alarm"),
            std::string::npos)
      << "no clear log line";
  // Nothing acknowledged is lost and both replicas hold the same state.
  auto digest = cluster.WaitConverged(absl::Seconds(30));
  ASSERT_TRUE(digest.ok()) << digest.status();
  for (size_t k = 0; k < acked.size(); k += 10) {
    meta::GetImageRequest req;
    req.set_id(acked[k]);
    req.mutable_read()->set_stale_ok(true);
    auto got = cluster.one(1).GetImage(req);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->error().reason(), REASON_UNSPECIFIED);
  }

  // Trim: compaction + defragmentation + disarm; writes resume. The
  // replicas' durable positions (synced by their heartbeats) reach the
  // end of the log although no heartbeat can be registered in etcd.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int i = 0; i < 2; ++i) {
          auto st = cluster.one(i).Status(0);
          if (!st.ok() || st->durable_applied() < st->applied()) return false;
        }
        return true;
      },
      absl::Seconds(10), absl::Milliseconds(100)));
  auto trimmed = cluster.one(0).Trim(0, /*defragment=*/true);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  std::printf("after NOSPACE at %zu writes: %s\n", acked.size(),
              trimmed->detail().c_str());
  EXPECT_NE(trimmed->detail().find("disarmed"), std::string::npos);
  ASSERT_TRUE(WaitFor([&] { return write().ok(); }, absl::Seconds(30),
                      absl::Milliseconds(200)));
  for (int k = 0; k < 5; ++k) ASSERT_OK(write());
  auto after = cluster.WaitConverged(absl::Seconds(30));
  ASSERT_TRUE(after.ok()) << after.status();
}

}  // namespace
}  // namespace berth::testing

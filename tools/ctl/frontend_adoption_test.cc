// WaitForAdoption with a scripted report source and a fake clock: it
// returns as soon as every frontend reports the version, names the
// laggards at the timeout, retries failed reads, and fails only when no
// read ever succeeded.
#include "tools/ctl/frontend_adoption.h"

#include <deque>

#include "gtest/gtest.h"

namespace berth::ctl {
namespace {

meta::FrontendReport Report(const std::string& id, uint64_t version) {
  meta::FrontendReport r;
  r.set_id(id);
  r.set_address("127.0.0.1:" + id);
  r.set_shard_map_version(version);
  return r;
}

// A fake clock advanced only by the waiter's sleeps, and a script of
// answers (the last one repeats).
class AdoptionWaitTest : public ::testing::Test {
 protected:
  AdoptionWaitOptions Options(absl::Duration timeout) {
    AdoptionWaitOptions o;
    o.timeout = timeout;
    o.poll = absl::Milliseconds(250);
    o.now = [this] { return now_; };
    o.sleep = [this](absl::Duration d) {
      EXPECT_GT(d, absl::ZeroDuration());
      now_ += d;
    };
    return o;
  }
  std::function<absl::StatusOr<FrontendReports>()> Fetch() {
    return [this]() -> absl::StatusOr<FrontendReports> {
      ++fetches_;
      absl::StatusOr<FrontendReports> next = script_.front();
      if (script_.size() > 1) script_.pop_front();
      return next;
    };
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  std::deque<absl::StatusOr<FrontendReports>> script_;
  int fetches_ = 0;
};

TEST(LaggingFrontends, ListsThoseBelowTheVersion) {
  FrontendReports reports = {Report("a", 5), Report("b", 4), Report("c", 6),
                             Report("d", 0)};
  FrontendReports lagging = LaggingFrontends(reports, 5);
  ASSERT_EQ(lagging.size(), 2u);
  EXPECT_EQ(lagging[0].id(), "b");
  EXPECT_EQ(lagging[1].id(), "d");
  EXPECT_EQ(DescribeFrontends(lagging),
            "b (127.0.0.1:b) on map version 4, d (127.0.0.1:d) on map "
            "version 0");
  EXPECT_TRUE(LaggingFrontends(reports, 0).empty());
}

TEST_F(AdoptionWaitTest, ReturnsOnceEveryFrontendReportsTheVersion) {
  script_ = {FrontendReports{Report("a", 3), Report("b", 3)},
             FrontendReports{Report("a", 4), Report("b", 3)},
             FrontendReports{Report("a", 4), Report("b", 5)}};
  auto result = WaitForAdoption(Fetch(), 4, Options(absl::Seconds(30)));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->adopted);
  EXPECT_TRUE(result->lagging.empty());
  EXPECT_EQ(result->frontends.size(), 2u);
  EXPECT_EQ(fetches_, 3);
  EXPECT_EQ(result->waited, absl::Milliseconds(500));
}

TEST_F(AdoptionWaitTest, AlreadyAdoptedOrNoFrontendNeedsNoWait) {
  script_ = {FrontendReports{Report("a", 9)}};
  auto result = WaitForAdoption(Fetch(), 9, Options(absl::Seconds(30)));
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->adopted);
  EXPECT_EQ(result->waited, absl::ZeroDuration());

  script_ = {FrontendReports{}};
  result = WaitForAdoption(Fetch(), 9, Options(absl::Seconds(30)));
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->adopted);
  EXPECT_TRUE(result->frontends.empty());
}

TEST_F(AdoptionWaitTest, TimeoutNamesTheLaggards) {
  script_ = {FrontendReports{Report("a", 7), Report("b", 6)}};
  auto result = WaitForAdoption(Fetch(), 7, Options(absl::Seconds(2)));
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->adopted);
  ASSERT_EQ(result->lagging.size(), 1u);
  EXPECT_EQ(result->lagging[0].id(), "b");
  // Polled every 250 ms up to the deadline, not beyond it.
  EXPECT_EQ(result->waited, absl::Seconds(2));
  EXPECT_EQ(fetches_, 9);
}

TEST_F(AdoptionWaitTest, FailedReadsAreRetried) {
  script_ = {absl::UnavailableError("metad down"),
             absl::UnavailableError("metad down"),
             FrontendReports{Report("a", 2)}};
  auto result = WaitForAdoption(Fetch(), 2, Options(absl::Seconds(5)));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->adopted);
  EXPECT_EQ(fetches_, 3);
}

TEST_F(AdoptionWaitTest, NoSuccessfulReadIsAnError) {
  script_ = {absl::UnavailableError("metad down")};
  auto result = WaitForAdoption(Fetch(), 2, Options(absl::Seconds(1)));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(now_, absl::FromUnixSeconds(1001));  // waited the whole timeout
}

}  // namespace
}  // namespace berth::ctl

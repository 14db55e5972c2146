// ReportSignal, which makes the frontend's reporter send a report at once
// after the shard map follower adopted a new map: a raise ends the wait
// (several raises make one wake-up), Close ends every wait for good, and
// without either the wait lasts its timeout.
#include <thread>

#include "absl/time/clock.h"
#include "frontend/reporter.h"
#include "gtest/gtest.h"

namespace berth::frontend {
namespace {

TEST(ReportSignal, RaiseEndsTheWaitOnce) {
  ReportSignal signal;
  signal.Raise();
  signal.Raise();
  const absl::Time start = absl::Now();
  EXPECT_TRUE(signal.Wait(absl::Seconds(30)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // Consumed: the next wait runs to its (short) timeout.
  const absl::Time second = absl::Now();
  EXPECT_TRUE(signal.Wait(absl::Milliseconds(100)));
  EXPECT_GE(absl::Now() - second, absl::Milliseconds(100));
}

TEST(ReportSignal, RaiseFromAnotherThreadWakesAWaiter) {
  ReportSignal signal;
  const absl::Time start = absl::Now();
  std::thread raiser([&] { signal.Raise(); });
  EXPECT_TRUE(signal.Wait(absl::Seconds(30)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  raiser.join();
}

TEST(ReportSignal, CloseEndsEveryWait) {
  ReportSignal signal;
  std::thread closer([&] { signal.Close(); });
  EXPECT_FALSE(signal.Wait(absl::Seconds(30)));
  closer.join();
  signal.Raise();  // raising a closed signal is harmless
  EXPECT_FALSE(signal.Wait(absl::Seconds(30)));
}

}  // namespace
}  // namespace berth::frontend

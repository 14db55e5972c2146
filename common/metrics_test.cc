#include "common/metrics.h"

#include "gtest/gtest.h"

namespace berth {
namespace {

TEST(MetricsTest, RendersCountersGaugesAndHistograms) {
  Metrics m;
  m.GetCounter("berth_requests_total", "Requests.",
               {{"route", "ping"}, {"status", "200"}})
      ->Add(3);
  m.GetGauge("berth_uploads_in_flight", "Uploads.")->Add(2);
  Histogram* h = m.GetHistogram("berth_latency_seconds", "Latency.", {},
                                {0.1, 1});
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(5);
  const std::string text = m.Render();
  EXPECT_NE(text.find("# TYPE berth_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("berth_requests_total{route=\"ping\",status=\"200\"} 3"),
            std::string::npos);
  EXPECT_NE(text.find("berth_uploads_in_flight 2"), std::string::npos);
  EXPECT_NE(text.find("berth_latency_seconds_bucket{le=\"0.1\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("berth_latency_seconds_bucket{le=\"1\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("berth_latency_seconds_bucket{le=\"+Inf\"} 3"),
            std::string::npos);
  EXPECT_NE(text.find("berth_latency_seconds_count 3"), std::string::npos);
}

TEST(MetricsTest, SameSeriesIsTheSameHandle) {
  Metrics m;
  Counter* a = m.GetCounter("x_total", "X.", {{"a", "1"}});
  Counter* b = m.GetCounter("x_total", "X.", {{"a", "1"}});
  Counter* c = m.GetCounter("x_total", "X.", {{"a", "2"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

}  // namespace
}  // namespace berth

// Abuse limits of spec §7.9 on `berth serve` started with small limits:
// json size (413), request header size (431), layer size (413 up front and
// while streaming), header/body/idle timeouts (408, closed connections) and
// the cap on concurrent uploads (503 + Retry-After). Each leaves nothing
// behind and a retry within the limits works.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "tests/berth_serve.h"
#include "tests/conformance_util.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"

namespace berth::testing {
namespace {

constexpr char kUploading[] = "Image is being uploaded, retry later";
constexpr int kMaxJson = 4096;
constexpr int kMaxLayer = 64 * 1024;

class LimitsTest : public ::testing::Test {
 protected:
  // Starts serve with the given timeouts (seconds) and upload cap.
  void Start(int header_timeout, int idle_timeout, int io_timeout, int max_uploads = 8) {
    dir_ = MakeTempDir("conformance-limits-");
    port_ = FreePort();
    admin_port_ = FreePort();
    absl::StatusOr<std::unique_ptr<Process>> p = StartServeWith(
        port_, dir_ + "/data", dir_ + "/serve.log",
        {"--max-json-size", std::to_string(kMaxJson), "--max-layer-size",
         std::to_string(kMaxLayer), "--max-uploads", std::to_string(max_uploads),
         "--header-timeout", std::to_string(header_timeout), "--idle-timeout",
         std::to_string(idle_timeout), "--io-timeout", std::to_string(io_timeout),
         "--admin-listen", absl::StrCat("127.0.0.1:", admin_port_)});
    ASSERT_TRUE(p.ok()) << p.status();
    serve_ = *std::move(p);
  }

  RegistryClient client() const { return RegistryClient("127.0.0.1", port_); }

  double Metric(const std::string& series) {
    absl::StatusOr<std::map<std::string, double>> m = FetchMetrics(admin_port_);
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return -1;
    auto it = m->find(series);
    return it == m->end() ? 0 : it->second;
  }

  std::string dir_;
  int port_ = 0;
  int admin_port_ = 0;
  std::unique_ptr<Process> serve_;
};

TEST_F(LimitsTest, JsonLargerThanTheLimitIs413AndNotStored) {
  Start(5, 5, 5);
  RegistryClient c = client();
  Image img = Synthetic("limits/json");
  auto padded = [&](size_t size) {
    std::string head = absl::StrCat("{\"id\":\"", img.id, "\",\"comment\":\"");
    return head + std::string(size - head.size() - 2, 'x') + "\"}";
  };
  const std::string path = "/v1/images/" + img.id + "/json";
  EXPECT_JSON_ERROR(Must(PutExpectingEarlyAnswer(port_, path, padded(kMaxJson + 1))), 413,
                    "JSON too large");
  EXPECT_JSON_ERROR(Must(c.GetImageJson(img.id)), 404, "Image not found");
  // Chunked, without a Content-Length: caught while reading.
  HttpResponse r = Must(c.Request("PUT", "/v1/images/" + img.id + "/json",
                                  {{"Transfer-Encoding", "chunked"}},
                                  ChunkedEncode(padded(3 * kMaxJson), 1000)));
  EXPECT_JSON_ERROR(r, 413, "JSON too large");
  EXPECT_JSON_ERROR(Must(c.GetImageJson(img.id)), 404, "Image not found");
  // At the limit: accepted.
  const std::string exact = padded(kMaxJson);
  r = Must(c.PutImageJson(img.id, exact));
  EXPECT_EQ(r.status, 200) << r.body;
  // Too large again on an uploading image: 413 and the stored json stays.
  EXPECT_JSON_ERROR(Must(PutExpectingEarlyAnswer(port_, path, padded(kMaxJson + 100))), 413,
                    "JSON too large");
  ExpectState(c, img.id, State::kJsonUploaded, exact, "");
  Image done{img.id, exact, "layer"};
  ASSERT_EQ(Must(c.PutLayer(done.id, done.layer)).status, 200);
  ExpectState(c, img.id, State::kLayerUploaded, exact, "layer");
}

TEST_F(LimitsTest, RequestHeadersOver64KiBAre431) {
  Start(5, 5, 5);
  // One huge header.
  HttpResponse r = Must(client().Request("GET", "/v1/_ping",
                                         {{"X-Big", std::string(70 * 1024, 'h')}}));
  EXPECT_JSON_ERROR(r, 431, "Request header fields too large");
  // Many headers adding up to more than 64 KiB.
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 80; ++i) many.emplace_back(absl::StrCat("X-H", i), std::string(1000, 'm'));
  r = Must(client().Request("GET", "/v1/_ping", many));
  EXPECT_EQ(r.status, 431) << r.body;
  // Below the limit: served.
  r = Must(client().Request("GET", "/v1/_ping", {{"X-Big", std::string(60 * 1024, 'h')}}));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(PingOk(port_));
}

TEST_F(LimitsTest, LayerLargerThanTheLimitIs413AndNothingIsPublished) {
  Start(5, 5, 5);
  RegistryClient c = client();
  Image img = Synthetic("limits/layer", "", std::string(kMaxLayer, 'L'));
  ASSERT_EQ(Must(c.PutImageJson(img.id, img.json)).status, 200);
  const std::string big(kMaxLayer + 1, 'B');

  // Up front: only the head with Content-Length is sent, the 413 comes
  // without waiting for the body.
  {
    absl::StatusOr<std::unique_ptr<RawConn>> conn = RawConn::Connect(port_);
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE((*conn)->Send(c.LayerPutHead(img.id, big.size())).ok());
    absl::StatusOr<HttpResponse> r = (*conn)->ReadResponse(false, absl::Seconds(4));
    ASSERT_TRUE(r.ok()) << "no answer before the body was sent: " << r.status();
    EXPECT_JSON_ERROR(*r, 413, "Layer too large");
  }
  ExpectState(c, img.id, State::kJsonUploaded, img.json, "", {big, ""});

  // While streaming: chunked, no Content-Length.
  HttpResponse r = Must(c.PutLayerChunked(img.id, big, 8192));
  EXPECT_JSON_ERROR(r, 413, "Layer too large");
  ExpectState(c, img.id, State::kJsonUploaded, img.json, "",
              {big, big.substr(0, kMaxLayer), ""});
  // A retry within the limit works.
  r = Must(c.PutLayerChunked(img.id, img.layer, 8192));
  EXPECT_EQ(r.status, 200) << r.body;
  // In LAYER_UPLOADED, an oversize upload leaves the previous layer.
  r = Must(c.PutLayerChunked(img.id, big, 8192));
  EXPECT_JSON_ERROR(r, 413, "Layer too large");
  r = Must(PutExpectingEarlyAnswer(port_, "/v1/images/" + img.id + "/layer", big));
  EXPECT_JSON_ERROR(r, 413, "Layer too large");
  ExpectState(c, img.id, State::kLayerUploaded, img.json, img.layer);
  EXPECT_TRUE(PingOk(port_));
}

TEST_F(LimitsTest, HalfSentHeaderGets408AfterHeaderTimeout) {
  Start(/*header=*/1, /*idle=*/5, /*io=*/5);
  absl::StatusOr<std::unique_ptr<RawConn>> conn = RawConn::Connect(port_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Send("GET /v1/_ping HTTP/1.1\r\nHost: x\r\nX-Slow: ").ok());
  const absl::Time sent = absl::Now();
  absl::StatusOr<std::string> answer = (*conn)->ReadUntilClosed(absl::Seconds(6));
  const absl::Duration took = absl::Now() - sent;
  ASSERT_TRUE(answer.ok()) << "connection still open after 6 s: " << answer.status();
  std::string rest;
  absl::StatusOr<HttpResponse> r = ParseHead(*answer, &rest);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(rest, "{\"error\": \"Request timeout\"}");
  EXPECT_GE(took, absl::Milliseconds(800));
  EXPECT_LE(took, absl::Seconds(4));

  // A client that connects and sends nothing is dropped silently.
  conn = RawConn::Connect(port_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  answer = (*conn)->ReadUntilClosed(absl::Seconds(6));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(*answer, "");
  EXPECT_TRUE(PingOk(port_));
}

TEST_F(LimitsTest, StalledBodyIsCutAfterIoTimeoutAndNothingPublished) {
  Start(/*header=*/5, /*idle=*/5, /*io=*/1);
  RegistryClient c = client();
  Image img = Synthetic("limits/stall", "", std::string(40000, 's'));
  ASSERT_EQ(Must(c.PutImageJson(img.id, img.json)).status, 200);
  absl::StatusOr<std::unique_ptr<RawConn>> conn = RawConn::Connect(port_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Send(c.LayerPutHead(img.id, img.layer.size()) +
                            img.layer.substr(0, 10000)).ok());
  const absl::Time stalled = absl::Now();
  absl::StatusOr<std::string> answer = (*conn)->ReadUntilClosed(absl::Seconds(6));
  const absl::Duration took = absl::Now() - stalled;
  ASSERT_TRUE(answer.ok()) << "stalled upload still open after 6 s: " << answer.status();
  EXPECT_FALSE(absl::StartsWith(*answer, "HTTP/1.1 2")) << *answer;
  EXPECT_GE(took, absl::Milliseconds(800));
  EXPECT_LE(took, absl::Seconds(4));
  ExpectState(c, img.id, State::kJsonUploaded, img.json, "",
              {img.layer, img.layer.substr(0, 10000)});
  HttpResponse r = Must(c.PutLayer(img.id, img.layer));
  EXPECT_EQ(r.status, 200) << r.body;
  ExpectState(c, img.id, State::kLayerUploaded, img.json, img.layer);
}

TEST_F(LimitsTest, SlowButSteadyBodyIsNotCutByTheIoTimeout) {
  // The io timeout is about a body that makes no progress: pieces every
  // 250 ms for ~3 s must get through with --io-timeout 1.
  Start(/*header=*/5, /*idle=*/5, /*io=*/1);
  RegistryClient c = client();
  Image img = Synthetic("limits/steady", "", std::string(12 * 1000, 'p'));
  ASSERT_EQ(Must(c.PutImageJson(img.id, img.json)).status, 200);
  absl::StatusOr<std::unique_ptr<RawConn>> conn = RawConn::Connect(port_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Send(c.LayerPutHead(img.id, img.layer.size())).ok());
  for (size_t off = 0; off < img.layer.size(); off += 1000) {
    // The pacing is the stimulus here (a slow client), not a wait for a
    // condition.
    absl::SleepFor(absl::Milliseconds(250));
    absl::Status s = (*conn)->Send(img.layer.substr(off, 1000));
    ASSERT_TRUE(s.ok()) << "server dropped a steady upload after " << off << " bytes: " << s;
  }
  absl::StatusOr<HttpResponse> r = (*conn)->ReadResponse(false, absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  ExpectState(c, img.id, State::kLayerUploaded, img.json, img.layer);
}

TEST_F(LimitsTest, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  Start(/*header=*/1, /*idle=*/2, /*io=*/5);
  absl::StatusOr<std::unique_ptr<RawConn>> conn = RawConn::Connect(port_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  // Keep-alive works: two requests on one connection.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE((*conn)->Send(RequestHead("GET", "/v1/_ping", {})).ok());
    absl::StatusOr<HttpResponse> r = (*conn)->ReadResponse(false);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "true");
  }
  const absl::Time idle_since = absl::Now();
  absl::StatusOr<std::string> rest = (*conn)->ReadUntilClosed(absl::Seconds(8));
  const absl::Duration took = absl::Now() - idle_since;
  ASSERT_TRUE(rest.ok()) << "idle connection still open after 8 s: " << rest.status();
  EXPECT_EQ(*rest, "");
  // Closed by the idle timeout (2 s), not by the header timeout (1 s).
  EXPECT_GE(took, absl::Milliseconds(1700));
  EXPECT_LE(took, absl::Seconds(5));
}

TEST_F(LimitsTest, MoreConcurrentUploadsThanTheCapGet503) {
  Start(/*header=*/5, /*idle=*/5, /*io=*/30, /*max_uploads=*/2);
  RegistryClient c = client();
  std::vector<Image> images;
  for (int i = 0; i < 3; ++i) {
    images.push_back(Synthetic(absl::StrCat("limits/cap/", i), "", std::string(30000, 'a' + i)));
    ASSERT_EQ(Must(c.PutImageJson(images[i].id, images[i].json)).status, 200);
  }
  const std::string gauge = "berth_uploads_in_flight";
  EXPECT_EQ(Metric(gauge), 0);
  // Two uploads held open by partial bodies.
  std::vector<std::unique_ptr<RawConn>> held;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<RawConn>> conn = RawConn::Connect(port_);
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE((*conn)->Send(c.LayerPutHead(images[i].id, images[i].layer.size()) +
                              images[i].layer.substr(0, 1000)).ok());
    held.push_back(*std::move(conn));
  }
  ASSERT_TRUE(WaitFor([&] { return Metric(gauge) == 2; }, absl::Seconds(10)))
      << "uploads in flight: " << Metric(gauge);
  // The third: 503 with Retry-After, nothing stored.
  HttpResponse r = Must(c.PutLayer(images[2].id, images[2].layer));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(r.Header("Retry-After").has_value());
  int retry_after = 0;
  EXPECT_TRUE(absl::SimpleAtoi(r.Header("Retry-After").value_or(""), &retry_after));
  EXPECT_GT(retry_after, 0);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_TRUE(absl::StrContains(r.body, "\"error\"")) << r.body;
  ExpectState(c, images[2].id, State::kJsonUploaded, images[2].json, "", {images[2].layer});
  // Finish the held uploads; then the third goes through.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(held[i]->Send(images[i].layer.substr(1000)).ok());
    absl::StatusOr<HttpResponse> done = held[i]->ReadResponse(false);
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->status, 200) << done->body;
  }
  ASSERT_TRUE(WaitFor([&] { return Metric(gauge) == 0; }, absl::Seconds(10)));
  r = Must(c.PutLayer(images[2].id, images[2].layer));
  EXPECT_EQ(r.status, 200) << r.body;
  for (const Image& i : images) ExpectState(c, i.id, State::kLayerUploaded, i.json, i.layer);
}

}  // namespace
}  // namespace berth::testing

// Operations of `berth serve` (issue 6): one access-log line per request
// with method, path, status, bytes, duration and request id (X-Request-Id
// echoed); /metrics, /healthz, /readyz on --admin-listen with request
// counts by route and status, bytes in/out and uploads in flight that move
// with the traffic; SIGTERM during an upload lets that upload finish, then
// the process exits 0 and the upload is durable.
#include <signal.h>

#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/berth_serve.h"
#include "tests/conformance_util.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"

namespace berth::testing {
namespace {

class OpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("conformance-ops-");
    log_ = dir_ + "/serve.log";
    Start({});
  }

  void Start(const std::vector<std::string>& extra) {
    port_ = FreePort();
    admin_port_ = FreePort();
    std::vector<std::string> flags = {"--admin-listen",
                                      absl::StrCat("127.0.0.1:", admin_port_)};
    flags.insert(flags.end(), extra.begin(), extra.end());
    absl::StatusOr<std::unique_ptr<Process>> p =
        StartServeWith(port_, dir_ + "/data", log_, flags);
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

  // Access-log lines naming request id `id`.
  std::vector<std::smatch> LogLines(const std::string& id, std::vector<std::string>* raw) {
    static const std::regex kLine(
        R"(^\S+ info \[serve \d+\] ([A-Z]+) (\S+) (\d{3}) in=(\d+) out=(\d+) ([0-9.]+)ms id=(\S+)$)");
    std::vector<std::smatch> out;
    raw->clear();
    for (absl::string_view l : absl::StrSplit(ReadFileOrEmpty(log_), '\n')) {
      raw->emplace_back(l);
    }
    for (const std::string& l : *raw) {
      std::smatch m;
      if (std::regex_match(l, m, kLine) && m[7] == id) out.push_back(m);
    }
    return out;
  }

  std::string dir_;
  std::string log_;
  int port_ = 0;
  int admin_port_ = 0;
  std::unique_ptr<Process> serve_;
};

TEST_F(OpsTest, AccessLogHasOneLinePerRequest) {
  RegistryClient c = client();
  Image img = Synthetic("ops/log", "", std::string(1000, 'l'));
  struct Sent {
    std::string id, method, path, body;
    int status;
    uint64_t in;
  };
  const std::vector<Sent> sent = {
      {"acc-ping", "GET", "/v1/_ping", "", 200, 0},
      {"acc-head", "HEAD", "/v1/_ping", "", 200, 0},
      {"acc-404", "GET", "/v1/nope", "", 404, 0},
      {"acc-405", "POST", "/v1/_ping", "", 405, 0},
      {"acc-json", "PUT", "/v1/images/" + img.id + "/json", img.json, 200, img.json.size()},
      {"acc-layer", "PUT", "/v1/images/" + img.id + "/layer", img.layer, 200, 1000},
      {"acc-query", "GET", "/v1/search?q=abc&n=5", "", 200, 0},
  };
  for (const Sent& s : sent) {
    HttpResponse r = Must(c.Request(s.method, s.path, {{"X-Request-Id", s.id}}, s.body));
    EXPECT_EQ(r.status, s.status) << s.id;
    EXPECT_EQ(r.Header("X-Request-Id"), s.id) << "request id not echoed";
  }
  // No id, or one that is not sane: the server makes one, echoes and logs it.
  HttpResponse anon = Must(c.Request("GET", "/v1/_ping"));
  std::string anon_id = anon.Header("X-Request-Id").value_or("");
  EXPECT_FALSE(anon_id.empty());
  HttpResponse insane = Must(c.Request("GET", "/v1/_ping", {{"X-Request-Id", "a b\"c"}}));
  std::string insane_id = insane.Header("X-Request-Id").value_or("");
  EXPECT_FALSE(insane_id.empty());
  EXPECT_NE(insane_id, "a b\"c");

  std::vector<std::string> raw;
  // The line is written after the answer: wait for the last one.
  ASSERT_TRUE(WaitFor([&] { return LogLines(insane_id, &raw).size() == 1; },
                      absl::Seconds(10)))
      << ReadFileOrEmpty(log_);
  for (const Sent& s : sent) {
    SCOPED_TRACE(s.id);
    std::vector<std::smatch> lines = LogLines(s.id, &raw);
    ASSERT_EQ(lines.size(), 1u) << "want exactly one access-log line";
    const std::smatch& m = lines[0];
    EXPECT_EQ(m[1], s.method);
    EXPECT_EQ(m[2], s.path);
    EXPECT_EQ(m[3], std::to_string(s.status));
    EXPECT_EQ(m[4], std::to_string(s.in));
    uint64_t out = 0;
    EXPECT_TRUE(absl::SimpleAtoi(std::string(m[5]), &out));
    EXPECT_GT(out, 100u);  // at least the header block
    double ms = -1;
    EXPECT_TRUE(absl::SimpleAtod(std::string(m[6]), &ms));
    EXPECT_GE(ms, 0);
    EXPECT_LT(ms, 10000);
  }
  EXPECT_EQ(LogLines(anon_id, &raw).size(), 1u);
}

TEST_F(OpsTest, AdminEndpointsAndMetricsMove) {
  HttpResponse r = Must(HttpGet("127.0.0.1", admin_port_, "/healthz"));
  EXPECT_EQ(r.status, 200);
  r = Must(HttpGet("127.0.0.1", admin_port_, "/readyz"));
  EXPECT_EQ(r.status, 200) << r.body;  // the embedded metadata is reachable
  r = Must(HttpGet("127.0.0.1", admin_port_, "/nope"));
  EXPECT_EQ(r.status, 404);
  HttpRequest post;
  post.method = "POST";
  post.port = admin_port_;
  post.path = "/metrics";
  r = Must(HttpFetch(post));
  EXPECT_EQ(r.status, 405);
  // The registry port does not serve the admin paths.
  EXPECT_EQ(Must(client().Request("GET", "/metrics")).status, 404);

  const std::string ping = R"(berth_http_requests_total{method="GET",route="ping",status="200"})";
  const std::string unknown =
      R"(berth_http_requests_total{method="GET",route="unknown",status="404"})";
  const std::string layer_put =
      R"(berth_http_requests_total{method="PUT",route="image_layer",status="200"})";
  const std::string ping_latency = R"(berth_http_request_duration_seconds_count{route="ping"})";
  const std::string in = "berth_http_received_bytes_total";
  const std::string out = "berth_http_sent_bytes_total";
  const std::string layer_in = "berth_layer_received_bytes_total";
  const std::string layer_out = "berth_layer_sent_bytes_total";
  const std::string uploads = "berth_uploads_in_flight";
  absl::StatusOr<std::map<std::string, double>> before = FetchMetrics(admin_port_);
  ASSERT_TRUE(before.ok()) << before.status();
  auto was = [&](const std::string& k) {
    auto it = before->find(k);
    return it == before->end() ? 0.0 : it->second;
  };
  EXPECT_EQ(was(uploads), 0);

  RegistryClient c = client();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(PingOk(port_));
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Must(c.Request("GET", "/v1/nope")).status, 404);
  Image img = Synthetic("ops/metrics", "", std::string(50000, 'm'));
  // Hold an upload open: in flight = 1.
  ASSERT_EQ(Must(c.PutImageJson(img.id, img.json)).status, 200);
  absl::StatusOr<std::unique_ptr<RawConn>> conn = RawConn::Connect(port_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Send(c.LayerPutHead(img.id, img.layer.size()) +
                            img.layer.substr(0, 20000)).ok());
  EXPECT_TRUE(WaitFor([&] { return Metric(uploads) == 1; }, absl::Seconds(10)));
  ASSERT_TRUE((*conn)->Send(img.layer.substr(20000)).ok());
  absl::StatusOr<HttpResponse> done = (*conn)->ReadResponse(false);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->status, 200);
  ASSERT_EQ(Must(c.PutChecksum(img.id, img.payload())).status, 200);
  ASSERT_EQ(Must(c.GetLayer(img.id)).body.size(), img.layer.size());

  // Counters are updated after each answer: wait for them.
  EXPECT_TRUE(WaitFor([&] { return Metric(ping) >= was(ping) + 3; }, absl::Seconds(10)))
      << Metric(ping) << " vs " << was(ping);
  EXPECT_TRUE(WaitFor([&] { return Metric(layer_out) == was(layer_out) + 50000; },
                      absl::Seconds(10)))
      << Metric(layer_out);
  absl::StatusOr<std::map<std::string, double>> after = FetchMetrics(admin_port_);
  ASSERT_TRUE(after.ok()) << after.status();
  auto now = [&](const std::string& k) {
    auto it = after->find(k);
    return it == after->end() ? 0.0 : it->second;
  };
  EXPECT_EQ(now(ping), was(ping) + 3);
  EXPECT_EQ(now(ping_latency), was(ping_latency) + 3);
  EXPECT_EQ(now(unknown), was(unknown) + 2);
  EXPECT_EQ(now(layer_put), was(layer_put) + 1);
  EXPECT_EQ(now(layer_in), was(layer_in) + 50000);
  EXPECT_GE(now(in), was(in) + 50000 + img.json.size());
  EXPECT_GE(now(out), was(out) + 50000);
  EXPECT_EQ(now(uploads), 0);
  // The histogram is cumulative and ends in +Inf = count.
  EXPECT_EQ(now(R"(berth_http_request_duration_seconds_bucket{route="ping",le="+Inf"})"),
            now(ping_latency));
}

TEST_F(OpsTest, SigtermDuringAnUploadLetsItFinish) {
  // Restart with a drain deadline comfortably above the test's pace.
  serve_.reset();
  Start({"--drain-timeout", "30"});
  RegistryClient c = client();
  std::string layer(300 * 1000, '\0');
  for (size_t i = 0; i < layer.size(); ++i) layer[i] = static_cast<char>(i * 7 + i / 1000);
  Image img = Synthetic("ops/sigterm", "", layer);
  ASSERT_EQ(Must(c.PutImageJson(img.id, img.json)).status, 200);
  absl::StatusOr<std::unique_ptr<RawConn>> conn = RawConn::Connect(port_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->Send(c.LayerPutHead(img.id, layer.size()) + layer.substr(0, 100000)).ok());
  ASSERT_TRUE(WaitFor([&] { return Metric("berth_uploads_in_flight") == 1; },
                      absl::Seconds(10)));

  ASSERT_TRUE(serve_->Kill(SIGTERM).ok());
  // It stops accepting: new connections fail...
  ASSERT_TRUE(WaitFor([&] { return !PingOk(port_); }, absl::Seconds(10)))
      << "still accepting after SIGTERM";
  // ...but keeps running for the upload in flight.
  EXPECT_TRUE(serve_->Alive());
  for (size_t off = 100000; off < layer.size(); off += 50000) {
    ASSERT_TRUE((*conn)->Send(layer.substr(off, 50000)).ok()) << "cut at " << off;
  }
  absl::StatusOr<HttpResponse> r = (*conn)->ReadResponse(false, absl::Seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, "true");
  absl::StatusOr<int> code = serve_->Wait(absl::Seconds(40));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_TRUE(absl::StrContains(
      ReadFileOrEmpty(log_),
      absl::StrCat("PUT /v1/images/", img.id, "/layer 200 in=", layer.size())));

  // The upload is durable: after a restart the image is LAYER_UPLOADED with
  // exactly these bytes.
  Start({});
  ExpectState(client(), img.id, State::kLayerUploaded, img.json, img.layer);
}

TEST_F(OpsTest, ShutdownDelayTurnsReadyzOffBeforeTheDrain) {
  // Scale-in behind a health-checked load balancer: on SIGTERM /readyz
  // answers 503 at once while the registry keeps serving for the delay,
  // then the server drains and exits 0.
  serve_.reset();
  Start({"--shutdown-delay", "5"});
  ASSERT_EQ(Must(HttpGet("127.0.0.1", admin_port_, "/readyz")).status, 200);
  ASSERT_TRUE(serve_->Kill(SIGTERM).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<HttpResponse> r =
            HttpGet("127.0.0.1", admin_port_, "/readyz");
        return r.ok() && r->status == 503;
      },
      absl::Seconds(5)));
  HttpResponse ready = Must(HttpGet("127.0.0.1", admin_port_, "/readyz"));
  EXPECT_TRUE(absl::StrContains(ready.body, "shutting down")) << ready.body;
  // Still serving registry requests during the delay.
  EXPECT_TRUE(PingOk(port_));
  RegistryClient c = client();
  Image img = Synthetic("ops/shutdown-delay");
  EXPECT_TRUE(PushComplete(c, img));
  absl::StatusOr<int> code = serve_->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_FALSE(PingOk(port_));
}

}  // namespace
}  // namespace berth::testing

// Self-test of tests/harness: processes, polling, the HTTP client (plain,
// Content-Length and chunked bodies) against a 1-member etcd.
#include <csignal>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/harness/etcd_cluster.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"

namespace berth::testing {
namespace {

TEST(HarnessTest, FreePortsDiffer) {
  int a = FreePort();
  int b = FreePort();
  EXPECT_GT(a, 0);
  EXPECT_NE(a, b);
}

TEST(HarnessTest, ProcessExitCodeLogAndKill) {
  ProcessOptions o;
  o.argv = {"/bin/sh", "-c", "echo out-$FOO; echo err >&2; exit 3"};
  o.env = {"FOO=bar"};
  auto p = Process::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<int> code = (*p)->Wait();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3);
  EXPECT_FALSE((*p)->Alive());
  std::string tail = (*p)->LogTail(2);
  EXPECT_TRUE(absl::StrContains(tail, "out-bar")) << tail;
  EXPECT_TRUE(absl::StrContains(tail, "err")) << tail;

  ProcessOptions s;
  s.argv = {"/bin/sleep", "600"};
  auto sleeper = Process::Start(s);
  ASSERT_TRUE(sleeper.ok()) << sleeper.status();
  EXPECT_TRUE((*sleeper)->Alive());
  absl::StatusOr<int> st = (*sleeper)->Wait(absl::Milliseconds(50));
  EXPECT_EQ(st.status().code(), absl::StatusCode::kDeadlineExceeded);
  st = (*sleeper)->Stop(SIGTERM);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(*st, 128 + SIGTERM);
}

TEST(HarnessTest, MissingBinaryIsAnError) {
  ProcessOptions o;
  o.argv = {"/nonexistent/binary"};
  EXPECT_FALSE(Process::Start(o).ok());
}

TEST(HarnessTest, WaitForHonorsDeadline) {
  int calls = 0;
  EXPECT_FALSE(WaitFor([&] { return ++calls < 0; }, absl::Milliseconds(100),
                       absl::Milliseconds(10)));
  EXPECT_GT(calls, 1);
  EXPECT_TRUE(WaitFor([] { return true; }, absl::ZeroDuration()));
}

TEST(HarnessTest, HttpAgainstEtcd) {
  EtcdClusterOptions options;
  options.members = 1;
  auto cluster = EtcdCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_TRUE((*cluster)->Healthy(0));
  int port = (*cluster)->client_port(0);

  // Go's net/http answers a large body without Content-Length: chunked.
  auto metrics = HttpGet("127.0.0.1", port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->Header("Transfer-Encoding").value_or(""), "chunked");
  EXPECT_TRUE(absl::StrContains(metrics->body, "etcd_server_has_leader"));

  HttpRequest post;
  post.method = "POST";
  post.port = port;
  post.path = "/v3/kv/put";
  post.headers = {{"Content-Type", "application/json"}};
  post.body = R"({"key":"Zm9v","value":"YmFy"})";  // foo=bar
  auto put = HttpFetch(post);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->status, 200) << put->body;
  EXPECT_TRUE(absl::StrContains(put->body, "revision")) << put->body;
  EXPECT_TRUE(put->Header("content-type").has_value());

  auto missing = HttpGet("127.0.0.1", port, "/no/such/path");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);

  ASSERT_TRUE((*cluster)->Kill(0).ok());
  EXPECT_FALSE((*cluster)->Running(0));
  EXPECT_FALSE(HttpGet("127.0.0.1", port, "/health").ok());
  ASSERT_TRUE((*cluster)->Restart(0).ok());
  EXPECT_TRUE((*cluster)->Healthy(0));
}

}  // namespace
}  // namespace berth::testing

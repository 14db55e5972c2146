// `berth serve` as a process: the ping answers of spec §2.1, the generic
// 404/405 answers of §1.9.2, v2 discovery (§1.9.7), clean exit on SIGTERM
// and SIGINT, and one clear line on bad flags, ports or data directories.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/berth_serve.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"

namespace berth::testing {
namespace {

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("serve-process-");
    port_ = FreePort();
    absl::StatusOr<std::unique_ptr<Process>> p =
        StartServe(port_, dir_ + "/data", dir_);
    ASSERT_TRUE(p.ok()) << p.status();
    serve_ = *std::move(p);
  }

  HttpResponse Fetch(const std::string& method, const std::string& path) {
    HttpRequest req;
    req.method = method;
    req.port = port_;
    req.path = path;
    absl::StatusOr<HttpResponse> r = HttpFetch(req);
    EXPECT_TRUE(r.ok()) << method << " " << path << ": " << r.status();
    return r.ok() ? *r : HttpResponse{};
  }

  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Process> serve_;
};

void ExpectPingHeaders(const HttpResponse& r) {
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  std::optional<std::string> version = r.Header("X-Docker-Registry-Version");
  ASSERT_TRUE(version.has_value());
  EXPECT_FALSE(version->empty());
  EXPECT_EQ(r.Header("X-Docker-Registry-Standalone"), "true");
  EXPECT_EQ(r.Header("Cache-Control"), "no-cache");
  EXPECT_EQ(r.Header("Pragma"), "no-cache");
  EXPECT_EQ(r.Header("Expires"), "-1");
  EXPECT_EQ(r.Header("Content-Length"), "4");
}

TEST_F(ServeTest, Ping) {
  for (const std::string path : {"/_ping", "/v1/_ping"}) {
    SCOPED_TRACE(path);
    HttpResponse get = Fetch("GET", path);
    ExpectPingHeaders(get);
    EXPECT_EQ(get.body, "true");

    HttpResponse head = Fetch("HEAD", path);
    ExpectPingHeaders(head);
    EXPECT_EQ(head.body, "");
    // HEAD: the same headers as GET (per-request values aside).
    for (const auto& [name, value] : get.headers) {
      ASSERT_TRUE(head.Header(name).has_value()) << name;
      if (absl::EqualsIgnoreCase(name, "X-Request-Id") ||
          absl::EqualsIgnoreCase(name, "Date")) {
        continue;
      }
      EXPECT_EQ(head.Header(name), value) << name;
    }
    EXPECT_EQ(head.headers.size(), get.headers.size());
  }
  // HttpFetch does not read a body after HEAD; a raw read shows none is sent.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port_));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const std::string req =
      "HEAD /v1/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(req.size()));
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, n);
  close(fd);
  ASSERT_TRUE(absl::StartsWith(raw, "HTTP/1.1 200")) << raw;
  size_t end = raw.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos) << raw;
  EXPECT_EQ(raw.substr(end + 4), "") << "HEAD answer carried a body";
}

TEST_F(ServeTest, V2IsNotSupported) {
  for (const std::string path : {"/v2/", "/v2"}) {
    HttpResponse r = Fetch("GET", path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.Header("Content-Type"), "application/json") << path;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].is_string())
        << path << ": " << r.body;
    EXPECT_FALSE(r.Header("Docker-Distribution-API-Version").has_value())
        << path;
  }
}

TEST_F(ServeTest, UnknownPathAndWrongMethod) {
  for (const std::string path : {"/nope", "/v1/nope", "/v1/images/"}) {
    HttpResponse r = Fetch("GET", path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.Header("Content-Type"), "application/json") << path;
    EXPECT_EQ(nlohmann::json::parse(r.body, nullptr, false),
              (nlohmann::json{{"error", "Not found"}}))
        << path << ": " << r.body;
  }
  for (const std::string method : {"POST", "PUT", "DELETE"}) {
    HttpResponse r = Fetch(method, "/v1/_ping");
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.Header("Allow"), "GET, HEAD") << method;
    EXPECT_EQ(r.Header("Content-Type"), "application/json") << method;
    EXPECT_EQ(nlohmann::json::parse(r.body, nullptr, false),
              (nlohmann::json{{"error", "Method not allowed"}}))
        << method << ": " << r.body;
  }
}

void ExpectCleanStop(Process* serve, int port, int signal) {
  ASSERT_TRUE(serve->Alive());
  // pid() is the process group leader; signal only the process.
  ASSERT_EQ(kill(serve->pid(), signal), 0);
  absl::StatusOr<int> code = serve->Wait(absl::Seconds(15));
  ASSERT_TRUE(code.ok()) << "still running 15 s after signal " << signal;
  EXPECT_EQ(*code, 0) << serve->LogTail(20);
  EXPECT_FALSE(PingOk(port));
}

TEST_F(ServeTest, SigtermExitsZero) {
  ExpectCleanStop(serve_.get(), port_, SIGTERM);
}

TEST_F(ServeTest, SigintExitsZero) {
  ExpectCleanStop(serve_.get(), port_, SIGINT);
}

TEST_F(ServeTest, SigtermWithOpenIdleConnectionExitsZero) {
  // An idle keep-alive connection must not hold up the shutdown.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port_));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  const std::string req = "GET /v1/_ping HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(req.size()));
  char buf[1024];
  ASSERT_GT(recv(fd, buf, sizeof(buf), 0), 0);
  ExpectCleanStop(serve_.get(), port_, SIGTERM);
  close(fd);
}

// --- startup failures -------------------------------------------------------

struct Failure {
  int code = -1;
  std::vector<std::string> lines;  // non-empty output lines
  std::string output;
};

Failure RunServe(const std::vector<std::string>& args) {
  Failure f;
  // The harness's log starts with its own header line; the shell sends
  // exactly berth's output to a separate file.
  const std::string dir = MakeTempDir("serve-bad-");
  const std::string out = dir + "/berth.out";
  ProcessOptions o;
  o.name = "serve-bad";
  o.argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" >" + out + " 2>&1",
            RunfilePath("tools/berth"), "serve"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.log_path = dir + "/process.log";
  o.dump_log_on_failure = false;
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Start(o);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return f;
  absl::StatusOr<int> code = (*p)->Wait(absl::Seconds(15));
  EXPECT_TRUE(code.ok()) << "berth serve did not exit: " << code.status();
  if (code.ok()) f.code = *code;
  std::ifstream in(out);
  f.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  for (absl::string_view line : absl::StrSplit(f.output, '\n')) {
    if (!absl::StripAsciiWhitespace(line).empty()) f.lines.emplace_back(line);
  }
  return f;
}

// Exits non-zero (not by a signal) and the first non-empty output line
// contains every one of `mentions`; at most 3 non-empty lines in all.
void ExpectFailsClearly(const std::vector<std::string>& args,
                        const std::vector<std::string>& mentions) {
  SCOPED_TRACE(absl::StrJoin(args, " "));
  Failure f = RunServe(args);
  EXPECT_GT(f.code, 0);
  EXPECT_LT(f.code, 128) << "killed by a signal";
  ASSERT_FALSE(f.lines.empty()) << "no output";
  for (const std::string& m : mentions) {
    EXPECT_TRUE(absl::StrContains(f.lines[0], m))
        << "first line does not mention '" << m << "':\n" << f.output;
  }
  EXPECT_LE(f.lines.size(), 3u) << f.output;
}

TEST(ServeStartupTest, BadFlag) {
  const std::string dir = MakeTempDir("serve-flag-");
  ExpectFailsClearly({"--no-such-flag", "--listen", "127.0.0.1:0", "--data",
                      dir + "/data"},
                     {"--no-such-flag"});
}

TEST(ServeStartupTest, BadPort) {
  const std::string dir = MakeTempDir("serve-port-");
  ExpectFailsClearly({"--listen", "127.0.0.1:99999", "--data", dir + "/data"},
                     {"99999"});
}

TEST(ServeStartupTest, PortInUse) {
  const std::string dir = MakeTempDir("serve-busy-");
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string port = std::to_string(ntohs(a.sin_port));
  ExpectFailsClearly({"--listen", "127.0.0.1:" + port, "--data", dir + "/data"},
                     {port, "in use"});
  close(fd);
}

TEST(ServeStartupTest, DataDirUnderRegularFile) {
  const std::string dir = MakeTempDir("serve-data-");
  const std::string file = dir + "/file";
  { std::ofstream(file) << "not a directory"; }
  const std::string data = file + "/data";
  ExpectFailsClearly({"--listen", "127.0.0.1:0", "--data", data}, {data});
}

TEST(ServeStartupTest, MissingConfigFile) {
  ExpectFailsClearly({"--config", "/nonexistent/berth.toml"},
                     {"/nonexistent/berth.toml"});
}

// Options come from --config; a flag on the command line wins over the file.
TEST(ServeConfigTest, ConfigFileSetsOptionsAndFlagsOverrideIt) {
  const std::string dir = MakeTempDir("serve-config-");
  const int file_port = FreePort(), flag_port = FreePort();
  const std::string config = dir + "/berth.toml";
  {
    std::ofstream(config) << "# berth serve settings\n[serve]\nlisten = \"127.0.0.1:"
                          << file_port << "\"\ndata = \"" << dir
                          << "/from-file\"\nlog-level = warn\n";
  }
  ProcessOptions o;
  o.name = "serve-config";
  o.argv = {RunfilePath("tools/berth"), "serve", "--config", config};
  o.log_path = dir + "/serve.log";
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(WaitFor([&] { return PingOk(file_port); }, absl::Seconds(20)))
      << (*p)->LogTail();
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/from-file"));
  ASSERT_TRUE((*p)->Stop(SIGTERM).ok());

  o.argv.insert(o.argv.end(),
                {"--listen", absl::StrCat("127.0.0.1:", flag_port)});
  p = Process::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(WaitFor([&] { return PingOk(flag_port); }, absl::Seconds(20)))
      << (*p)->LogTail();
  EXPECT_FALSE(PingOk(file_port));
  absl::StatusOr<int> code = (*p)->Stop(SIGTERM);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace berth::testing

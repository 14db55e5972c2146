// Index mode across a cluster (spec §1.3, §1.4.3, §5.1, §5.2, §5.4, §7):
// `tools/berth-cluster up --frontends 2 --frontend-args "--auth index …"`
// with --public-endpoint naming frontend-2. docker's sequences run with
// Basic credentials on the index calls to frontend-1 and only the token
// (issued by frontend-1) on the registry calls, which follow
// X-Docker-Endpoints to frontend-2. Also: tokens and cookies issued by one
// frontend are accepted by the other, and an account made inactive in
// metadata answers 403 (§1.4.7, §2.3.2).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "metadata/metadata_client.h"
#include "nlohmann/json.hpp"
#include "tests/auth_testutil.h"
#include "tests/conformance_util.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"
#include "tests/test_images.h"

namespace berth::testing {
namespace {

constexpr char kAlicePw[] = "alice-cluster-pw";

HttpResponse Call(const RegistryClient& c, const std::string& method,
                  const std::string& path, HeaderVec headers = {},
                  std::string body = "") {
  return Must(c.Request(method, path, std::move(headers), std::move(body)));
}
HeaderVec TokenH(const std::string& token) { return {{"Authorization", "Token " + token}}; }

std::vector<PushImage> AsPush(const std::vector<TestImage>& images) {
  return std::vector<PushImage>(images.begin(), images.end());
}

class AuthClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {}
  static void TearDownTestSuite() {
    if (!cluster_dir_.empty()) {
      ProcessOptions o;
      o.name = "berth-cluster-down";
      o.argv = {RunfilePath("tools/berth-cluster"), "down", "--dir", cluster_dir_};
      o.log_path = dir_ + "/down.log";
      auto down = Process::Start(o);
      if (down.ok()) {
        auto code = (*down)->Wait(absl::Seconds(40));
        if (!code.ok() || *code != 0) std::cerr << "berth-cluster down failed\n";
      }
    }
    cluster_dir_.clear();
    fe1_.reset();
    fe2_.reset();
  }

  void SetUp() override {
    if (fe1_ != nullptr) return;
    dir_ = MakeTempDir("auth-cluster-");
    const std::string cluster = dir_ + "/cluster";
    const std::string pw = dir_ + "/admin-password";
    ASSERT_TRUE(WriteFile(pw, std::string(kAdminPassword) + "\n"));
    const int base = PickBasePort();
    ASSERT_GT(base, 0) << "no free range of 24 ports";
    fe2_port_ = base + 23;
    ProcessOptions o;
    o.name = "berth-cluster-up";
    o.argv = {RunfilePath("tools/berth-cluster"), "up", "--dir", cluster,
              "--base-port", std::to_string(base), "--berth", RunfilePath("tools/berth"),
              "--metads", "1", "--blobds", "1", "--frontends", "2",
              absl::StrCat("--frontend-args=--auth index --admin-user ", kAdminUser,
                           " --admin-password-file ", pw,
                           " --token-lifetime 600 --public-endpoint 127.0.0.1:", fe2_port_)};
    o.log_path = dir_ + "/up.log";
    auto up = Process::Start(o);
    ASSERT_TRUE(up.ok()) << up.status();
    cluster_dir_ = cluster;  // `down` from here on, even if `up` failed midway
    auto code = (*up)->Wait(absl::Seconds(90));
    ASSERT_TRUE(code.ok()) << code.status() << "\n" << (*up)->LogTail();
    ASSERT_EQ(*code, 0) << (*up)->LogTail();
    std::ifstream in(cluster + "/cluster.json");
    state_ = nlohmann::json::parse(in, nullptr, false);
    ASSERT_TRUE(state_.is_object() && state_.contains("frontend-2")) << state_.dump();
    auto c1 = RegistryClient::FromUrl(state_["frontend-1"]["url"].get<std::string>());
    auto c2 = RegistryClient::FromUrl(state_["frontend-2"]["url"].get<std::string>());
    ASSERT_TRUE(c1.ok() && c2.ok());
    ASSERT_EQ(c2->port(), fe2_port_);
    fe1_ = std::make_unique<RegistryClient>(*c1);
    fe2_ = std::make_unique<RegistryClient>(*c2);
  }

  void TearDown() override {
    if (!HasFailure() || !state_.is_object()) return;
    for (const auto& [name, info] : state_.items()) {
      if (!absl::StartsWith(name, "frontend") && !absl::StartsWith(name, "metad")) continue;
      std::ifstream in(info.value("log", ""));
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.size() > 6000) text = text.substr(text.size() - 6000);
      std::cerr << "==== " << name << " ====\n" << text << "\n";
    }
  }

  static std::string dir_;
  static std::string cluster_dir_;
  static nlohmann::json state_;
  static int fe2_port_;
  static std::unique_ptr<RegistryClient> fe1_;
  static std::unique_ptr<RegistryClient> fe2_;
};
std::string AuthClusterTest::dir_;
std::string AuthClusterTest::cluster_dir_;
nlohmann::json AuthClusterTest::state_;
int AuthClusterTest::fe2_port_ = 0;
std::unique_ptr<RegistryClient> AuthClusterTest::fe1_;
std::unique_ptr<RegistryClient> AuthClusterTest::fe2_;

void ExpectSameImages(const PullResult& pull, const std::vector<TestImage>& chain) {
  for (const TestImage& i : chain) {
    auto it = pull.images.find(i.id);
    ASSERT_NE(it, pull.images.end()) << "not pulled: " << i.id;
    EXPECT_EQ(it->second.json, i.json) << i.id;
    EXPECT_TRUE(it->second.layer == i.layer) << "layer bytes differ: " << i.id;
  }
  EXPECT_EQ(pull.images.size(), chain.size());
}

// docker login (§5.1), push (§5.2) and pull (§5.4) in index mode; the
// registry calls carry only the token of frontend-1 and go to frontend-2.
TEST_F(AuthClusterTest, DockerLoginPushPullWithTokensAcrossFrontends) {
  const RegistryClient& fe1 = *fe1_;
  const RegistryClient& fe2 = *fe2_;
  for (const RegistryClient* c : {&fe1, &fe2}) {
    HttpResponse ping = Call(*c, "GET", "/v1/_ping");
    EXPECT_EQ(ping.status, 200);
    EXPECT_EQ(ping.Header("X-Docker-Registry-Standalone").value_or(""), "false");
  }
  // docker login: POST → 201 on frontend-1; the same account is known to
  // frontend-2 (shared metadata): POST → 400 exact body → GET → 200.
  auto created = SignUp(fe1, "alice", kAlicePw, "alice@example.com");
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 201) << Show(*created);
  EXPECT_EQ(created->body, "\"User Created\"");
  auto exists = SignUp(fe2, "alice", kAlicePw, "alice@example.com");
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ(exists->status, 400);
  EXPECT_EQ(exists->body, "\"Username or email already exists\"");
  HttpResponse login = Call(fe2, "GET", "/v1/users/", {{"Authorization", Basic("alice", kAlicePw)}});
  EXPECT_EQ(login.status, 200);
  EXPECT_EQ(login.body, "\"OK\"");
  HttpResponse wrong = Call(fe2, "GET", "/v1/users/", {{"Authorization", Basic("alice", "nope!")}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(absl::StartsWith(wrong.Header("WWW-Authenticate").value_or(""), "Basic realm="));

  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  std::vector<std::string> ids;
  for (const TestImage& i : *chain) ids.push_back(i.id);
  const std::map<std::string, std::string> tags = {{"latest", kXattrId}, {"base", kScratchId}};

  // Push: Basic to frontend-1's index routes, the token to frontend-2.
  RegistryClient index = fe1;
  index.set_index_auth(Basic("alice", kAlicePw));
  PushOptions push;
  push.tags = tags;
  push.framing = LayerFraming::kAlternate;
  push.follow_endpoints = true;
  auto report = PushChain(index, "alice/chain", AsPush(*chain), push);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->endpoints, absl::StrCat("127.0.0.1:", fe2_port_))
      << "exactly one endpoint, the configured public one";
  EXPECT_EQ(report->uploaded, ids);
  auto token = ParseToken(report->token);
  ASSERT_TRUE(token.has_value()) << report->token;
  EXPECT_EQ(token->repository, "alice/chain");
  EXPECT_EQ(token->access, "write");
  int64_t expires = 0;
  ASSERT_TRUE(absl::SimpleAtoi(token->expires, &expires));
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  EXPECT_TRUE(expires > now + 500 && expires <= now + 600)
      << "--token-lifetime 600 from --frontend-args: expires " << expires << ", now " << now;
  // frontend-2 saw the registry calls; frontend-1 only the index calls
  // (their access logs: "METHOD TARGET STATUS ...").
  auto count = [&](const char* frontend, const std::string& needle) {
    std::ifstream in(state_[frontend]["log"].get<std::string>());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t n = 0;
    for (size_t pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_TRUE(WaitFor([&] { return count("frontend-2", "PUT /v1/images/") >= 3 * ids.size(); },
                      absl::Seconds(10)))
      << "frontend-2 logged " << count("frontend-2", "PUT /v1/images/") << " image PUTs";
  EXPECT_EQ(count("frontend-1", "PUT /v1/images/"), 0u);
  EXPECT_EQ(count("frontend-1", "GET /v1/images/"), 0u);
  // The access-log line is written after the response is sent, so the
  // last index call may reach the log after the client has moved on.
  EXPECT_TRUE(WaitFor(
      [&] { return count("frontend-1", "PUT /v1/repositories/alice/chain/images 204") >= 1; },
      absl::Seconds(10)));
  EXPECT_GE(count("frontend-1", "PUT /v1/repositories/alice/chain/ 200"), 1u);
  auto tags2 = Call(fe2, "GET", "/v1/repositories/alice/chain/tags", TokenH(report->token));
  EXPECT_EQ(tags2.status, 200) << Show(tags2);
  EXPECT_EQ(nlohmann::json::parse(tags2.body, nullptr, false), nlohmann::json(tags));

  // Pull (anonymous, public repository): read token from frontend-1,
  // registry calls on frontend-2.
  auto pulled = PullIndexAndVerify(fe1, "alice/chain");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->endpoints, absl::StrCat("127.0.0.1:", fe2_port_));
  EXPECT_EQ(pulled->pull.tags, tags);
  ExpectSameImages(pulled->pull, *chain);
  auto read = ParseToken(pulled->token);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->access, "read");
  auto list = nlohmann::json::parse(pulled->image_list, nullptr, false);
  ASSERT_TRUE(list.is_array()) << pulled->image_list;
  std::vector<std::string> listed;
  for (const auto& e : list) listed.push_back(e.value("id", ""));
  EXPECT_EQ(listed, ids);

  // The same pull logged in, asking frontend-2's index.
  RegistryClient logged = fe2;
  logged.set_index_auth(Basic("alice", kAlicePw));
  auto pulled2 = PullIndexAndVerify(logged, "alice/chain");
  ASSERT_TRUE(pulled2.ok()) << pulled2.status();
  ExpectSameImages(pulled2->pull, *chain);

  // A second push is all skips ("already there?" probes with the write
  // token answer 200).
  report = PushChain(index, "alice/chain", AsPush(*chain), push);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->skipped, ids);
  EXPECT_TRUE(report->uploaded.empty());

  // Tokens and cookies of either frontend work on the other.
  auto from2 = ReadToken(fe2, "alice/chain", "");
  ASSERT_TRUE(from2.ok()) << from2.status();
  HttpResponse on1 = Call(fe1, "GET", absl::StrCat("/v1/images/", kSudoersId, "/layer"),
                          TokenH(*from2));
  EXPECT_EQ(on1.status, 200) << Show(on1);
  EXPECT_TRUE(on1.body == (*chain)[2].layer);
  const std::string cookie = SessionCookie(on1);
  ASSERT_FALSE(cookie.empty()) << "no session cookie: " << Show(on1);
  HttpResponse cookie_on2 = Call(fe2, "GET", "/v1/repositories/alice/chain/tags",
                                 {{"Cookie", "session=" + cookie}});
  EXPECT_EQ(cookie_on2.status, 200) << Show(cookie_on2);
  // Tampered on the other frontend: 401 Token; Basic on a registry path
  // of frontend-2: 401 Token.
  auto parts = ParseToken(*from2);
  ASSERT_TRUE(parts.has_value());
  parts->mac = FlipHex(parts->mac, 20);
  HttpResponse bad = Call(fe1, "GET", "/v1/repositories/alice/chain/tags", TokenH(parts->Join()));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.Header("WWW-Authenticate").value_or(""), "Token");
  HttpResponse basic = Call(fe2, "GET", "/v1/repositories/alice/chain/tags",
                            {{"Authorization", Basic("alice", kAlicePw)}});
  EXPECT_EQ(basic.status, 401);
  EXPECT_EQ(basic.Header("WWW-Authenticate").value_or(""), "Token");
}

// The library namespace through the cluster: the administrator from
// --admin-user pushes `busybox`; docker pulls it as library/busybox.
TEST_F(AuthClusterTest, AdministratorPushesLibraryImage) {
  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  std::vector<TestImage> two(chain->begin(), chain->begin() + 2);
  RegistryClient index = *fe2_;  // the administrator was created by both
  index.set_index_auth(Basic(kAdminUser, kAdminPassword));
  PushOptions push;
  push.tags = {{"latest", kHelloId}};
  push.follow_endpoints = true;
  auto report = PushChain(index, "busybox", AsPush(two), push);
  ASSERT_TRUE(report.ok()) << report.status();
  auto token = ParseToken(report->token);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(token->repository, "library/busybox");
  auto pulled = PullIndexAndVerify(*fe1_, "busybox", "library/busybox");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  ExpectSameImages(pulled->pull, two);
}

// An inactive account (made so directly in metadata; neither the HTTP API
// nor berthctl can deactivate one): login and writes answer 403.
TEST_F(AuthClusterTest, InactiveAccount) {
  auto created = SignUp(*fe1_, "dave", "dave-pw-123", "dave@example.com");
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 201) << Show(*created);
  ASSERT_TRUE(state_.contains("metad-1"));
  std::string url = state_["metad-1"]["url"].get<std::string>();
  std::string addr = url.substr(url.find("://") + 3);
  auto meta = meta::MetadataClient::Connect(addr);
  ASSERT_TRUE(meta.ok()) << meta.status();
  auto updated = (*meta)->UpdateUser("dave", "", "", std::nullopt, false);
  ASSERT_TRUE(updated.ok()) << updated.status();
  ASSERT_EQ(updated->error().reason(), REASON_UNSPECIFIED) << updated->DebugString();
  // The first use of dave's credentials on each frontend (nothing cached).
  const std::string dave = Basic("dave", "dave-pw-123");
  for (const RegistryClient* c : {fe1_.get(), fe2_.get()}) {
    // docker login: POST → 400 exact body → GET → 403 "Account is not Active".
    auto again = SignUp(*c, "dave", "dave-pw-123", "dave@example.com");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->body, "\"Username or email already exists\"");
    HttpResponse login = Call(*c, "GET", "/v1/users/", {{"Authorization", dave}});
    EXPECT_TRUE(IsJsonError(login, 403, "Account is not Active")) << Show(login);
    HttpResponse put = Must(PutRepo(*c, "dave/x", dave, {}));
    EXPECT_EQ(put.status, 403) << Show(put);
    EXPECT_FALSE(put.Header("X-Docker-Token").has_value());
    HttpResponse update = Call(*c, "PUT", "/v1/users/dave/", {{"Authorization", dave}},
                               R"({"email": "dave2@example.com"})");
    EXPECT_EQ(update.status, 403) << Show(update);
  }
  // A wrong password for the inactive account is still 401, not 403.
  HttpResponse wrong = Call(*fe1_, "GET", "/v1/users/", {{"Authorization", Basic("dave", "nope!")}});
  EXPECT_EQ(wrong.status, 401) << Show(wrong);
}

}  // namespace
}  // namespace berth::testing

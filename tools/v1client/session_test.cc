// Session behaviour of spec §1.2–§1.5 and §5: ping parsing, which
// Authorization goes where, token joining, endpoints, the cookie jar, and
// a full index-mode push and pull against FakeIndex (an in-test fake:
// Berth's server has no index mode yet).
#include "tools/v1client/session.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tools/v1client/cookie_jar.h"
#include "tools/v1client/fake_index.h"
#include "tools/v1client/files.h"
#include "tools/v1client/transfer.h"

namespace berth::v1client {
namespace {

HttpResponse Ping(std::vector<std::pair<std::string, std::string>> headers,
                  std::string body = "true") {
  HttpResponse r;
  r.status = 200;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

TEST(SessionTest, PingStandaloneDetectionFollowsDocker) {
  EXPECT_TRUE(ParsePing(Ping({{"X-Docker-Registry-Standalone", "true"}})).standalone);
  EXPECT_TRUE(ParsePing(Ping({{"X-Docker-Registry-Standalone", "TRUE"}})).standalone);
  EXPECT_TRUE(ParsePing(Ping({{"X-Docker-Registry-Standalone", "1"}})).standalone);
  EXPECT_FALSE(ParsePing(Ping({{"X-Docker-Registry-Standalone", "false"}})).standalone);
  EXPECT_FALSE(ParsePing(Ping({{"X-Docker-Registry-Standalone", "mirror"}})).standalone);
  EXPECT_FALSE(ParsePing(Ping({{"x-docker-registry-standalone", "0"}})).standalone);
  EXPECT_TRUE(ParsePing(Ping({})).standalone);
  EXPECT_FALSE(ParsePing(Ping({}, R"({"standalone": false})")).standalone);
  EXPECT_TRUE(ParsePing(Ping({}, "{}")).standalone);
}

TEST(SessionTest, PingEncryptCapability) {
  PingInfo none = ParsePing(Ping({}));
  EXPECT_FALSE(none.encrypt.has_value());
  PingInfo on = ParsePing(
      Ping({{"X-Docker-Encrypt", "true; scheme=aes-256-gcm-chunked-v1; scheme=other"}}));
  ASSERT_TRUE(on.encrypt.has_value());
  EXPECT_TRUE(on.encrypt->Supports("aes-256-gcm-chunked-v1"));
  EXPECT_TRUE(on.encrypt->Supports("other"));
  EXPECT_FALSE(on.encrypt->Supports("aes-128"));
  PingInfo off = ParsePing(Ping({{"X-Docker-Encrypt", "false"}}));
  ASSERT_TRUE(off.encrypt.has_value());
  EXPECT_FALSE(off.encrypt->Supports("aes-256-gcm-chunked-v1"));
  EXPECT_FALSE(ParseEncryptHeader("maybe").ok());
}

TEST(SessionTest, AuthorizationPerCallKind) {
  Credentials none;
  Credentials alice{"alice", "s3cret-pw"};
  EXPECT_EQ(none.BasicHeader(), "Basic Og==");
  EXPECT_EQ(alice.BasicHeader(), "Basic YWxpY2U6czNjcmV0LXB3");
  std::vector<std::string> tokens = {"signature=a,repository=\"x/y\"", "access=read"};
  // HTTP: Basic only on index calls; registry calls carry the joined tokens.
  EXPECT_EQ(AuthorizationFor(CallKind::kIndex, false, false, alice, false, tokens),
            alice.BasicHeader());
  EXPECT_EQ(AuthorizationFor(CallKind::kIndex, false, false, none, false, tokens), "");
  EXPECT_EQ(AuthorizationFor(CallKind::kIndex, false, true, none, true, tokens), "Basic Og==");
  EXPECT_EQ(AuthorizationFor(CallKind::kRegistry, false, true, alice, true, tokens),
            "Token signature=a,repository=\"x/y\",access=read");
  EXPECT_EQ(AuthorizationFor(CallKind::kRegistry, false, false, alice, true, {}), "Token ");
  // HTTPS + standalone: docker's decorator sends Basic everywhere.
  EXPECT_EQ(AuthorizationFor(CallKind::kRegistry, true, true, alice, true, tokens),
            alice.BasicHeader());
  EXPECT_EQ(AuthorizationFor(CallKind::kRegistry, true, false, alice, true, tokens),
            "Token signature=a,repository=\"x/y\",access=read");
}

TEST(SessionTest, EndpointsAreParsedWithTheIndexScheme) {
  absl::StatusOr<std::vector<Url>> eps =
      ParseEndpoints({"reg1.example.com, reg2.example.com:5000", "10.0.0.1:81"}, "http");
  ASSERT_TRUE(eps.ok()) << eps.status();
  ASSERT_EQ(eps->size(), 3u);
  EXPECT_EQ((*eps)[0].Origin(), "http://reg1.example.com:80");
  EXPECT_EQ((*eps)[1].Origin(), "http://reg2.example.com:5000");
  EXPECT_EQ((*eps)[2].Origin(), "http://10.0.0.1:81");
  EXPECT_FALSE(ParseEndpoints({"http://x/v1/"}, "http").ok());
}

TEST(CookieJarTest, StoresAndReturnsHostOnlyCookies) {
  CookieJar jar;
  absl::Time now = absl::FromUnixSeconds(1700000000);
  jar.Store("reg.example", "/v1/images/x/json", "session=abc; Path=/; HttpOnly", now);
  jar.Store("reg.example", "/v1/images/x/json", "scoped=1; Path=/v1/images", now);
  jar.Store("reg.example", "/v1/x", "short=1; Max-Age=10", now);
  EXPECT_EQ(jar.CookieHeader("reg.example", "/v1/images/y/layer", now),
            "scoped=1; short=1; session=abc");  // longer paths first
  EXPECT_EQ(jar.CookieHeader("REG.example", "/v1/repositories/a/tags", now),
            "short=1; session=abc");
  EXPECT_EQ(jar.CookieHeader("other.example", "/", now), "");
  EXPECT_EQ(jar.CookieHeader("reg.example", "/v1/repositories", now + absl::Seconds(11)),
            "session=abc");
  jar.Store("reg.example", "/", "session=gone; Path=/; Max-Age=0", now);
  EXPECT_EQ(jar.CookieHeader("reg.example", "/v1/repositories", now), "short=1");
  jar.Store("reg.example", "/", "garbage", now);
  EXPECT_EQ(jar.size(), 2u);
}

TEST(RepoRefTest, NamesAndTags) {
  absl::StatusOr<RepoRef> r = ParseRepoRef("busybox");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "busybox");
  EXPECT_EQ(r->tag, "latest");
  EXPECT_EQ(r->TagsName(), "library/busybox");
  r = ParseRepoRef("foo/bar:v1.2");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->TagsName(), "foo/bar");
  EXPECT_EQ(r->tag, "v1.2");
  EXPECT_FALSE(ParseRepoRef("Foo/bar").ok());
  EXPECT_FALSE(ParseRepoRef("a/b/c").ok());
  EXPECT_FALSE(ParseRepoRef("foo/bar:-x").ok());
  EXPECT_FALSE(ParseRepoRef("-foo/bar").ok());
  EXPECT_FALSE(ParseRepoRef("").ok());
}

// A two-image chain on disk for the index-mode flows.
ArchiveImage TwoImages(const std::string& dir) {
  ArchiveImage img;
  std::string base(64, 'a'), top(64, 'b');
  V1Image b{base, "", R"({"id":")" + base + R"("})", dir + "/base.layer", 0};
  V1Image t{top, base, R"({"id":")" + top + R"(","parent":")" + base + R"("})",
            dir + "/top.layer", 0};
  EXPECT_TRUE(WriteStringToFile(b.layer_path, std::string(5000, 'x')).ok());
  EXPECT_TRUE(WriteStringToFile(t.layer_path, "top layer bytes").ok());
  b.layer_size = 5000;
  t.layer_size = 15;
  img.chain = {b, t};
  return img;
}

TEST(IndexModeTest, PushAndPullUseBasicTokensAndCookiesAsDocker) {
  testing::FakeIndex fake(std::map<std::string, std::string>{{"alice", "s3cret-pw"}});
  absl::StatusOr<std::string> dir = MakeTempDir("v1client-index-");
  ASSERT_TRUE(dir.ok());
  ArchiveImage image = TwoImages(*dir);
  PushOptions po;
  po.registry = *ParseUrl(fake.url());
  po.login = {"alice", "s3cret-pw"};
  absl::StatusOr<PushReport> pushed = Push(image, *ParseRepoRef("alice/app:v1"), po);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  ASSERT_EQ(pushed->images.size(), 2u);
  EXPECT_FALSE(pushed->images[0].skipped);

  const std::string basic = po.login.BasicHeader();
  const std::string write_token = testing::FakeIndex::ExpectedTokenHeader("alice/app", "write");
  bool saw_cookie = false, saw_final = false;
  for (const auto& r : fake.log()) {
    if (r.target == "/v1/_ping") continue;
    bool index = r.target == "/v1/users/" || r.target == "/v1/repositories/alice/app/" ||
                 r.target == "/v1/repositories/alice/app/images";
    if (index) {
      EXPECT_EQ(r.authorization, basic) << r.method << " " << r.target;
    } else {
      EXPECT_EQ(r.authorization, write_token) << r.method << " " << r.target;
      saw_cookie |= r.cookie == "session=fake-session";
    }
    if (r.method == "PUT" && r.target == "/v1/repositories/alice/app/images") {
      saw_final = true;
      EXPECT_EQ(r.endpoints, "127.0.0.1:" + std::to_string(fake.port()));
    }
  }
  EXPECT_TRUE(saw_cookie) << "the session cookie was never sent back";
  EXPECT_TRUE(saw_final);

  // Pushing again: the probes find both images, nothing is uploaded.
  absl::StatusOr<PushReport> again = Push(image, *ParseRepoRef("alice/app:v1"), po);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->images[0].skipped);
  EXPECT_TRUE(again->images[1].skipped);

  // Anonymous pull: no Basic on the image list, the read token elsewhere.
  size_t before = fake.log().size();
  PullOptions pl;
  pl.registry = po.registry;
  pl.output = *dir + "/out.tar";
  absl::StatusOr<PullReport> pulled = Pull(*ParseRepoRef("alice/app:v1"), pl);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->top_id, std::string(64, 'b'));
  EXPECT_TRUE(FileExists(pl.output));
  EXPECT_FALSE(FileExists(pl.output + ".partial"));
  std::vector<testing::LoggedRequest> log = fake.log();
  const std::string read_token = testing::FakeIndex::ExpectedTokenHeader("alice/app", "read");
  for (size_t i = before; i < log.size(); ++i) {
    if (log[i].target == "/v1/_ping") continue;
    if (log[i].target == "/v1/repositories/alice/app/images") {
      EXPECT_EQ(log[i].authorization, "");
    } else {
      EXPECT_EQ(log[i].authorization, read_token) << log[i].target;
    }
  }
  RemoveAll(*dir).IgnoreError();
}

TEST(IndexModeTest, WrongCredentialsFailClearly) {
  testing::FakeIndex fake(std::map<std::string, std::string>{{"alice", "s3cret-pw"}});
  absl::StatusOr<std::string> dir = MakeTempDir("v1client-index-");
  ASSERT_TRUE(dir.ok());
  PushOptions po;
  po.registry = *ParseUrl(fake.url());
  po.login = {"alice", "guess"};
  absl::StatusOr<PushReport> r = Push(TwoImages(*dir), *ParseRepoRef("alice/app"), po);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "wrong username or password"))
      << r.status();
  // Without login the push start is refused by the index with 401.
  po.login = {};
  r = Push(TwoImages(*dir), *ParseRepoRef("alice/app"), po);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  for (const auto& l : fake.log()) {
    EXPECT_FALSE(absl::StartsWith(l.target, "/v1/images/")) << "no image call may follow";
  }
  RemoveAll(*dir).IgnoreError();
}

TEST(HttpTest, UnreachableAndTlsAreClearErrors) {
  HttpCall c;
  c.url = *ParseUrl("http://127.0.0.1:1/v1/_ping");
  absl::StatusOr<HttpResponse> r = Send(c);
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  c.url = *ParseUrl("https://127.0.0.1:1/");
  EXPECT_TRUE(absl::IsUnavailable(Send(c).status()));
  EXPECT_FALSE(ParseUrl("ftp://x").ok());
  EXPECT_FALSE(ParseUrl("http://x:99999").ok());
  absl::StatusOr<Url> u = ParseUrl("127.0.0.1:5000");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->Origin(), "http://127.0.0.1:5000");
}

}  // namespace
}  // namespace berth::v1client

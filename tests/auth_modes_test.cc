// Accounts, tokens, cookies and permissions of `berth serve` in the two
// authenticated modes (spec §1.2–§1.7, §2.0, §2.3, §2.4, §2.5.7, §2.7,
// §5.1, §7.9): every 401/403 path, tampered and expired tokens, tokens for
// another repository, read tokens that try to write, private repositories
// on every endpoint and in search, the image-list membership rule, session
// cookies, sign-up and the docker login sequence.
//
// Three real `berth serve` processes, one per suite: --auth basic,
// --auth index, and --auth index --token-lifetime 2 --signup=false. Each
// suite pushes its scenario once (first SetUp) and its tests share it:
//
//   alice/pub   public:  scratch <- hello (latest)
//   alice/priv  private: scratch <- hello <- sudoers (latest)
//   bob/own     public:  bob-root (latest)
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/auth_testutil.h"
#include "tests/conformance_util.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"
#include "tests/test_images.h"

namespace berth::testing {
namespace {

constexpr char kAlicePw[] = "alice-pw-1";
constexpr char kBobPw[] = "bob-pw-1";
constexpr char kUserExists[] = "\"Username or email already exists\"";

HttpResponse Call(const RegistryClient& c, const std::string& method,
                  const std::string& path, HeaderVec headers = {},
                  std::string body = "") {
  return Must(c.Request(method, path, std::move(headers), std::move(body)));
}

HeaderVec AuthH(const std::string& value) {
  if (value.empty()) return {};
  return {{"Authorization", value}};
}
HeaderVec TokenH(const std::string& token) { return {{"Authorization", "Token " + token}}; }

bool IsErrorObject(const HttpResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return r.Header("Content-Type").value_or("") == "application/json" && j.is_object() &&
         j.size() == 1 && j.contains("error") && j["error"].is_string();
}

// 401 with exactly `WWW-Authenticate: Token` and an {"error": …} body
// (spec §1.4.7 first row, §7.9 rules 3–4).
// For HEAD (`head`), the body checks are left out: there is none.
void ExpectTokenChallenge(const HttpResponse& r, const std::string& what,
                          bool exact_message = false, bool head = false) {
  EXPECT_EQ(r.status, 401) << what << ": " << Show(r);
  EXPECT_EQ(r.Header("WWW-Authenticate").value_or("<none>"), "Token")
      << what << ": " << Show(r);
  if (head) return;
  EXPECT_TRUE(IsErrorObject(r)) << what << ": " << Show(r);
  if (exact_message) {
    EXPECT_JSON_ERROR(r, 401, "Requires authorization");
  }
}

// 401 with `WWW-Authenticate: Basic realm="…"` (§1.4.7 second row, §7.9
// rule 2).
void ExpectBasicChallenge(const HttpResponse& r, const std::string& what,
                          bool head = false) {
  EXPECT_EQ(r.status, 401) << what << ": " << Show(r);
  std::string h = r.Header("WWW-Authenticate").value_or("<none>");
  EXPECT_TRUE(absl::StartsWith(h, "Basic realm=\"") && absl::EndsWith(h, "\"") &&
              h.size() > strlen("Basic realm=\"\""))
      << what << ": WWW-Authenticate '" << h << "'";
  if (head) return;
  EXPECT_TRUE(IsErrorObject(r)) << what << ": " << Show(r);
}

// 403 with an {"error": …} body and no challenge (§1.4.7 rows 3–4).
void ExpectForbidden(const HttpResponse& r, const std::string& what) {
  EXPECT_EQ(r.status, 403) << what << ": " << Show(r);
  EXPECT_FALSE(r.Header("WWW-Authenticate").has_value()) << what << ": " << Show(r);
  EXPECT_TRUE(IsErrorObject(r)) << what << ": " << Show(r);
}

std::vector<PushImage> AsPush(const std::vector<TestImage>& images) {
  return std::vector<PushImage>(images.begin(), images.end());
}

std::set<std::string> SearchNames(const RegistryClient& c, const std::string& q,
                                  const std::string& auth) {
  HttpResponse r = Call(c, "GET", "/v1/search?q=" + q + "&n=100", AuthH(auth));
  EXPECT_EQ(r.status, 200) << "search as '" << auth << "': " << Show(r);
  std::set<std::string> names;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j["results"].is_array()) {
    ADD_FAILURE() << "search body: " << r.body;
    return names;
  }
  for (const auto& e : j["results"]) names.insert(e.value("name", ""));
  return names;
}

// ---------------------------------------------------------------------------
// The shared scenario.

struct Scenario {
  std::unique_ptr<Server> server;
  std::vector<TestImage> chain;
  TestImage bob_root;
};

// Pushes the scenario on `s` (index-mode sequence with Basic on index
// calls and the token on registry paths; works in basic mode too).
void PushScenario(Scenario* s) {
  RegistryClient c = s->server->client();
  auto alice = SignUp(c, "alice", kAlicePw, "alice@example.com");
  ASSERT_TRUE(alice.ok()) << alice.status();
  ASSERT_EQ(alice->status, 201) << Show(*alice);
  EXPECT_EQ(alice->body, "\"User Created\"");
  auto bob = SignUp(c, "bobby", kBobPw, "bobby@example.com");
  ASSERT_TRUE(bob.ok() && bob->status == 201) << (bob.ok() ? Show(*bob) : "");

  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  s->chain = *chain;
  std::vector<TestImage> pub(s->chain.begin(), s->chain.begin() + 2);
  std::vector<TestImage> priv(s->chain.begin(), s->chain.begin() + 3);

  c.set_index_auth(Basic("alice", kAlicePw));
  PushOptions o;
  o.tags = {{"latest", kHelloId}};
  auto report = PushChain(c, "alice/pub", AsPush(pub), o);
  ASSERT_TRUE(report.ok()) << report.status();
  o.tags = {{"latest", kSudoersId}};
  report = PushChain(c, "alice/priv", AsPush(priv), o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->uploaded, std::vector<std::string>{kSudoersId});
  HttpResponse r = Call(c, "PUT", "/v1/repositories/alice/priv/properties",
                        {{"Authorization", Basic("alice", kAlicePw)},
                         {"Content-Type", "application/json"}},
                        R"({"access": "private"})");
  ASSERT_EQ(r.status, 200) << Show(r);
  EXPECT_EQ(r.body, "true");

  absl::StatusOr<TestImage> root = MakeImage("auth-modes/bob-root", "", "synthetic_hello.tar");
  ASSERT_TRUE(root.ok()) << root.status();
  s->bob_root = *root;
  c.set_index_auth(Basic("bobby", kBobPw));
  o.tags = {{"latest", root->id}};
  report = PushChain(c, "bobby/own", AsPush({*root}), o);
  ASSERT_TRUE(report.ok()) << report.status();
}

class ModeTest : public ::testing::Test {
 protected:
  const RegistryClient client() const { return scenario().server->client(); }
  virtual Scenario& scenario() const = 0;
  void Bring(Scenario* s, const std::string& name, std::vector<std::string> flags) {
    if (s->server != nullptr) return;
    auto server = StartServer(name, std::move(flags));
    ASSERT_TRUE(server.ok()) << server.status();
    s->server = *std::move(server);
    PushScenario(s);
    if (HasFatalFailure()) s->server.reset();
  }
};

Scenario* basic_scenario = nullptr;
Scenario* index_scenario = nullptr;

class BasicModeTest : public ModeTest {
 protected:
  static void SetUpTestSuite() { basic_scenario = new Scenario(); }
  static void TearDownTestSuite() {
    delete basic_scenario;
    basic_scenario = nullptr;
  }
  void SetUp() override {
    Bring(basic_scenario, "auth-basic", {"--auth", "basic"});
    ASSERT_NE(basic_scenario->server, nullptr);
  }
  Scenario& scenario() const override { return *basic_scenario; }
};

class IndexModeTest : public ModeTest {
 protected:
  static void SetUpTestSuite() { index_scenario = new Scenario(); }
  static void TearDownTestSuite() {
    delete index_scenario;
    index_scenario = nullptr;
  }
  void SetUp() override {
    Bring(index_scenario, "auth-index", {"--auth", "index"});
    ASSERT_NE(index_scenario->server, nullptr);
  }
  Scenario& scenario() const override { return *index_scenario; }
};

// ---------------------------------------------------------------------------
// Standalone auth = basic.

TEST_F(BasicModeTest, PingSaysStandalone) {
  HttpResponse r = Call(client(), "GET", "/v1/_ping");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Docker-Registry-Standalone").value_or(""), "true");
}

// §7.9 rule 2: wrong Basic credentials are 401 everywhere, also on public
// reads; §1.2: "Basic Og==" is anonymous, not a failed login.
TEST_F(BasicModeTest, WrongCredentialsAre401EvenOnPublicReads) {
  const RegistryClient c = client();
  const std::vector<std::string> reads = {
      "/v1/repositories/alice/pub/tags",
      "/v1/repositories/alice/pub/tags/latest",
      "/v1/repositories/alice/pub/tags/latest/json",
      "/v1/repositories/alice/pub/json",
      "/v1/repositories/alice/pub/images",
      "/v1/repositories/alice/pub/properties",
      absl::StrCat("/v1/images/", kHelloId, "/json"),
      absl::StrCat("/v1/images/", kHelloId, "/layer"),
      absl::StrCat("/v1/images/", kHelloId, "/ancestry"),
      absl::StrCat("/v1/images/", kHelloId, "/files"),
      "/v1/search?q=alice",
      "/v1/users/"};
  for (const std::string& path : reads) {
    ExpectBasicChallenge(Call(c, "GET", path, AuthH(Basic("alice", "wrong-password"))),
                         "wrong password, GET " + path);
    ExpectBasicChallenge(Call(c, "GET", path, AuthH(Basic("nosuchuser", "whatever"))),
                         "unknown user, GET " + path);
    ExpectBasicChallenge(Call(c, "GET", path, AuthH("Basic !!not-base64!!")),
                         "malformed Basic, GET " + path);
    if (path == "/v1/users/") continue;  // login needs credentials
    HttpResponse anon = Call(c, "GET", path, AuthH("Basic Og=="));
    EXPECT_EQ(anon.status, 200) << "Basic Og== (anonymous) GET " << path << ": " << Show(anon);
  }
  // Anonymous (Og==) writes: 401 with the Basic challenge.
  ExpectBasicChallenge(Call(c, "PUT", "/v1/repositories/alice/pub/tags/x",
                            {{"Authorization", "Basic Og=="}}, "\"" + std::string(kHelloId) + "\""),
                       "anonymous PUT tag");
  auto put = PutRepo(c, "alice/anon", "Basic Og==", {});
  ASSERT_TRUE(put.ok());
  ExpectBasicChallenge(*put, "anonymous PUT repository");
  // The owner's Basic works on registry paths in standalone basic mode.
  HttpResponse ok = Call(c, "GET", "/v1/repositories/alice/pub/tags",
                         AuthH(Basic("alice", kAlicePw)));
  EXPECT_EQ(ok.status, 200) << Show(ok);
}

// §2.0, §1.6: users own their namespace; library needs an administrator.
TEST_F(BasicModeTest, NamespaceOwnershipAndLibrary) {
  const RegistryClient c = client();
  const std::string alice = Basic("alice", kAlicePw);
  ExpectForbidden(*PutRepo(c, "bobby/other", alice, {}), "alice PUT repository bob/other");
  ExpectForbidden(Call(c, "PUT", "/v1/repositories/bobby/own/tags/stolen",
                       {{"Authorization", alice}, {"Content-Type", "application/json"}},
                       "\"" + scenario().bob_root.id + "\""),
                  "alice PUT tag in bob/own");
  ExpectForbidden(Call(c, "DELETE", "/v1/repositories/bobby/own/tags/latest", AuthH(alice)),
                  "alice DELETE tag of bob/own");
  ExpectForbidden(Call(c, "PUT", "/v1/repositories/bobby/own/properties",
                       {{"Authorization", alice}}, R"({"access": "private"})"),
                  "alice PUT properties of bob/own");
  ExpectForbidden(Call(c, "DELETE", "/v1/repositories/bobby/own/", AuthH(alice)),
                  "alice DELETE bob/own");
  ExpectForbidden(*PutRepo(c, "busybox", alice, {}), "alice PUT repository busybox");
  ExpectForbidden(*PutRepo(c, "library/busybox", alice, {}),
                  "alice PUT repository library/busybox");
  // bob's tag is still there.
  HttpResponse tags = Call(c, "GET", "/v1/repositories/bobby/own/tags");
  EXPECT_EQ(tags.status, 200);
  EXPECT_EQ(nlohmann::json::parse(tags.body, nullptr, false),
            nlohmann::json({{"latest", scenario().bob_root.id}}));

  HttpResponse own = *PutRepo(c, "alice/fresh", alice, {});
  EXPECT_EQ(own.status, 200) << Show(own);
  HttpResponse lib = *PutRepo(c, "busybox", Basic(kAdminUser, kAdminPassword), {kScratchId});
  ASSERT_EQ(lib.status, 200) << Show(lib);
  auto token = ParseToken(lib.Header("X-Docker-Token").value_or(""));
  ASSERT_TRUE(token.has_value()) << Show(lib);
  EXPECT_EQ(token->repository, "library/busybox");
  EXPECT_EQ(token->access, "write");
}

// §7.9 rule 1, §2.5.7: a private repository answers 401 to anonymous
// callers and 403 to other users on every repository endpoint and on the
// json, layer, ancestry and files of images readable only through it.
TEST_F(BasicModeTest, PrivateRepositoryOnEveryEndpoint) {
  const RegistryClient c = client();
  const std::vector<std::string> repo_paths = {
      "/v1/repositories/alice/priv/tags",
      "/v1/repositories/alice/priv/tags/latest",
      "/v1/repositories/alice/priv/tags/latest/json",
      "/v1/repositories/alice/priv/json",
      "/v1/repositories/alice/priv/properties",
      "/v1/repositories/alice/priv/images"};
  const std::string img = absl::StrCat("/v1/images/", kSudoersId);
  const std::vector<std::string> image_paths = {img + "/json", img + "/layer",
                                                img + "/ancestry", img + "/files"};
  std::vector<std::string> all = repo_paths;
  all.insert(all.end(), image_paths.begin(), image_paths.end());
  for (const std::string& path : all) {
    ExpectBasicChallenge(Call(c, "GET", path), "anonymous GET " + path);
    ExpectBasicChallenge(Call(c, "GET", path, AuthH("Basic Og==")), "Og== GET " + path);
    ExpectForbidden(Call(c, "GET", path, AuthH(Basic("bobby", kBobPw))), "bob GET " + path);
    HttpResponse owner = Call(c, "GET", path, AuthH(Basic("alice", kAlicePw)));
    EXPECT_EQ(owner.status, 200) << "alice GET " << path << ": " << Show(owner);
    HttpResponse admin = Call(c, "GET", path, AuthH(Basic(kAdminUser, kAdminPassword)));
    EXPECT_EQ(admin.status, 200) << "admin GET " << path << ": " << Show(admin);
  }
  // HEAD answers like GET.
  ExpectBasicChallenge(Call(c, "HEAD", img + "/json"), "anonymous HEAD json", true);
  EXPECT_EQ(Call(c, "HEAD", img + "/layer", AuthH(Basic("bobby", kBobPw))).status, 403);
  // Images also listed by the public repository stay public.
  EXPECT_EQ(Call(c, "GET", absl::StrCat("/v1/images/", kHelloId, "/layer")).status, 200);
  EXPECT_EQ(Call(c, "GET", absl::StrCat("/v1/images/", kScratchId, "/json"),
                 AuthH(Basic("bobby", kBobPw))).status,
            200);
  // The properties say so.
  HttpResponse props = Call(c, "GET", "/v1/repositories/alice/priv/properties",
                            AuthH(Basic("alice", kAlicePw)));
  EXPECT_EQ(nlohmann::json::parse(props.body, nullptr, false),
            nlohmann::json({{"access", "private"}}));
  // A token for another repository does not open it (§1.4.4): 401 Token.
  auto bob_token = WriteToken(c, "bobby/own", Basic("bobby", kBobPw), {});
  ASSERT_TRUE(bob_token.ok()) << bob_token.status();
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/alice/priv/tags", TokenH(*bob_token)),
                       "bob's token on alice/priv tags");
}

// §2.7, §7.9 rules 1 and 7: private repositories appear only to the owner
// and administrators.
TEST_F(BasicModeTest, SearchHidesPrivateRepositories) {
  const RegistryClient c = client();
  std::set<std::string> anon = SearchNames(c, "alice", "");
  EXPECT_TRUE(anon.count("alice/pub")) << "anonymous search misses alice/pub";
  EXPECT_FALSE(anon.count("alice/priv")) << "anonymous search shows alice/priv";
  std::set<std::string> og = SearchNames(c, "alice", "Basic Og==");
  EXPECT_FALSE(og.count("alice/priv"));
  std::set<std::string> bob = SearchNames(c, "alice", Basic("bobby", kBobPw));
  EXPECT_TRUE(bob.count("alice/pub"));
  EXPECT_FALSE(bob.count("alice/priv")) << "bob's search shows alice/priv";
  std::set<std::string> alice = SearchNames(c, "alice", Basic("alice", kAlicePw));
  EXPECT_TRUE(alice.count("alice/priv")) << "the owner's search misses alice/priv";
  std::set<std::string> admin = SearchNames(c, "priv", Basic(kAdminUser, kAdminPassword));
  EXPECT_TRUE(admin.count("alice/priv")) << "the admin's search misses alice/priv";
  // Wrong credentials on search: 401, not an anonymous search (§2.7).
  ExpectBasicChallenge(Call(c, "GET", "/v1/search?q=alice", AuthH(Basic("bobby", "nope-nope"))),
                       "search with a wrong password");
}

// Tokens in standalone basic mode: accepted on registry paths (plain-HTTP
// docker sends only tokens there), scoped to their repository.
TEST_F(BasicModeTest, TokensAreScopedAndTamperEvident) {
  const RegistryClient c = client();
  auto token = WriteToken(c, "alice/pub", Basic("alice", kAlicePw), {});
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(Call(c, "GET", "/v1/repositories/alice/pub/tags", TokenH(*token)).status, 200);
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/alice/priv/tags", TokenH(*token)),
                       "alice/pub token on alice/priv");
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/bobby/own/tags/x",
                            TokenH(*token), "\"" + scenario().bob_root.id + "\""),
                       "alice/pub token writing bob/own");
  auto parts = ParseToken(*token);
  ASSERT_TRUE(parts.has_value()) << *token;
  TokenParts bad = *parts;
  bad.mac = FlipHex(bad.mac, 10);
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/alice/pub/tags", TokenH(bad.Join())),
                       "tampered MAC");
  bad = *parts;
  bad.repository = "bobby/own";
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/bobby/own/tags", TokenH(bad.Join())),
                       "repository changed to bob/own");
}

// §2.3, §5.1: the docker login sequence and the exact conflict body.
TEST_F(BasicModeTest, LoginSequenceAndAccountUpdates) {
  const RegistryClient c = client();
  auto again = SignUp(c, "alice", kAlicePw, "alice@example.com");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 400);
  EXPECT_EQ(again->body, kUserExists) << "byte for byte, no newline";
  auto same_email = SignUp(c, "alice_two", "another-pw", "ALICE@example.com");
  ASSERT_TRUE(same_email.ok());
  EXPECT_EQ(same_email->status, 400) << Show(*same_email);
  EXPECT_EQ(same_email->body, kUserExists);
  // Step 3: GET /v1/users/ with Basic.
  HttpResponse ok = Call(c, "GET", "/v1/users/", AuthH(Basic("alice", kAlicePw)));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "\"OK\"");
  EXPECT_EQ(Call(c, "GET", "/v1/users", AuthH(Basic("alice", kAlicePw))).status, 200);
  ExpectBasicChallenge(Call(c, "GET", "/v1/users/", AuthH(Basic("alice", "wrong-pw"))),
                       "login with a wrong password");
  ExpectBasicChallenge(Call(c, "GET", "/v1/users/"), "login without credentials");
  ExpectBasicChallenge(Call(c, "GET", "/v1/users/", AuthH("Basic Og==")),
                       "login with empty credentials");
  // Rule violations.
  auto bad_name = SignUp(c, "Bad-Name", "password1", "x@example.com");
  ASSERT_TRUE(bad_name.ok());
  EXPECT_EQ(bad_name->status, 400);
  EXPECT_TRUE(IsErrorObject(*bad_name)) << Show(*bad_name);
  auto short_pw = SignUp(c, "carol", "1234", "carol@example.com");
  ASSERT_TRUE(short_pw.ok());
  EXPECT_EQ(short_pw->status, 400);
  HttpResponse not_json = Call(c, "POST", "/v1/users/", {}, "{not json");
  EXPECT_JSON_ERROR(not_json, 400, "Error Decoding JSON");
  // §2.3.3: update.
  const std::string body = R"({"email": "alice.second@example.com"})";
  ExpectBasicChallenge(Call(c, "PUT", "/v1/users/alice/", {}, body), "anonymous update");
  ExpectForbidden(Call(c, "PUT", "/v1/users/alice/", AuthH(Basic("bobby", kBobPw)), body),
                  "bob updates alice");
  HttpResponse upd = Call(c, "PUT", "/v1/users/alice/", AuthH(Basic("alice", kAlicePw)), body);
  EXPECT_EQ(upd.status, 204) << Show(upd);
  EXPECT_EQ(upd.body, "");
  HttpResponse missing = Call(c, "PUT", "/v1/users/nosuchuser/",
                              AuthH(Basic(kAdminUser, kAdminPassword)), body);
  EXPECT_EQ(missing.status, 404) << Show(missing);
  // The added email is now taken.
  auto taken = SignUp(c, "alice_three", "another-pw", "alice.second@example.com");
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->body, kUserExists) << Show(*taken);
}

// ---------------------------------------------------------------------------
// Index mode.

TEST_F(IndexModeTest, PingAndRepositoryAnswers) {
  const RegistryClient c = client();
  HttpResponse ping = Call(c, "GET", "/v1/_ping");
  EXPECT_EQ(ping.Header("X-Docker-Registry-Standalone").value_or(""), "false");
  HttpResponse r = *PutRepo(c, "alice/answers", Basic("alice", kAlicePw), {kScratchId});
  ASSERT_EQ(r.status, 200) << Show(r);
  const std::string token = r.Header("X-Docker-Token").value_or("");
  auto parts = ParseToken(token);
  ASSERT_TRUE(parts.has_value()) << "not the bare §1.4.3 form: '" << token << "'";
  EXPECT_EQ(parts->repository, "alice/answers");
  EXPECT_EQ(parts->access, "write");
  int64_t expires = 0;
  ASSERT_TRUE(absl::SimpleAtoi(parts->expires, &expires));
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  EXPECT_GE(expires, now + 3600 - 60) << "default lifetime is 3600 s";
  EXPECT_LE(expires, now + 3600 + 5);
  EXPECT_EQ(r.Header("WWW-Authenticate").value_or(""), "Token " + token);
  EXPECT_EQ(r.Header("X-Docker-Endpoints").value_or(""), absl::StrCat("127.0.0.1:", c.port()));
  // A read token from the image list; anonymous read of a public repository.
  HttpResponse list = Call(c, "GET", "/v1/repositories/alice/pub/images",
                           {{"X-Docker-Token", "true"}});
  ASSERT_EQ(list.status, 200) << Show(list);
  auto read = ParseToken(list.Header("X-Docker-Token").value_or(""));
  ASSERT_TRUE(read.has_value()) << Show(list);
  EXPECT_EQ(read->repository, "alice/pub");
  EXPECT_EQ(read->access, "read");
}

// §7.9 rule 3, §1.4.7 row 1: registry paths take only tokens and cookies.
TEST_F(IndexModeTest, RegistryPathsTakeOnlyTokens) {
  const RegistryClient c = client();
  const std::string img = absl::StrCat("/v1/images/", kHelloId);
  struct Req {
    std::string method, path, body;
    HeaderVec extra;
  };
  const std::vector<Req> reqs = {
      {"GET", "/v1/repositories/alice/pub/tags", "", {}},
      {"GET", "/v1/repositories/alice/pub/tags/latest", "", {}},
      {"GET", "/v1/repositories/alice/pub/tags/latest/json", "", {}},
      {"PUT", "/v1/repositories/alice/pub/tags/new", absl::StrCat("\"", kHelloId, "\""), {}},
      {"DELETE", "/v1/repositories/alice/pub/tags/latest", "", {}},
      {"GET", img + "/json", "", {}},
      {"HEAD", img + "/json", "", {}},
      {"GET", img + "/layer", "", {}},
      {"GET", img + "/ancestry", "", {}},
      {"GET", img + "/files", "", {}},
      {"PUT", img + "/json", scenario().chain[1].json, {}},
      {"PUT", img + "/layer", "layer", {}},
      {"PUT", img + "/checksum", "",
       {{"X-Docker-Checksum-Payload", scenario().chain[1].payload_checksum}}},
  };
  const std::vector<std::pair<std::string, std::string>> auths = {
      {"anonymous", ""},
      {"Basic Og==", "Basic Og=="},
      {"bare Token", "Token "},
      {"valid Basic (owner)", Basic("alice", kAlicePw)},
      {"valid Basic (admin)", Basic(kAdminUser, kAdminPassword)},
      {"wrong Basic", Basic("alice", "wrong-password")},
  };
  for (const Req& q : reqs) {
    for (const auto& [label, auth] : auths) {
      HeaderVec h = q.extra;
      if (!auth.empty()) h.emplace_back("Authorization", auth);
      HttpResponse r = Call(c, q.method, q.path, h, q.body);
      const std::string what = label + " " + q.method + " " + q.path;
      ExpectTokenChallenge(r, what, /*exact_message=*/true, /*head=*/q.method == "HEAD");
    }
  }
  // Index paths still take Basic; wrong Basic there is a Basic challenge.
  ExpectBasicChallenge(Call(c, "GET", "/v1/repositories/alice/pub/images",
                            AuthH(Basic("alice", "wrong-password"))),
                       "wrong Basic on GET images");
  ExpectBasicChallenge(Call(c, "GET", "/v1/search?q=a", AuthH(Basic("nosuchuser", "pw-pw-pw"))),
                       "wrong Basic on search");
  ExpectBasicChallenge(*PutRepo(c, "alice/x", "", {}), "anonymous PUT repository");
  HttpResponse og = Call(c, "GET", "/v1/repositories/alice/pub/images",
                         {{"Authorization", "Basic Og=="}, {"X-Docker-Token", "true"}});
  EXPECT_EQ(og.status, 200) << "Og== is anonymous: " << Show(og);
  EXPECT_TRUE(og.Header("X-Docker-Token").has_value());
  // And with a token the same registry paths work.
  auto token = ReadToken(c, "alice/pub", "");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(Call(c, "GET", "/v1/repositories/alice/pub/tags", TokenH(*token)).status, 200);
  EXPECT_EQ(Call(c, "GET", img + "/layer", TokenH(*token)).status, 200);
  // PY standalone form echoed back ("Token Token signature=…") parses too
  // (§1.4.2 step 2).
  EXPECT_EQ(Call(c, "GET", "/v1/repositories/alice/pub/tags",
                 AuthH("Token Token " + *token)).status,
            200);
}

// §1.4.3: any change to a token breaks its MAC.
TEST_F(IndexModeTest, TamperedTokensAreRefused) {
  const RegistryClient c = client();
  auto token = ReadToken(c, "alice/pub", Basic("alice", kAlicePw));
  ASSERT_TRUE(token.ok()) << token.status();
  auto parts = ParseToken(*token);
  ASSERT_TRUE(parts.has_value()) << *token;
  const std::string tags = "/v1/repositories/alice/pub/tags";
  ASSERT_EQ(Call(c, "GET", tags, TokenH(*token)).status, 200) << "control";
  ASSERT_EQ(parts->Join(), *token) << "round trip of the token form";

  std::vector<std::pair<std::string, TokenParts>> cases;
  TokenParts t = *parts;
  t.mac = FlipHex(t.mac, 0);
  cases.push_back({"first MAC digit", t});
  t = *parts;
  t.mac = FlipHex(t.mac, 63);
  cases.push_back({"last MAC digit", t});
  t = *parts;
  t.mac = t.mac.substr(0, 62);
  cases.push_back({"MAC shortened", t});
  t = *parts;
  t.mac = absl::AsciiStrToUpper(t.mac);
  if (t.mac != parts->mac) cases.push_back({"MAC upper case", t});
  t = *parts;
  t.nonce = FlipHex(t.nonce, 3);
  cases.push_back({"nonce", t});
  int64_t expires = 0;
  ASSERT_TRUE(absl::SimpleAtoi(parts->expires, &expires));
  t = *parts;
  t.expires = absl::StrCat(expires + 1);
  cases.push_back({"expiry + 1", t});
  t = *parts;
  t.expires = absl::StrCat(expires + 86400 * 365);
  cases.push_back({"expiry + 1 year", t});
  for (const auto& [label, bad] : cases) {
    ExpectTokenChallenge(Call(c, "GET", tags, TokenH(bad.Join())), "tampered " + label);
  }
  // Repository changed: alice/priv (which alice may read) with this MAC.
  t = *parts;
  t.repository = "alice/priv";
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/alice/priv/tags", TokenH(t.Join())),
                       "repository changed to alice/priv");
  // Access changed to write: neither the write nor the read is allowed.
  t = *parts;
  t.access = "write";
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/alice/pub/tags/evil", TokenH(t.Join()),
                            absl::StrCat("\"", kScratchId, "\"")),
                       "access changed to write (PUT tag)");
  ExpectTokenChallenge(Call(c, "GET", tags, TokenH(t.Join())), "access changed to write (GET)");
  t.access = "delete";
  ExpectTokenChallenge(Call(c, "DELETE", "/v1/repositories/alice/pub/tags/latest", TokenH(t.Join())),
                       "access changed to delete");
  // Malformed tokens.
  for (const std::string& bad : {
           std::string("signature=123abc,repository=\"alice/pub\",access=read"),
           absl::StrCat("signature=", parts->expires, ".", parts->nonce, ".", parts->mac,
                        ",repository=\"alice/pub\""),
           absl::StrCat("signature=", parts->expires, ".", parts->nonce, ".", parts->mac,
                        ",repository=\"alice/pub\",access=admin"),
           absl::StrCat("repository=\"alice/pub\",access=read"),
       }) {
    ExpectTokenChallenge(Call(c, "GET", tags, TokenH(bad)), "malformed token " + bad);
  }
  // The tags were not touched by any of these.
  HttpResponse after = Call(c, "GET", tags, TokenH(*token));
  auto j = nlohmann::json::parse(after.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << after.body;
  EXPECT_FALSE(j.contains("evil")) << after.body;
  EXPECT_EQ(j.value("latest", ""), kHelloId) << after.body;
}

// §1.4.4: a token is for one repository; on image paths the image must be
// in that repository's list.
TEST_F(IndexModeTest, TokenForAnotherRepository) {
  const RegistryClient c = client();
  auto bob_write = WriteToken(c, "bobby/own", Basic("bobby", kBobPw), {});
  ASSERT_TRUE(bob_write.ok()) << bob_write.status();
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/alice/pub/tags", TokenH(*bob_write)),
                       "bobby/own token GET alice/pub tags");
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/alice/pub/tags/bob",
                            TokenH(*bob_write), "\"" + scenario().bob_root.id + "\""),
                       "bobby/own token PUT alice/pub tag");
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/alice/pub/images", TokenH(*bob_write), "[]"),
                       "bobby/own token PUT alice/pub images");
  // Images of alice/pub are not in bob/own's list: 404, not revealed.
  for (const char* what : {"json", "layer", "ancestry"}) {
    HttpResponse r = Call(c, "GET", absl::StrCat("/v1/images/", kHelloId, "/", what),
                          TokenH(*bob_write));
    EXPECT_JSON_ERROR(r, 404, "Image not found");
  }
  // A read token of alice/pub does not reach alice/priv's own image.
  auto pub_read = ReadToken(c, "alice/pub", "");
  ASSERT_TRUE(pub_read.ok());
  HttpResponse priv_img = Call(c, "GET", absl::StrCat("/v1/images/", kSudoersId, "/json"),
                               TokenH(*pub_read));
  EXPECT_JSON_ERROR(priv_img, 404, "Image not found");
  // ... nor an image that does not exist at all (same answer).
  HttpResponse none = Call(c, "GET", absl::StrCat("/v1/images/", std::string(64, 'e'), "/json"),
                           TokenH(*pub_read));
  EXPECT_JSON_ERROR(none, 404, "Image not found");
}

// §1.4.4: read tokens only read.
TEST_F(IndexModeTest, ReadTokenCannotWrite) {
  const RegistryClient c = client();
  // The owner's read token: refusals come from the access, not the user.
  auto read = ReadToken(c, "alice/pub", Basic("alice", kAlicePw));
  ASSERT_TRUE(read.ok()) << read.status();
  const TestImage& hello = scenario().chain[1];
  const std::string img = "/v1/images/" + hello.id;
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/alice/pub/tags/v2", TokenH(*read),
                            "\"" + hello.id + "\""),
                       "read token PUT tag");
  ExpectTokenChallenge(Call(c, "DELETE", "/v1/repositories/alice/pub/tags/latest", TokenH(*read)),
                       "read token DELETE tag");
  ExpectTokenChallenge(Call(c, "DELETE", "/v1/repositories/alice/pub/", TokenH(*read)),
                       "read token DELETE repository");
  ExpectTokenChallenge(Call(c, "PUT", img + "/json", TokenH(*read), hello.json),
                       "read token PUT json");
  ExpectTokenChallenge(Call(c, "PUT", img + "/layer", TokenH(*read), hello.layer),
                       "read token PUT layer");
  HeaderVec cs = TokenH(*read);
  cs.emplace_back("X-Docker-Checksum-Payload", hello.payload_checksum);
  ExpectTokenChallenge(Call(c, "PUT", img + "/checksum", cs), "read token PUT checksum");
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/alice/pub/images", TokenH(*read), "[]"),
                       "read token PUT images");
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/alice/pub/properties", TokenH(*read),
                            R"({"access": "private"})"),
                       "read token PUT properties");
  // Nothing changed.
  HttpResponse tags = Call(c, "GET", "/v1/repositories/alice/pub/tags", TokenH(*read));
  auto j = nlohmann::json::parse(tags.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << tags.body;
  EXPECT_FALSE(j.contains("v2")) << tags.body;
  EXPECT_EQ(j.value("latest", ""), kHelloId) << tags.body;
  HttpResponse props = Call(c, "GET", "/v1/repositories/alice/pub/properties",
                            AuthH(Basic("alice", kAlicePw)));
  EXPECT_EQ(nlohmann::json::parse(props.body, nullptr, false),
            nlohmann::json({{"access", "public"}}));
  // The same write with a write token works (the control).
  auto write = WriteToken(c, "alice/pub", Basic("alice", kAlicePw), {});
  ASSERT_TRUE(write.ok()) << write.status();
  HttpResponse ok = Call(c, "PUT", "/v1/repositories/alice/pub/tags/v2", TokenH(*write),
                         "\"" + hello.id + "\"");
  EXPECT_EQ(ok.status, 200) << Show(ok);
}

// §1.4.4 / §2.6.2 check 6: in index mode a token writes only images of its
// repository's list, and reads only those.
TEST_F(IndexModeTest, ImageListMembershipRule) {
  const RegistryClient c = client();
  const std::string alice = Basic("alice", kAlicePw);
  absl::StatusOr<TestImage> m1 = MakeImage("auth-modes/member-1", "", "synthetic_hello.tar");
  absl::StatusOr<TestImage> m2 = MakeImage("auth-modes/member-2", "", "synthetic_hello.tar");
  ASSERT_TRUE(m1.ok() && m2.ok());
  auto mem = WriteToken(c, "alice/mem", alice, {m1->id});
  auto other = WriteToken(c, "alice/other", alice, {m2->id});
  ASSERT_TRUE(mem.ok() && other.ok()) << mem.status() << other.status();

  HttpResponse r = Call(c, "PUT", "/v1/images/" + m1->id + "/json", TokenH(*mem), m1->json);
  EXPECT_EQ(r.status, 200) << "member json: " << Show(r);
  r = Call(c, "PUT", "/v1/images/" + m2->id + "/json", TokenH(*mem), m2->json);
  EXPECT_JSON_ERROR(r, 400, "This image does not belong to the repository");
  // m2's json through its own repository; then alice/mem's token may not
  // upload its layer or checksum (401), nor read it (404).
  r = Call(c, "PUT", "/v1/images/" + m2->id + "/json", TokenH(*other), m2->json);
  ASSERT_EQ(r.status, 200) << Show(r);
  r = Call(c, "PUT", "/v1/images/" + m2->id + "/layer", TokenH(*mem), m2->layer);
  ExpectTokenChallenge(r, "PUT layer of a non-member");
  HeaderVec cs = TokenH(*mem);
  cs.emplace_back("X-Docker-Checksum-Payload", m2->payload_checksum);
  ExpectTokenChallenge(Call(c, "PUT", "/v1/images/" + m2->id + "/checksum", cs),
                       "PUT checksum of a non-member");
  // The owner's token completes it (control: the refusals were the scope).
  r = Call(c, "PUT", "/v1/images/" + m2->id + "/layer", TokenH(*other), m2->layer);
  EXPECT_EQ(r.status, 200) << Show(r);
  HeaderVec ok_cs = TokenH(*other);
  ok_cs.emplace_back("X-Docker-Checksum-Payload", m2->payload_checksum);
  r = Call(c, "PUT", "/v1/images/" + m2->id + "/checksum", ok_cs);
  EXPECT_EQ(r.status, 200) << Show(r);
  EXPECT_JSON_ERROR(Call(c, "GET", "/v1/images/" + m2->id + "/json", TokenH(*mem)), 404,
                    "Image not found");
  EXPECT_EQ(Call(c, "GET", "/v1/images/" + m2->id + "/json", TokenH(*other)).status, 200);
  // Adding m2 to alice/mem's list (a new PUT repository) opens it to the
  // new token of alice/mem.
  auto mem2 = WriteToken(c, "alice/mem", alice, {m2->id});
  ASSERT_TRUE(mem2.ok());
  EXPECT_EQ(Call(c, "GET", "/v1/images/" + m2->id + "/json", TokenH(*mem2)).status, 200);
}

// §7.9 rule 1 in index mode: index paths answer 401/403 by Basic identity;
// registry paths take tokens, so there the answer is 401 Token, and an
// image outside the token's repository is 404 (§1.4.4).
TEST_F(IndexModeTest, PrivateRepositoryOnEveryEndpoint) {
  const RegistryClient c = client();
  const std::string bob = Basic("bobby", kBobPw);
  const std::string alice = Basic("alice", kAlicePw);
  const std::string admin = Basic(kAdminUser, kAdminPassword);
  // Index-role and Basic-accepting repository endpoints.
  for (const std::string& path :
       {std::string("/v1/repositories/alice/priv/images"),
        std::string("/v1/repositories/alice/priv/json"),
        std::string("/v1/repositories/alice/priv/properties")}) {
    ExpectBasicChallenge(Call(c, "GET", path), "anonymous GET " + path);
    ExpectForbidden(Call(c, "GET", path, AuthH(bob)), "bob GET " + path);
    EXPECT_EQ(Call(c, "GET", path, AuthH(alice)).status, 200) << "alice GET " << path;
    EXPECT_EQ(Call(c, "GET", path, AuthH(admin)).status, 200) << "admin GET " << path;
  }
  auto bob_token = WriteToken(c, "bobby/own", bob, {});
  auto alice_priv = ReadToken(c, "alice/priv", alice);
  auto admin_priv = ReadToken(c, "alice/priv", admin);
  ASSERT_TRUE(bob_token.ok() && alice_priv.ok() && admin_priv.ok())
      << bob_token.status() << alice_priv.status() << admin_priv.status();
  auto parts = ParseToken(*alice_priv);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->access, "read");
  for (const std::string& path :
       {std::string("/v1/repositories/alice/priv/tags"),
        std::string("/v1/repositories/alice/priv/tags/latest"),
        std::string("/v1/repositories/alice/priv/tags/latest/json")}) {
    ExpectTokenChallenge(Call(c, "GET", path), "anonymous GET " + path, true);
    ExpectTokenChallenge(Call(c, "GET", path, AuthH(bob)), "bob Basic GET " + path);
    ExpectTokenChallenge(Call(c, "GET", path, TokenH(*bob_token)), "bob token GET " + path);
    EXPECT_EQ(Call(c, "GET", path, TokenH(*alice_priv)).status, 200) << "alice token " << path;
    EXPECT_EQ(Call(c, "GET", path, TokenH(*admin_priv)).status, 200) << "admin token " << path;
  }
  const std::string img = absl::StrCat("/v1/images/", kSudoersId);
  for (const std::string what : {"/json", "/layer", "/ancestry", "/files"}) {
    ExpectTokenChallenge(Call(c, "GET", img + what), "anonymous GET " + what, true);
    EXPECT_JSON_ERROR(Call(c, "GET", img + what, TokenH(*bob_token)), 404, "Image not found");
    HttpResponse ok = Call(c, "GET", img + what, TokenH(*alice_priv));
    EXPECT_EQ(ok.status, 200) << "alice token " << what << ": " << Show(ok);
  }
  // Search: as in basic mode.
  EXPECT_FALSE(SearchNames(c, "priv", "").count("alice/priv"));
  EXPECT_FALSE(SearchNames(c, "priv", bob).count("alice/priv"));
  EXPECT_TRUE(SearchNames(c, "priv", alice).count("alice/priv"));
  EXPECT_TRUE(SearchNames(c, "priv", admin).count("alice/priv"));
  // Making it public again opens it (and its sudoers image) to everyone.
  HttpResponse pub = Call(c, "PUT", "/v1/repositories/alice/priv/properties", AuthH(alice),
                          R"({"access": "public"})");
  ASSERT_EQ(pub.status, 200) << Show(pub);
  EXPECT_TRUE(SearchNames(c, "priv", "").count("alice/priv"));
  auto anon = ReadToken(c, "alice/priv", "");
  EXPECT_TRUE(anon.ok()) << anon.status();
  if (anon.ok()) {
    EXPECT_EQ(Call(c, "GET", img + "/layer", TokenH(*anon)).status, 200);
  }
  pub = Call(c, "PUT", "/v1/repositories/alice/priv/properties", AuthH(alice),
             R"({"access": "private"})");
  ASSERT_EQ(pub.status, 200) << Show(pub);
  ExpectBasicChallenge(Call(c, "GET", "/v1/repositories/alice/priv/images"),
                       "anonymous GET images after making it private again");
}

// KNOWN HOLE (disabled until fixed; run with --gtest_also_run_disabled_tests):
// image lists are client-asserted, so a user who knows the id of an image
// of someone else's private repository lists it in a repository of their
// own and reads it with that repository's token (§2.0 "read permission on
// an image = read permission on at least one repository whose image list
// contains it" taken literally), bypassing §2.5.7/§7.9 rule 1 and the
// "unauthorized parent" check 8 of §2.6.2. Ids are not secrets: a public
// child's ancestry names its parents.
// A private image's id must not be claimable by listing it elsewhere: the
// list PUT (and a tag) of an image only readable through someone else's
// private repository is refused.
TEST_F(IndexModeTest, PrivateImageCannotBeClaimedByAnotherList) {
  const RegistryClient c = client();
  const std::string bob = Basic("bobby", kBobPw);
  absl::StatusOr<TestImage> child =
      MakeImage("auth-modes/claim-child", kSudoersId, "synthetic_hello.tar");
  ASSERT_TRUE(child.ok());
  HttpResponse put = *PutRepo(c, "bobby/claim", bob, {kSudoersId, child->id});
  EXPECT_JSON_ERROR(put, 403, "Access denied");
  // Without the private image the list is accepted; the private image
  // still cannot be read or used as a parent through it.
  put = *PutRepo(c, "bobby/claim", bob, {child->id});
  ASSERT_EQ(put.status, 200) << put.body;
  const std::string token = put.Header("X-Docker-Token").value_or("");
  for (const std::string what : {"/json", "/layer", "/ancestry"}) {
    HttpResponse r = Call(c, "GET", absl::StrCat("/v1/images/", kSudoersId, what), TokenH(token));
    EXPECT_NE(r.status, 200) << "alice's private image read through bobby/claim: GET " << what;
  }
  HttpResponse j = Call(c, "PUT", "/v1/images/" + child->id + "/json", TokenH(token), child->json);
  EXPECT_JSON_ERROR(j, 400, "Image depends on an unauthorized parent");
}

// §1.5: session cookies.
TEST_F(IndexModeTest, SessionCookies) {
  const RegistryClient c = client();
  auto read = ReadToken(c, "alice/pub", "");
  ASSERT_TRUE(read.ok()) << read.status();
  HttpResponse first = Call(c, "GET", "/v1/repositories/alice/pub/tags", TokenH(*read));
  ASSERT_EQ(first.status, 200);
  std::string attributes;
  const std::string cookie = SessionCookie(first, &attributes);
  ASSERT_FALSE(cookie.empty()) << "no session cookie on a token-authorised answer: "
                               << Show(first);
  EXPECT_TRUE(absl::StrContains(attributes, "Path=/")) << attributes;
  EXPECT_TRUE(absl::StrContains(attributes, "HttpOnly")) << attributes;
  // v1.<expires>.<access>.<repo-hex>.<nonce>.<mac>
  std::vector<std::string> f = absl::StrSplit(cookie, '.');
  ASSERT_EQ(f.size(), 6u) << cookie;
  EXPECT_EQ(f[0], "v1");
  EXPECT_EQ(f[2], "read");
  EXPECT_EQ(f[3], absl::BytesToHexString("alice/pub"));
  EXPECT_EQ(f[4].size(), 16u);
  EXPECT_EQ(f[5].size(), 64u);

  auto with_cookie = [](const std::string& value) {
    return HeaderVec{{"Cookie", "session=" + value}};
  };
  // The cookie alone authorises with the token's scope.
  HttpResponse again = Call(c, "GET", "/v1/repositories/alice/pub/tags", with_cookie(cookie));
  EXPECT_EQ(again.status, 200) << Show(again);
  EXPECT_FALSE(SessionCookie(again).empty()) << "cookie use refreshes the session";
  EXPECT_EQ(Call(c, "GET", absl::StrCat("/v1/images/", kHelloId, "/layer"),
                 {{"Cookie", "other=1; session=" + cookie + "; x=y"}}).status,
            200);
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/bobby/own/tags", with_cookie(cookie)),
                       "alice/pub cookie on bob/own");
  EXPECT_JSON_ERROR(Call(c, "GET", absl::StrCat("/v1/images/", kSudoersId, "/json"),
                         with_cookie(cookie)),
                    404, "Image not found");
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/alice/pub/tags/c",
                            with_cookie(cookie), absl::StrCat("\"", kHelloId, "\"")),
                       "read cookie PUT tag");
  // Tampered cookies.
  std::vector<std::pair<std::string, std::string>> bad;
  std::string t = cookie;
  t[t.size() - 1] = t.back() == '0' ? '1' : '0';
  bad.push_back({"MAC", t});
  bad.push_back({"access", absl::StrCat(f[0], ".", f[1], ".write.", f[3], ".", f[4], ".", f[5])});
  bad.push_back({"repository", absl::StrCat(f[0], ".", f[1], ".", f[2], ".",
                                            absl::BytesToHexString("alice/priv"), ".", f[4], ".",
                                            f[5])});
  int64_t expires = 0;
  ASSERT_TRUE(absl::SimpleAtoi(f[1], &expires));
  bad.push_back({"expiry", absl::StrCat(f[0], ".", expires + 1000, ".", f[2], ".", f[3], ".",
                                        f[4], ".", f[5])});
  bad.push_back({"garbage", "v1.garbage"});
  for (const auto& [label, value] : bad) {
    const std::string path = label == "repository" ? "/v1/repositories/alice/priv/tags"
                                                   : "/v1/repositories/alice/pub/tags";
    HttpResponse r = Call(c, label == "access" ? "PUT" : "GET",
                          label == "access" ? "/v1/repositories/alice/pub/tags/c" : path,
                          with_cookie(value),
                          label == "access" ? absl::StrCat("\"", kHelloId, "\"") : "");
    ExpectTokenChallenge(r, "cookie with tampered " + label);
  }
  // A write cookie (from a write token) writes.
  auto write = WriteToken(c, "alice/pub", Basic("alice", kAlicePw), {});
  ASSERT_TRUE(write.ok());
  HttpResponse w = Call(c, "GET", "/v1/repositories/alice/pub/tags", TokenH(*write));
  const std::string write_cookie = SessionCookie(w);
  ASSERT_FALSE(write_cookie.empty());
  HttpResponse put = Call(c, "PUT", "/v1/repositories/alice/pub/tags/bycookie",
                          with_cookie(write_cookie), absl::StrCat("\"", kHelloId, "\""));
  EXPECT_EQ(put.status, 200) << Show(put);
  // A valid token wins over a cookie for another repository.
  auto priv = ReadToken(c, "alice/priv", Basic("alice", kAlicePw));
  ASSERT_TRUE(priv.ok());
  const std::string priv_cookie =
      SessionCookie(Call(c, "GET", "/v1/repositories/alice/priv/tags", TokenH(*priv)));
  ASSERT_FALSE(priv_cookie.empty());
  HeaderVec both = TokenH(*read);
  both.emplace_back("Cookie", "session=" + priv_cookie);
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/alice/priv/tags", both),
                       "alice/pub token + alice/priv cookie on alice/priv");
  EXPECT_EQ(Call(c, "GET", "/v1/repositories/alice/pub/tags", both).status, 200);
  // "A request without a usable token but with a valid cookie is
  // authorised with the cookie's repository and access" (§1.5): an
  // invalid token next to a valid cookie.
  auto parts = ParseToken(*read);
  ASSERT_TRUE(parts.has_value());
  parts->mac = FlipHex(parts->mac, 5);
  HeaderVec broken = TokenH(parts->Join());
  broken.emplace_back("Cookie", "session=" + cookie);
  HttpResponse fallback = Call(c, "GET", "/v1/repositories/alice/pub/tags", broken);
  EXPECT_EQ(fallback.status, 200)
      << "an unusable token plus a valid cookie should be authorised by the cookie (§1.5): "
      << Show(fallback);
}

// §1.6: library needs an administrator; one-component names map to
// library/<name> everywhere, tokens included.
TEST_F(IndexModeTest, LibraryNamespace) {
  const RegistryClient c = client();
  ExpectForbidden(*PutRepo(c, "busybox", Basic("alice", kAlicePw), {kScratchId}),
                  "alice PUT repository busybox");
  RegistryClient admin = c;
  admin.set_index_auth(Basic(kAdminUser, kAdminPassword));
  PushOptions o;
  o.tags = {{"latest", kScratchId}};
  auto report = PushChain(admin, "busybox", AsPush({scenario().chain[0]}), o);
  ASSERT_TRUE(report.ok()) << report.status();
  auto token = ParseToken(report->token);
  ASSERT_TRUE(token.has_value()) << report->token;
  EXPECT_EQ(token->repository, "library/busybox");
  // A write token of alice's does not reach it.
  auto alice = WriteToken(c, "alice/pub", Basic("alice", kAlicePw), {});
  ASSERT_TRUE(alice.ok());
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/busybox/tags/evil", TokenH(*alice),
                            absl::StrCat("\"", kScratchId, "\"")),
                       "alice's token PUT tag busybox");
  // Anonymous docker pull of "busybox": GET busybox/images, then
  // library/busybox/tags with the read token.
  auto pulled = PullIndexAndVerify(c, "busybox", "library/busybox");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->pull.tags, (std::map<std::string, std::string>{{"latest", kScratchId}}));
  auto read = ParseToken(pulled->token);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->repository, "library/busybox");
  // Search shows it without the prefix, as official.
  HttpResponse s = Call(c, "GET", "/v1/search?q=busybox");
  auto j = nlohmann::json::parse(s.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j["results"].is_array() && !j["results"].empty()) << s.body;
  EXPECT_EQ(j["results"][0].value("name", ""), "busybox");
  EXPECT_EQ(j["results"][0].value("is_official", false), true);
}

// ---------------------------------------------------------------------------
// Index mode with 2-second tokens and sign-up disabled.

class ShortTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {}
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override {
    if (server_ != nullptr) return;
    auto s = StartServer("auth-short",
                         {"--auth", "index", "--token-lifetime", "2", "--signup=false"});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  static std::unique_ptr<Server> server_;
};
std::unique_ptr<Server> ShortTokenTest::server_;

// §2.3.1 [project] sign-up disabled; §5.1: docker then checks the
// credentials with GET /v1/users/, so login still works.
TEST_F(ShortTokenTest, SignUpDisabled) {
  const RegistryClient c = server_->client();
  auto r = SignUp(c, "zelda", "zelda-pw-1", "zelda@example.com");
  ASSERT_TRUE(r.ok());
  EXPECT_JSON_ERROR(*r, 401, "Sign-up disabled");
  auto admin_again = SignUp(c, kAdminUser, kAdminPassword, "");
  ASSERT_TRUE(admin_again.ok());
  EXPECT_EQ(admin_again->status, 401) << Show(*admin_again);
  HttpResponse login = Call(c, "GET", "/v1/users/", AuthH(Basic(kAdminUser, kAdminPassword)));
  EXPECT_EQ(login.status, 200);
  EXPECT_EQ(login.body, "\"OK\"");
  ExpectBasicChallenge(Call(c, "GET", "/v1/users/", AuthH(Basic("zelda", "zelda-pw-1"))),
                       "login of the account that was never created");
}

// §7.9 rule 4: a token is refused once its lifetime has passed.
TEST_F(ShortTokenTest, ExpiredTokensAreRefused) {
  const RegistryClient c = server_->client();
  const std::string admin = Basic(kAdminUser, kAdminPassword);
  absl::Time issued = absl::Now();
  auto token = WriteToken(c, "admin/short", admin, {kScratchId});
  ASSERT_TRUE(token.ok()) << token.status();
  auto parts = ParseToken(*token);
  ASSERT_TRUE(parts.has_value()) << *token;
  int64_t expires = 0;
  ASSERT_TRUE(absl::SimpleAtoi(parts->expires, &expires));
  EXPECT_GE(expires, absl::ToUnixSeconds(issued) + 1);
  EXPECT_LE(expires, absl::ToUnixSeconds(absl::Now()) + 3) << "lifetime is 2 s";
  // Control while it is valid (only asserted if it was sent well in time).
  absl::Time sent = absl::Now();
  HttpResponse ok = Call(c, "GET", "/v1/repositories/admin/short/tags", TokenH(*token));
  std::string cookie = SessionCookie(ok);
  if (absl::ToUnixSeconds(sent) < expires) {
    EXPECT_EQ(ok.status, 200) << Show(ok);
  }
  // Wait (condition, not a fixed sleep) until the expiry second has passed.
  ASSERT_TRUE(WaitFor([&] { return absl::ToUnixSeconds(absl::Now()) > expires + 1; },
                      absl::Seconds(10)));
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/admin/short/tags", TokenH(*token)),
                       "expired token GET tags", true);
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/admin/short/tags/x", TokenH(*token),
                            absl::StrCat("\"", kScratchId, "\"")),
                       "expired token PUT tag");
  ExpectTokenChallenge(Call(c, "PUT", "/v1/repositories/admin/short/images", TokenH(*token), "[]"),
                       "expired token PUT images");
  // The expired token's expiry pushed forward: the MAC no longer matches.
  parts->expires = absl::StrCat(expires + 3600);
  ExpectTokenChallenge(Call(c, "GET", "/v1/repositories/admin/short/tags",
                            TokenH(parts->Join())),
                       "expired token with a forged expiry");
  // A fresh token works again.
  auto fresh = ReadToken(c, "admin/short", admin);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  // The session cookie has its own idle lifetime (§1.5: 3600 s by default),
  // independent of --token-lifetime.
  if (!cookie.empty()) {
    HttpResponse by_cookie = Call(c, "GET", "/v1/repositories/admin/short/tags",
                                  {{"Cookie", "session=" + cookie}});
    EXPECT_EQ(by_cookie.status, 200) << Show(by_cookie);
    // The expired token next to the cookie: the cookie authorises (§1.5).
    HeaderVec both = TokenH(*token);
    both.emplace_back("Cookie", "session=" + cookie);
    HttpResponse r = Call(c, "GET", "/v1/repositories/admin/short/tags", both);
    EXPECT_EQ(r.status, 200) << Show(r);
  }
}

}  // namespace
}  // namespace berth::testing

// berthctl image push|pull against `berth serve --auth index`: the bridge
// logs in with Basic on index calls, carries only tokens (and cookies) to
// registry paths, and reports wrong credentials and private repositories
// with their exit codes (issue 10: "works against any v1 registry"; the
// client's unit tests cover the same rules against a fake index).
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/bridge_check.h"
#include "tests/bridge_util.h"
#include "tests/conformance_util.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tools/v1client/files.h"

namespace berth::testing {
namespace {

using nlohmann::json;

class BridgeIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("bridge-index-");
    port_ = FreePort();
    ASSERT_TRUE(v1client::WriteStringToFile(dir_ + "/admin-pw", "adminpw1\n").ok());
    auto p = StartServeWith(port_, dir_ + "/data", dir_ + "/serve.log",
                            {"--auth", "index", "--admin-user", "admin",
                             "--admin-password-file", dir_ + "/admin-pw"});
    ASSERT_TRUE(p.ok()) << p.status();
    serve_ = *std::move(p);
    HttpRequest signup;
    signup.method = "POST";
    signup.port = port_;
    signup.path = "/v1/users/";
    signup.body = R"({"username":"alice","password":"secret1","email":"a@x.org"})";
    auto created = HttpFetch(signup);
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_EQ(created->status, 201) << created->body;
  }
  std::string Registry() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::string Archive() const {
    return RunfilePath("testdata/docker-save/modern-busybox.tar", "shared");
  }

  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Process> serve_;
};

TEST_F(BridgeIndexTest, LoginPushAndPullWithTokens) {
  CommandResult push = RunBerthctl({"image", "push", Archive(), "alice/busybox:1",
                                    "--registry", Registry(), "--user", "alice",
                                    "--login-password", "secret1", "--json"});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  json pj = json::parse(push.out, nullptr, false);
  ASSERT_TRUE(pj.is_object()) << push.out;
  std::vector<PushedImage> chain = ChainOf(Archive());
  EXPECT_EQ(pj["top"], chain.back().id);

  // Public repository: an anonymous pull gets a read token and succeeds.
  const std::string out = dir_ + "/anon.tar";
  CommandResult pull = RunBerthctl(
      {"image", "pull", "alice/busybox:1", "-o", out, "--registry", Registry()});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  auto entries = ReadTar(out);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ExpectLoadableArchive(*entries, "alice/busybox", "1", chain);

  // The registry never saw Basic credentials on a registry path: in index
  // mode those answer 401, and the push above would have failed.
  std::string log = serve_->LogTail(400);
  EXPECT_NE(log.find("PUT /v1/images/"), std::string::npos) << log;
}

TEST_F(BridgeIndexTest, WrongPasswordAndPrivateRepositoryExitCodes) {
  CommandResult wrong = RunBerthctl({"image", "push", Archive(), "alice/app:1",
                                     "--registry", Registry(), "--user", "alice",
                                     "--login-password", "nope!"});
  EXPECT_EQ(wrong.exit_code, 4) << wrong.err;

  ASSERT_EQ(RunBerthctl({"image", "push", Archive(), "alice/app:1", "--registry",
                         Registry(), "--user", "alice", "--login-password",
                         "secret1"})
                .exit_code,
            0);
  HttpRequest priv;
  priv.method = "PUT";
  priv.port = port_;
  priv.path = "/v1/repositories/alice/app/properties";
  priv.headers = {{"Authorization", "Basic YWxpY2U6c2VjcmV0MQ=="}};  // alice
  priv.body = R"({"access": "private"})";
  auto made_private = HttpFetch(priv);
  ASSERT_TRUE(made_private.ok()) << made_private.status();
  ASSERT_EQ(made_private->status, 200) << made_private->body;

  CommandResult anon = RunBerthctl(
      {"image", "pull", "alice/app:1", "-o", dir_ + "/anon.tar", "--registry", Registry()});
  EXPECT_EQ(anon.exit_code, 4) << anon.err;
  EXPECT_FALSE(v1client::FileExists(dir_ + "/anon.tar"));

  CommandResult owner = RunBerthctl({"image", "pull", "alice/app:1", "-o",
                                     dir_ + "/owner.tar", "--registry", Registry(),
                                     "--user", "alice", "--login-password", "secret1"});
  EXPECT_EQ(owner.exit_code, 0) << owner.err;
  EXPECT_TRUE(v1client::FileExists(dir_ + "/owner.tar"));
}

}  // namespace
}  // namespace berth::testing

// `berthctl image push` then `berthctl image pull` against a real `berth
// serve`: the eight `docker save` fixtures of testdata/docker-save (legacy,
// manifest.json and OCI layouts) and archives built here (several layers
// with parents, gzip layers). Every json and layer byte comes back
// identical, and the pulled archive is one `docker load` accepts
// (bridge_check.h). Also: a second push skips everything, and clear errors
// with the right exit codes for bad input.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/berth_serve.h"
#include "tests/bridge_check.h"
#include "tests/bridge_util.h"
#include "tests/harness/process.h"
#include "tools/v1client/files.h"

namespace berth::testing {
namespace {

using nlohmann::json;

class BridgeRoundTripTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("bridge-rt-"));
    port_ = FreePort();
    auto p = StartServe(port_, *dir_ + "/data", *dir_);
    ASSERT_TRUE(p.ok()) << p.status();
    serve_ = p->release();
  }
  static void TearDownTestSuite() {
    delete serve_;
    serve_ = nullptr;
  }
  static std::string Registry() { return absl::StrCat("http://127.0.0.1:", port_); }

  // push ARCHIVE repo:tag, then pull it and check the result.
  static void RoundTrip(const std::string& archive, const std::string& repo,
                        const std::string& tag) {
    SCOPED_TRACE(archive);
    CommandResult push = RunBerthctl(
        {"image", "push", archive, repo + ":" + tag, "--registry", Registry(), "--json"});
    ASSERT_EQ(push.exit_code, 0) << push.err;
    json pj = json::parse(push.out, nullptr, false);
    ASSERT_TRUE(pj.is_object()) << push.out;
    std::vector<PushedImage> chain = ChainOf(archive);
    ASSERT_EQ(pj["images"].size(), chain.size());
    EXPECT_EQ(pj["top"], chain.back().id);

    std::string out = MakeTempDir("bridge-pull-") + "/pulled.tar";
    CommandResult pull = RunBerthctl(
        {"image", "pull", repo + ":" + tag, "-o", out, "--registry", Registry(), "--json"});
    ASSERT_EQ(pull.exit_code, 0) << pull.err;
    json lj = json::parse(pull.out, nullptr, false);
    EXPECT_EQ(lj["top"], chain.back().id);
    EXPECT_FALSE(v1client::FileExists(out + ".partial"));
    auto entries = ReadTar(out);
    ASSERT_TRUE(entries.ok()) << entries.status();
    std::string local = absl::StartsWith(repo, "library/") ? repo.substr(8) : repo;
    ExpectLoadableArchive(*entries, local, tag, chain);
  }

  static std::string* dir_;
  static int port_;
  static Process* serve_;
};

std::string* BridgeRoundTripTest::dir_ = nullptr;
int BridgeRoundTripTest::port_ = 0;
Process* BridgeRoundTripTest::serve_ = nullptr;

std::string Fixture(const std::string& name) {
  return RunfilePath("testdata/docker-save/" + name, "shared");
}

TEST_F(BridgeRoundTripTest, DockerSaveFixtures) {
  const char* files[] = {"legacy-hello-world.tar",     "legacy-tianon-true.tar",
                         "modern-tianon-true.tar",     "modern-busybox.tar",
                         "modern-dive-test-14-layers.tar", "oci-hello-world.tar",
                         "oci-hello-world-by-id.tar",  "oci-busybox-gzip.tar"};
  int n = 0;
  for (const char* f : files) RoundTrip(Fixture(f), absl::StrCat("fixture/f", ++n), "v1");
}

TEST_F(BridgeRoundTripTest, LegacyJsonAndConfigDiffIdsSurvive) {
  // Legacy archives: the original json files and layer.tar come back under
  // the original ids.
  RoundTrip(Fixture("legacy-tianon-true.tar"), "tianon/true", "latest");
  std::string out = MakeTempDir("bridge-pull-") + "/t.tar";
  ASSERT_EQ(RunBerthctl({"image", "pull", "tianon/true", "-o", out, "--registry", Registry()})
                .exit_code,
            0);
  auto pulled = ReadTar(out);
  auto original = ReadTar(Fixture("legacy-tianon-true.tar"));
  ASSERT_TRUE(pulled.ok() && original.ok());
  for (const char* id : {"a84a2ce45af47e78a440ff28fe36952c86cf538a50d01d5c57ce1b081b79efbb",
                         "d4c19ef1021714a18c28325656b21ae6e0253018e47e983b2716ca9de889fdb6"}) {
    EXPECT_EQ((*pulled)[std::string(id) + "/json"], (*original)[std::string(id) + "/json"]);
    EXPECT_EQ((*pulled)[std::string(id) + "/layer.tar"],
              (*original)[std::string(id) + "/layer.tar"]);
  }
  // Config layouts: the pulled config has the original's diff_ids.
  RoundTrip(Fixture("oci-busybox-gzip.tar"), "library/busybox", "latest");
  out = MakeTempDir("bridge-pull-") + "/b.tar";
  ASSERT_EQ(RunBerthctl({"image", "pull", "busybox", "-o", out, "--registry", Registry()})
                .exit_code,
            0);
  pulled = ReadTar(out);
  ASSERT_TRUE(pulled.ok());
  json manifest = json::parse((*pulled)["manifest.json"]);
  EXPECT_EQ(manifest[0]["RepoTags"], json::array({"busybox:latest"}));
  json config = json::parse((*pulled)[manifest[0]["Config"].get<std::string>()]);
  EXPECT_EQ(config["rootfs"]["diff_ids"],
            json::array({"sha256:2e112031b4b923a873c8b3d685d48037e4d5ccd967b658743d93a6e56c3064b9"}));
}

TEST_F(BridgeRoundTripTest, BuiltArchivesWithParentsAndGzipLayers) {
  std::string dir = MakeTempDir("bridge-built-");
  // Legacy layout: three images chained by parent, the middle layer gzip.
  std::vector<std::string> ids = {std::string(64, 'a'), Sha256Hex("mid"), Sha256Hex("top")};
  std::vector<std::string> layers = {
      *TarBytes({{"etc/", ""}, {"etc/os-release", "ID=test\n"}}),
      Gzip(*TarBytes({{"usr/bin/tool", std::string(300000, 't')}})),
      *TarBytes({{"etc/.wh.os-release", ""}, {"app/data", std::string(70000, 'd')}})};
  TarEntries legacy;
  for (size_t i = 0; i < 3; ++i) {
    std::string j = absl::StrCat(R"({"id":")", ids[i], R"(")",
                                 i > 0 ? absl::StrCat(R"(,"parent":")", ids[i - 1], R"(")") : "",
                                 R"(,"created":"2015-06-0)", i + 1,
                                 R"(T00:00:00Z","container_config":{"Cmd":["step )", i,
                                 R"("]},"os":"linux","architecture":"amd64"})");
    legacy.push_back({ids[i] + "/", ""});
    legacy.push_back({ids[i] + "/VERSION", "1.0"});
    legacy.push_back({ids[i] + "/json", j});
    legacy.push_back({ids[i] + "/layer.tar", layers[i]});
  }
  legacy.push_back({"repositories", absl::StrCat(R"({"built/legacy":{"latest":")", ids[2], R"("}})")});
  ASSERT_TRUE(WriteTar(dir + "/legacy.tar", legacy).ok());
  RoundTrip(dir + "/legacy.tar", "built/legacy", "latest");

  // manifest.json layout with a config: two layers, the second gzip.
  std::string l1 = *TarBytes({{"bin/sh", std::string(5000, 's')}});
  std::string l2plain = *TarBytes({{"srv/www/index.html", "<h1>hi</h1>"}});
  std::string l2 = Gzip(l2plain);
  json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"created", "2020-01-02T03:04:05Z"},
      {"config", {{"Cmd", {"/bin/sh"}}}},
      {"rootfs", {{"type", "layers"},
                  {"diff_ids", {"sha256:" + Sha256Hex(l1), "sha256:" + Sha256Hex(l2plain)}}}},
      {"history", {{{"created", "2020-01-01T00:00:00Z"}, {"created_by", "ADD rootfs /"}},
                   {{"created", "2020-01-02T00:00:00Z"}, {"created_by", "ENV X=1"},
                    {"empty_layer", true}},
                   {{"created", "2020-01-02T03:04:05Z"}, {"created_by", "COPY www /srv/www"}}}}};
  std::string cfg = config.dump();
  std::string cfg_name = Sha256Hex(cfg) + ".json";
  json manifest = json::array({{{"Config", cfg_name},
                                {"RepoTags", {"built/modern:v2"}},
                                {"Layers", {"l1/layer.tar", "l2/layer.tar"}}}});
  ASSERT_TRUE(WriteTar(dir + "/modern.tar", {{cfg_name, cfg},
                                             {"l1/layer.tar", l1},
                                             {"l2/layer.tar", l2},
                                             {"manifest.json", manifest.dump()}})
                  .ok());
  RoundTrip(dir + "/modern.tar", "built/modern", "v2");
  std::vector<PushedImage> chain = ChainOf(dir + "/modern.tar");
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[1].layer, l2);  // pushed as stored: gzip
  json base = json::parse(chain[0].json);
  EXPECT_EQ(base["container_config"]["Cmd"][0], "ADD rootfs /");  // from the history
}

TEST_F(BridgeRoundTripTest, SecondPushSkipsWhatTheRegistryHas) {
  std::string archive = Fixture("legacy-hello-world.tar");
  ASSERT_EQ(RunBerthctl({"image", "push", archive, "again/hello", "--registry", Registry()})
                .exit_code,
            0);
  CommandResult again = RunBerthctl(
      {"image", "push", archive, "again/hello:other", "--registry", Registry(), "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  json j = json::parse(again.out);
  ASSERT_EQ(j["images"].size(), 2u);
  for (const json& img : j["images"]) {
    EXPECT_TRUE(img["skipped"].get<bool>());
    EXPECT_EQ(img["transferred"], 0);
  }
  // ...and the new tag still points at the image.
  std::string out = MakeTempDir("bridge-pull-") + "/o.tar";
  EXPECT_EQ(RunBerthctl({"image", "pull", "again/hello:other", "-o", out, "--registry",
                         Registry()})
                .exit_code,
            0);
}

TEST_F(BridgeRoundTripTest, ClearErrors) {
  std::string dir = MakeTempDir("bridge-err-");
  ASSERT_TRUE(v1client::WriteStringToFile(dir + "/junk.tar", std::string(4096, 'x')).ok());
  CommandResult bad = RunBerthctl({"image", "push", dir + "/junk.tar", "xx/yy", "--registry",
                                   Registry()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "not a readable tar archive")) << bad.err;

  int dead = FreePort();  // nothing listens there
  CommandResult down = RunBerthctl({"image", "push", Fixture("legacy-hello-world.tar"), "xx/yy",
                                    "--registry", absl::StrCat("http://127.0.0.1:", dead)});
  EXPECT_EQ(down.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(down.err, "unreachable")) << down.err;

  std::string out = dir + "/never.tar";
  CommandResult missing = RunBerthctl(
      {"image", "pull", "no/such-repo", "-o", out, "--registry", Registry()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(missing.err, "not found")) << missing.err;
  ASSERT_EQ(RunBerthctl({"image", "push", Fixture("legacy-hello-world.tar"), "err/hello",
                         "--registry", Registry()})
                .exit_code,
            0);
  CommandResult no_tag = RunBerthctl(
      {"image", "pull", "err/hello:nope", "-o", out, "--registry", Registry()});
  EXPECT_EQ(no_tag.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(no_tag.err, "tag nope not found")) << no_tag.err;
  EXPECT_FALSE(v1client::FileExists(out));
  EXPECT_FALSE(v1client::FileExists(out + ".partial"));

  CommandResult bad_name = RunBerthctl(
      {"image", "pull", "Bad/Name", "-o", out, "--registry", Registry()});
  EXPECT_EQ(bad_name.exit_code, 2);
  CommandResult usage = RunBerthctl({"image", "pull", "xx/yy", "--registry", Registry()});
  EXPECT_NE(usage.exit_code, 0);  // -o is required (CLI11 usage error)
}

}  // namespace
}  // namespace berth::testing

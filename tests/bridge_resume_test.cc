// A pull whose layer download is cut mid-body by a proxy (tests/cut_proxy.h)
// finishes without downloading completed layers again: within one run the
// client resumes the cut layer with Range; a run that gave up keeps its
// partial state and the next run continues from it.
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/berth_serve.h"
#include "tests/bridge_check.h"
#include "tests/bridge_util.h"
#include "tests/cut_proxy.h"
#include "tests/harness/process.h"
#include "tools/v1client/files.h"

namespace berth::testing {
namespace {

using nlohmann::json;

class BridgeResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("bridge-resume-");
    port_ = FreePort();
    auto p = StartServe(port_, dir_ + "/data", dir_);
    ASSERT_TRUE(p.ok()) << p.status();
    serve_ = *std::move(p);
    archive_ = RunfilePath("testdata/docker-save/modern-dive-test-14-layers.tar", "shared");
    CommandResult push = RunBerthctl({"image", "push", archive_, "dive/test:v1", "--registry",
                                      absl::StrCat("http://127.0.0.1:", port_)});
    ASSERT_EQ(push.exit_code, 0) << push.err;
    chain_ = ChainOf(archive_);
    ASSERT_EQ(chain_.size(), 14u);
    proxy_ = std::make_unique<CutProxy>(port_);
  }
  std::string ViaProxy() const { return absl::StrCat("http://127.0.0.1:", proxy_->port()); }
  static std::string LayerPath(const std::string& id) { return "/v1/images/" + id + "/layer"; }
  // GETs of each image's layer seen by the proxy.
  std::map<std::string, std::vector<ProxiedRequest>> LayerGets() const {
    std::map<std::string, std::vector<ProxiedRequest>> out;
    for (const ProxiedRequest& r : proxy_->log()) {
      for (const PushedImage& img : chain_) {
        if (absl::StrContains(r.request_line, "GET " + LayerPath(img.id) + " ")) {
          out[img.id].push_back(r);
        }
      }
    }
    return out;
  }
  void ExpectPulled(const std::string& out) {
    auto entries = ReadTar(out);
    ASSERT_TRUE(entries.ok()) << entries.status();
    ExpectLoadableArchive(*entries, "dive/test", "v1", chain_);
  }

  std::string dir_, archive_;
  int port_ = 0;
  std::unique_ptr<Process> serve_;
  std::unique_ptr<CutProxy> proxy_;
  std::vector<PushedImage> chain_;
};

TEST_F(BridgeResumeTest, CutLayerIsResumedWithRangeInTheSameRun) {
  const PushedImage& big = chain_[0];  // 1,369,600 bytes
  proxy_->AddRule(LayerPath(big.id), 200000, 1);
  std::string out = dir_ + "/pulled.tar";
  CommandResult pull = RunBerthctl({"image", "pull", "dive/test:v1", "-o", out, "--registry",
                                    ViaProxy(), "--json"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  ExpectPulled(out);
  json j = json::parse(pull.out);
  EXPECT_TRUE(j["images"][0]["resumed"].get<bool>());

  auto gets = LayerGets();
  ASSERT_EQ(gets[big.id].size(), 2u);
  const ProxiedRequest& first = gets[big.id][0].cut ? gets[big.id][0] : gets[big.id][1];
  const ProxiedRequest& second = gets[big.id][0].cut ? gets[big.id][1] : gets[big.id][0];
  EXPECT_TRUE(first.cut);
  EXPECT_EQ(first.range, "");
  ASSERT_TRUE(absl::StartsWith(second.range, "bytes=")) << second.range;
  uint64_t from = 0;
  ASSERT_TRUE(absl::SimpleAtoi(second.range.substr(6, second.range.find('-') - 6), &from));
  EXPECT_GT(from, 100000u);
  EXPECT_LT(from, 200000u);
  // Only the missing part came again (plus a response head).
  EXPECT_LT(second.response_bytes, big.layer.size() - from + 2000);
  EXPECT_EQ(j["images"][0]["transferred"], big.layer.size());
  for (size_t i = 1; i < chain_.size(); ++i) {
    EXPECT_EQ(gets[chain_[i].id].size(), 1u) << i;
    EXPECT_EQ(gets[chain_[i].id][0].range, "") << i;
  }
}

TEST_F(BridgeResumeTest, NextRunContinuesWithoutRedownloadingCompletedLayers) {
  const PushedImage& cut = chain_[5];  // 9,216 bytes
  proxy_->AddRule(LayerPath(cut.id), 5000, -1);  // every attempt is cut
  std::string out = dir_ + "/pulled.tar";
  CommandResult first = RunBerthctl({"image", "pull", "dive/test:v1", "-o", out, "--registry",
                                     ViaProxy(), "--retries", "0"});
  EXPECT_EQ(first.exit_code, 3) << first.err;
  EXPECT_TRUE(absl::StrContains(first.err, "run the same pull again")) << first.err;
  EXPECT_FALSE(v1client::FileExists(out)) << "a half-written archive was left";
  EXPECT_TRUE(v1client::FileExists(out + ".partial"));
  auto gets = LayerGets();
  for (size_t i = 0; i <= 5; ++i) EXPECT_EQ(gets[chain_[i].id].size(), 1u) << i;
  for (size_t i = 6; i < chain_.size(); ++i) EXPECT_EQ(gets.count(chain_[i].id), 0u) << i;

  proxy_->ClearRules();
  proxy_->ClearLog();
  CommandResult second = RunBerthctl({"image", "pull", "dive/test:v1", "-o", out,
                                      "--registry", ViaProxy(), "--json"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  ExpectPulled(out);
  EXPECT_FALSE(v1client::FileExists(out + ".partial"));
  gets = LayerGets();
  json j = json::parse(second.out);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(gets.count(chain_[i].id), 0u) << "layer " << i << " was downloaded again";
    EXPECT_TRUE(j["images"][i]["reused"].get<bool>()) << i;
  }
  ASSERT_EQ(gets[cut.id].size(), 1u);
  EXPECT_TRUE(absl::StartsWith(gets[cut.id][0].range, "bytes=")) << gets[cut.id][0].range;
  EXPECT_NE(gets[cut.id][0].range, "bytes=0-");
  EXPECT_TRUE(j["images"][5]["resumed"].get<bool>());
  EXPECT_LT(j["images"][5]["transferred"].get<uint64_t>(), cut.layer.size());
  for (size_t i = 6; i < chain_.size(); ++i) EXPECT_EQ(gets[chain_[i].id].size(), 1u) << i;
}

}  // namespace
}  // namespace berth::testing

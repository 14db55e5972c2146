// The push/pull conformance against a cluster started by
// `tools/berth-cluster up --frontends 2`: push through frontend-1, pull
// through frontend-2 (and the other way round, and one image's three PUTs
// spread over both, spec §4.5); search answers the same from both. And
// /readyz of a frontend follows its metadata tier and blob shards: 503
// while the cluster's only blobd is down; and 503 while the cluster's
// metad is killed, 200 again after it is restarted.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/berth_serve.h"
#include "tests/cluster_launcher.h"
#include "tests/conformance_util.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"
#include "tests/test_images.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;

class ClusterConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("conformance-cluster-");
    auto cluster = LauncherCluster::Up(
        {"--metads", "1", "--blobds", "1", "--frontends", "2"});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    for (const char* name : {"frontend-1", "frontend-2", "metad-1", "blobd-1"}) {
      ASSERT_TRUE(cluster_->Has(name))
          << name << " missing: " << cluster_->state().dump();
    }
    for (const char* name : {"frontend-1", "frontend-2"}) {
      absl::StatusOr<RegistryClient> c = RegistryClient::FromUrl(cluster_->Url(name));
      ASSERT_TRUE(c.ok()) << c.status();
      frontends_.push_back(*c);
    }
  }

  void TearDown() override {
    if (HasFailure() && cluster_ != nullptr) std::cerr << cluster_->LogTails();
  }

  std::string dir_;
  std::unique_ptr<LauncherCluster> cluster_;
  std::vector<RegistryClient> frontends_;
};

TEST_F(ClusterConformanceTest, PushThroughOneFrontendPullThroughTheOther) {
  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  const RegistryClient& fe1 = frontends_[0];
  const RegistryClient& fe2 = frontends_[1];
  ASSERT_NE(fe1.port(), fe2.port());
  const std::map<std::string, std::string> tags = {{"latest", kXattrId}, {"base", kScratchId}};
  PushOptions push;
  push.tags = tags;
  push.framing = LayerFraming::kAlternate;
  absl::StatusOr<PushReport> report =
      PushChain(fe1, "foo/bar", std::vector<PushImage>(chain->begin(), chain->end()), push);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->uploaded.size(), chain->size());
  // Push answers name exactly one endpoint: the frontend pushed to.
  EXPECT_EQ(report->endpoints, absl::StrCat(fe1.host(), ":", fe1.port()));

  absl::StatusOr<PullResult> pulled = PullAndVerify(fe2, "foo/bar");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->tags, tags);
  ASSERT_EQ(pulled->images.size(), chain->size());
  for (const TestImage& i : *chain) {
    const PulledImage& got = pulled->images.at(i.id);
    EXPECT_EQ(got.json, i.json);
    EXPECT_TRUE(got.layer == i.layer) << i.id;
    EXPECT_EQ(got.json_response.Header("X-Docker-Checksum-Payload"), i.payload_checksum);
  }
  HttpResponse r = Must(fe2.GetImageList("foo/bar"));
  EXPECT_EQ(r.status, 200) << r.body;
  // Ranges through the other frontend.
  const TestImage& sudoers = (*chain)[2];
  r = Must(fe2.GetLayer(sudoers.id, "bytes=0-0"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, sudoers.layer.substr(0, 1));
  r = Must(fe2.GetLayer(sudoers.id, absl::StrCat("bytes=1000-", sudoers.layer.size())));
  EXPECT_EQ(r.status, 206);
  EXPECT_TRUE(r.body == sudoers.layer.substr(1000));
  r = Must(fe2.GetLayer(sudoers.id, absl::StrCat("bytes=", sudoers.layer.size(), "-")));
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.Header("Content-Range"), absl::StrCat("bytes */", sudoers.layer.size()));

  // One image's PUTs spread over both frontends (a load balancer).
  Image spread = Synthetic("cluster/spread", kXattrId,
                           ReadTestdata(absl::StrCat(kSudoersId, "/layer.tar.bz2")).value_or(""));
  ASSERT_FALSE(spread.layer.empty());
  r = Must(fe1.PutImageJson(spread.id, spread.json));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_JSON_ERROR(Must(fe2.GetImageJson(spread.id)), 400,
                    "Image is being uploaded, retry later");
  r = Must(fe2.PutLayerChunked(spread.id, spread.layer, 333));
  EXPECT_EQ(r.status, 200) << r.body;
  r = Must(fe1.PutChecksum(spread.id, spread.payload()));
  EXPECT_EQ(r.status, 200) << r.body;
  r = Must(fe2.PutTag("foo/bar", "spread", spread.id));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_JSON_ERROR(Must(fe2.PutChecksum(spread.id, spread.payload())), 409,
                    "Cannot set this image checksum");

  // And the other way round: push through frontend-2, pull through frontend-1.
  PushOptions back;
  back.tags = {{"latest", kSudoersId}};
  report = PushChain(fe2, "other/repo",
                     std::vector<PushImage>(chain->begin(), chain->begin() + 3), back);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->skipped.size(), 3u);  // already there, seen from frontend-2
  pulled = PullAndVerify(fe1, "foo/bar");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->tags.at("spread"), spread.id);
  EXPECT_TRUE(pulled->images.at(spread.id).layer == spread.layer);
  pulled = PullAndVerify(fe1, "other/repo");
  ASSERT_TRUE(pulled.ok()) << pulled.status();

  // Search is the same from every frontend.
  r = Must(fe1.Request("GET", "/v1/search?q=o"));
  HttpResponse r2 = Must(fe2.Request("GET", "/v1/search?q=o"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, r2.body);
  EXPECT_EQ(json::parse(r.body, nullptr, false)["num_results"], 2) << r.body;
}

TEST_F(ClusterConformanceTest, ReadyzFollowsTheMetadataTier) {
  // Our own frontend on the cluster's tiers, with an admin port.
  const std::string metadata = cluster_->ArgOf("frontend-1", "--metadata");
  const std::string blobd = cluster_->ArgOf("frontend-1", "--blobd");
  ASSERT_FALSE(metadata.empty() || blobd.empty()) << cluster_->state().dump();
  const int port = FreePort(), admin = FreePort();
  ProcessOptions o;
  o.name = "frontend-admin";
  o.argv = {BerthBinary(), "frontend", "--listen", absl::StrCat("127.0.0.1:", port),
            "--admin-listen", absl::StrCat("127.0.0.1:", admin), "--metadata", metadata,
            "--blobd", blobd};
  o.log_path = dir_ + "/frontend-admin.log";
  absl::StatusOr<std::unique_ptr<Process>> fe = Process::Start(o);
  ASSERT_TRUE(fe.ok()) << fe.status();
  std::unique_ptr<Process> frontend = *std::move(fe);
  auto status_of = [&](const std::string& path) {
    absl::StatusOr<HttpResponse> r = HttpGet("127.0.0.1", admin, path, absl::Seconds(5));
    return r.ok() ? r->status : 0;
  };
  ASSERT_TRUE(WaitFor([&] { return status_of("/readyz") == 200; }, absl::Seconds(20)))
      << frontend->LogTail();
  EXPECT_EQ(status_of("/healthz"), 200);

  ASSERT_TRUE(cluster_->Kill("metad-1").ok());
  EXPECT_TRUE(WaitFor([&] { return status_of("/readyz") == 503; }, absl::Seconds(20)))
      << "readyz: " << status_of("/readyz");
  EXPECT_EQ(status_of("/healthz"), 200);  // alive, just not ready

  // Restart metad with its recorded command line; ready again.
  ASSERT_TRUE(cluster_->Restart("metad-1").ok()) << cluster_->LogTails();
  EXPECT_TRUE(WaitFor([&] { return status_of("/readyz") == 200; }, absl::Seconds(30)))
      << "readyz: " << status_of("/readyz");
  EXPECT_TRUE(PingOk(port));

  // Without its only blob shard the frontend cannot take uploads: not
  // ready (the write quorum is clamped to the one active shard).
  ASSERT_TRUE(cluster_->Kill("blobd-1").ok());
  EXPECT_TRUE(WaitFor([&] { return status_of("/readyz") == 503; }, absl::Seconds(20)))
      << "readyz: " << status_of("/readyz");
  absl::StatusOr<HttpResponse> why =
      HttpGet("127.0.0.1", admin, "/readyz", absl::Seconds(5));
  ASSERT_TRUE(why.ok());
  EXPECT_NE(why->body.find("blob shards reachable"), std::string::npos)
      << why->body;
  EXPECT_EQ(status_of("/healthz"), 200);
}

}  // namespace
}  // namespace berth::testing

// TLS end to end (issue 9): a cluster started by `tools/berth-cluster up
// --tls` (throwaway CA, HTTPS frontends, mutual TLS on every gRPC hop),
// then: push and pull over HTTPS verified against the CA; plain HTTP and
// garbage on the HTTPS port fail cleanly while the server keeps serving;
// metad and blobd refuse gRPC clients without a certificate, with one from
// another CA, and without TLS, and accept the cluster's client certificate;
// berthctl with the TLS flags reads `status` and `berthctl image push|pull
// --ca-file` work against https://; a wiped metad bootstraps
// from its peer's checkpoint over TLS (the peer channel uses metad's own
// certificate as client certificate).
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/tls.h"
#include "gtest/gtest.h"
#include "proto/admin.grpc.pb.h"
#include "proto/blobstore.grpc.pb.h"
#include "tests/bridge_util.h"
#include "tests/cluster_launcher.h"
#include "tests/conformance_util.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"
#include "tests/test_images.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;

class TlsClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    admin_port_ = FreePort();
    auto up = LauncherCluster::Up(
        {"--tls", "--metads", "2", "--blobds", "1", "--frontends", "1",
         "--frontend-args", absl::StrCat("--admin-listen 127.0.0.1:", admin_port_)});
    ASSERT_TRUE(up.ok()) << up.status();
    cluster_ = up->release();
    tls_dir_ = new std::string(cluster_->dir() + "/tls");
    // A second CA and a client certificate it signed: valid TLS, wrong
    // trust anchor.
    other_dir_ = new std::string(MakeTempDir("other-ca-"));
    const std::string& o = *other_dir_;
    const std::string cmd = absl::StrCat(
        "set -e; cd ", o,
        "; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -days 1 -subj /CN=other-ca -keyout ca.key -out ca.crt; "
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-subj /CN=intruder -keyout client.key -out client.csr; "
        "printf 'extendedKeyUsage=clientAuth\\n' > ext; "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key "
        "-set_serial 7 -days 1 -extfile ext -out client.crt 2>/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete tls_dir_;
    delete other_dir_;
  }

  static std::string Tls(const std::string& file) {
    return *tls_dir_ + "/" + file;
  }

  RegistryClient Frontend() {
    auto c = RegistryClient::FromUrl(cluster_->Url("frontend-1"));
    EXPECT_TRUE(c.ok()) << c.status();
    c->set_tls_ca_file(Tls("ca.crt"));
    return *c;
  }

  // A channel to `address` with these client files (common/tls, as the
  // binaries build theirs).
  static std::shared_ptr<grpc::Channel> Channel(const std::string& address,
                                                const tls::GrpcTlsFiles& files) {
    auto security = tls::LoadChannelSecurity(files);
    EXPECT_TRUE(security.ok()) << security.status();
    grpc::ChannelArguments args;
    security->ApplyTo("", &args);
    return grpc::CreateCustomChannel(address, security->Credentials(), args);
  }

  // Admin.Status on metad-1 and StatChunk on blobd-1 with `files`: both
  // codes.
  static std::pair<grpc::StatusCode, grpc::StatusCode> Call(
      const tls::GrpcTlsFiles& files) {
    auto deadline = [] {
      return std::chrono::system_clock::now() + std::chrono::seconds(5);
    };
    grpc::ClientContext mctx;
    mctx.set_deadline(deadline());
    meta::StatusResponse status;
    grpc::Status m = meta::Admin::NewStub(
                         Channel(cluster_->Address("metad-1"), files))
                         ->Status(&mctx, meta::StatusRequest(), &status);
    grpc::ClientContext bctx;
    bctx.set_deadline(deadline());
    blob::StatChunkRequest req;
    req.set_digest(std::string(64, '0'));
    blob::StatChunkResponse stat;
    grpc::Status b = blob::Blobstore::NewStub(
                         Channel(cluster_->Address("blobd-1"), files))
                         ->StatChunk(&bctx, req, &stat);
    return {m.error_code(), b.error_code()};
  }

  static LauncherCluster* cluster_;
  static int admin_port_;  // frontend-1's /metrics (plain HTTP)
  static std::string* tls_dir_;
  static std::string* other_dir_;
};

LauncherCluster* TlsClusterTest::cluster_ = nullptr;
int TlsClusterTest::admin_port_ = 0;
std::string* TlsClusterTest::tls_dir_ = nullptr;
std::string* TlsClusterTest::other_dir_ = nullptr;

TEST_F(TlsClusterTest, LauncherRecordsHttpsAndTlsFlags) {
  EXPECT_TRUE(absl::StartsWith(cluster_->Url("frontend-1"), "https://127.0.0.1:"))
      << cluster_->Url("frontend-1");
  EXPECT_EQ(cluster_->ArgOf("frontend-1", "--tls-cert"), Tls("frontend-1.crt"));
  EXPECT_EQ(cluster_->ArgOf("frontend-1", "--grpc-tls-cert"), Tls("client.crt"));
  EXPECT_EQ(cluster_->ArgOf("metad-2", "--grpc-tls-ca"), Tls("ca.crt"));
  EXPECT_EQ(cluster_->ArgOf("blobd-1", "--grpc-tls-key"), Tls("blobd-1.key"));
  EXPECT_TRUE(fs::exists(Tls("ca.key")));
}

TEST_F(TlsClusterTest, PushAndPullOverVerifiedHttps) {
  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  RegistryClient fe = Frontend();
  PushOptions push;
  push.tags = {{"latest", chain->back().id}};
  push.framing = LayerFraming::kAlternate;
  absl::StatusOr<PushReport> report = PushChain(
      fe, "tls/chain", std::vector<PushImage>(chain->begin(), chain->end()),
      push);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->uploaded.size(), chain->size());
  absl::StatusOr<PullResult> pulled = PullAndVerify(fe, "tls/chain");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  ASSERT_EQ(pulled->images.size(), chain->size());
  for (const TestImage& image : *chain) {
    EXPECT_EQ(pulled->images.at(image.id).json, image.json);
    EXPECT_TRUE(pulled->images.at(image.id).layer == image.layer) << image.id;
  }
  // A client trusting another CA refuses the frontend's certificate.
  RegistryClient wrong = fe;
  wrong.set_tls_ca_file(*other_dir_ + "/ca.crt");
  absl::StatusOr<HttpResponse> refused = wrong.Ping();
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "certificate verify failed"))
      << refused.status();
}

TEST_F(TlsClusterTest, PlainHttpToHttpsPortFailsCleanly) {
  RegistryClient fe = Frontend();
  const std::string kFailures = "berth_http_tls_handshake_failures_total";
  auto before = FetchMetrics(admin_port_);
  ASSERT_TRUE(before.ok()) << before.status();
  HttpRequest plain;
  plain.port = fe.port();
  plain.path = "/v1/_ping";
  absl::StatusOr<HttpResponse> r = HttpFetch(plain);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(IsJsonError(*r, 400, "This port speaks HTTPS"))
      << r->status << " " << r->body;
  // Bytes that are neither TLS nor HTTP: the connection just closes.
  auto raw = RawConn::Connect(fe.port());
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_TRUE((*raw)->Send(std::string(64, '\x01')).ok());
  EXPECT_FALSE((*raw)->ReadResponse(/*head=*/false).ok());
  // The server still serves HTTPS.
  absl::StatusOr<HttpResponse> ping = fe.Ping();
  ASSERT_TRUE(ping.ok()) << ping.status();
  EXPECT_EQ(ping->status, 200);
  EXPECT_EQ(ping->body, "true");
  // Both failed handshakes were counted: the connection thread counts
  // before it answers or closes. (At least 2: the wrong-CA client of
  // another test may be counted late.)
  auto after = FetchMetrics(admin_port_);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GE((*after)[kFailures] - (*before)[kFailures], 2) << kFailures;
}

TEST_F(TlsClusterTest, GrpcNeedsAClientCertificateFromTheClusterCa) {
  const tls::GrpcTlsFiles good{Tls("client.crt"), Tls("client.key"),
                               Tls("ca.crt"), ""};
  auto ok = Call(good);
  EXPECT_EQ(ok.first, grpc::StatusCode::OK);
  EXPECT_EQ(ok.second, grpc::StatusCode::OK);

  // Refusals: the handshake fails (gRPC says UNAVAILABLE; with TLS 1.3 the
  // client may learn it only with its first call, so any error counts).
  const tls::GrpcTlsFiles no_cert{"", "", Tls("ca.crt"), ""};
  auto r = Call(no_cert);
  EXPECT_NE(r.first, grpc::StatusCode::OK);
  EXPECT_NE(r.second, grpc::StatusCode::OK);

  const tls::GrpcTlsFiles other_ca{*other_dir_ + "/client.crt",
                                   *other_dir_ + "/client.key", Tls("ca.crt"),
                                   ""};
  r = Call(other_ca);
  EXPECT_NE(r.first, grpc::StatusCode::OK);
  EXPECT_NE(r.second, grpc::StatusCode::OK);

  r = Call(tls::GrpcTlsFiles{});  // plaintext gRPC
  EXPECT_NE(r.first, grpc::StatusCode::OK);
  EXPECT_NE(r.second, grpc::StatusCode::OK);

  // The client refuses a server whose certificate does not carry the
  // expected name.
  tls::GrpcTlsFiles wrong_name = good;
  wrong_name.server_name = "metad.example.com";
  r = Call(wrong_name);
  EXPECT_NE(r.first, grpc::StatusCode::OK);
}

TEST_F(TlsClusterTest, BerthctlStatusOverTls) {
  const std::string endpoints = cluster_->MetadEndpoints();
  CommandResult ok = RunBerthctl(
      {"--endpoint", endpoints, "--grpc-tls-ca", Tls("ca.crt"),
       "--grpc-tls-cert", Tls("client.crt"), "--grpc-tls-key",
       Tls("client.key"), "--timeout", "5", "status"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_TRUE(absl::StrContains(ok.out, cluster_->Address("metad-1")))
      << ok.out;
  EXPECT_TRUE(absl::StrContains(ok.out, cluster_->Address("metad-2")))
      << ok.out;
  EXPECT_TRUE(absl::StrContains(ok.out, "serving")) << ok.out;

  CommandResult plain =
      RunBerthctl({"--endpoint", endpoints, "--timeout", "2", "status"});
  EXPECT_EQ(plain.exit_code, 3) << plain.out << plain.err;

  CommandResult missing = RunBerthctl(
      {"--endpoint", endpoints, "--grpc-tls-ca", Tls("nope.crt"), "status"});
  EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
  EXPECT_TRUE(absl::StrContains(missing.err, "nope.crt")) << missing.err;
}

TEST_F(TlsClusterTest, BerthctlImagePushPullOverHttps) {
  const std::string archive =
      RunfilePath("testdata/docker-save/legacy-hello-world.tar", "shared");
  const std::string registry = cluster_->Url("frontend-1");
  CommandResult push =
      RunBerthctl({"image", "push", archive, "tls/hello:v1", "--registry",
                   registry, "--ca-file", Tls("ca.crt")});
  ASSERT_EQ(push.exit_code, 0) << push.out << push.err;
  const std::string out = MakeTempDir("tls-pull-") + "/hello.tar";
  CommandResult pull =
      RunBerthctl({"image", "pull", "tls/hello:v1", "-o", out, "--registry",
                   registry, "--ca-file", Tls("ca.crt")});
  ASSERT_EQ(pull.exit_code, 0) << pull.out << pull.err;
  auto original = ReadTar(archive);
  auto pulled = ReadTar(out);
  ASSERT_TRUE(original.ok() && pulled.ok());
  int layers = 0;
  for (const auto& [name, bytes] : *original) {
    if (!absl::EndsWith(name, "/layer.tar")) continue;
    ++layers;
    ASSERT_EQ(pulled->count(name), 1u) << name;
    EXPECT_TRUE(pulled->at(name) == bytes) << name;
  }
  EXPECT_GT(layers, 0);
  // Without the CA the registry's certificate is not trusted: unreachable.
  CommandResult untrusted = RunBerthctl(
      {"image", "pull", "tls/hello:v1", "-o", out + ".2", "--registry",
       registry});
  EXPECT_EQ(untrusted.exit_code, 3) << untrusted.out << untrusted.err;
  EXPECT_TRUE(absl::StrContains(untrusted.err, "certificate verify failed"))
      << untrusted.err;
}

TEST_F(TlsClusterTest, WipedMetadBootstrapsFromItsPeerOverTls) {
  // Something in the log for metad-1 to hand over.
  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  PushOptions push;
  push.tags = {{"boot", chain->front().id}};
  ASSERT_TRUE(PushChain(Frontend(), "tls/boot", {chain->front()}, push).ok());

  ASSERT_TRUE(cluster_->Kill("metad-2").ok());
  const std::string data = cluster_->ArgOf("metad-2", "--data");
  ASSERT_FALSE(data.empty());
  fs::remove_all(data);
  absl::Status restarted = cluster_->Restart("metad-2");
  ASSERT_TRUE(restarted.ok()) << restarted << cluster_->LogTails();
  const std::string log =
      ReadFileOrEmpty(cluster_->state()["metad-2"]["log"].get<std::string>());
  EXPECT_TRUE(absl::StrContains(log, "bootstrapped from metad-1")) << log;

  // The new replica answers (over mutual TLS) with the copied position.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  meta::StatusResponse status;
  grpc::Status st =
      meta::Admin::NewStub(
          Channel(cluster_->Address("metad-2"),
                  {Tls("client.crt"), Tls("client.key"), Tls("ca.crt"), ""}))
          ->Status(&ctx, meta::StatusRequest(), &status);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GT(status.applied(), 0u);
  // And the tag pushed before the wipe reads back through the frontend.
  absl::StatusOr<PullResult> pulled = PullAndVerify(Frontend(), "tls/boot");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->tags, push.tags);
}

}  // namespace
}  // namespace berth::testing

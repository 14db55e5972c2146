// MetadataService over gRPC (in-process channel) on a real replica on the
// local log: GetImage is a callback method, answered inline when stale-ok
// and on the service's linearizable-read pool otherwise. Both kinds find
// what was written, honour include_json and answer IMAGE_NOT_FOUND; many
// more linearizable reads than pool threads in flight at once all finish;
// a replica that is missing (bootstrapping) answers UNAVAILABLE either way.
#include "metadata/metadata_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "metadata/local_log.h"
#include "metadata/metadata_client.h"
#include "metadata/replica.h"
#include "metadata/store.h"
#include "tests/harness/process.h"

namespace berth::meta {
namespace {

constexpr char kId[] =
    "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

class MetadataServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("metadata-service-");
    auto store = Store::Open(dir_ + "/metadata");
    ASSERT_TRUE(store.ok()) << store.status();
    auto log = LocalLog::Open(store->get());
    ASSERT_TRUE(log.ok()) << log.status();
    auto replica = Replica::Start(std::move(*store), std::move(*log), {});
    ASSERT_TRUE(replica.ok()) << replica.status();
    replica_ = std::move(*replica);
    service_ = std::make_unique<MetadataService>(replica_.get());
    Serve(service_.get());
  }

  void Serve(MetadataService* service) {
    grpc::ServerBuilder builder;
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
    stub_ = Metadata::NewStub(channel_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    if (replica_) replica_->Stop();
  }

  void PutJson(const std::string& id, const std::string& json) {
    MetadataClient client(channel_);
    Command c;
    c.mutable_put_image_json()->set_id(id);
    c.mutable_put_image_json()->set_json(json);
    c.mutable_put_image_json()->set_now_unix(1700000000);
    auto result = client.Execute(std::move(c));
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->error().reason(), REASON_UNSPECIFIED)
        << result->error().message();
  }

  grpc::Status Get(const std::string& id, bool stale, bool include_json,
                   GetImageResponse* response) {
    GetImageRequest req;
    req.set_id(id);
    req.set_include_json(include_json);
    req.mutable_read()->set_stale_ok(stale);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return stub_->GetImage(&ctx, req, response);
  }

  std::string dir_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<MetadataService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Metadata::Stub> stub_;
};

TEST_F(MetadataServiceTest, StaleAndLinearizableReadsFindTheImage) {
  PutJson(kId, "{\"id\":\"x\"}");
  for (bool stale : {true, false}) {
    SCOPED_TRACE(stale ? "stale" : "linearizable");
    GetImageResponse with;
    ASSERT_TRUE(Get(kId, stale, /*include_json=*/true, &with).ok());
    EXPECT_EQ(with.error().reason(), REASON_UNSPECIFIED);
    EXPECT_EQ(with.image().json(), "{\"id\":\"x\"}");
    GetImageResponse without;
    ASSERT_TRUE(Get(kId, stale, /*include_json=*/false, &without).ok());
    EXPECT_EQ(without.error().reason(), REASON_UNSPECIFIED);
    EXPECT_TRUE(without.image().json().empty());
    GetImageResponse missing;
    ASSERT_TRUE(Get(std::string(64, 'f'), stale, true, &missing).ok());
    EXPECT_EQ(missing.error().reason(), IMAGE_NOT_FOUND);
  }
}

TEST_F(MetadataServiceTest, ReadAfterWriteIsLinearizable) {
  // Each write is acknowledged before the read is sent, so a linearizable
  // read must see it, whichever thread of the pool answers.
  for (int i = 0; i < 20; ++i) {
    const std::string id = absl::StrFormat("%064x", i + 1);
    const std::string json = absl::StrCat("{\"n\":", i, "}");
    PutJson(id, json);
    GetImageResponse got;
    ASSERT_TRUE(Get(id, /*stale=*/false, /*include_json=*/true, &got).ok());
    ASSERT_EQ(got.error().reason(), REASON_UNSPECIFIED) << id;
    EXPECT_EQ(got.image().json(), json);
  }
}

TEST_F(MetadataServiceTest, ManyConcurrentLinearizableReadsAllFinish) {
  PutJson(kId, "{}");
  // Far more calls in flight than the pool has threads: they queue and
  // every one is answered.
  constexpr int kCalls = 200;
  struct Call {
    grpc::ClientContext ctx;
    GetImageRequest req;
    GetImageResponse resp;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  absl::Mutex mu;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::make_unique<Call>());
    Call* c = calls.back().get();
    c->req.set_id(kId);
    c->req.mutable_read()->set_stale_ok(i % 4 == 0);
    c->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    stub_->async()->GetImage(&c->ctx, &c->req, &c->resp,
                             [c, &mu, &done](grpc::Status st) {
                               absl::MutexLock lock(&mu);
                               c->status = std::move(st);
                               ++done;
                             });
  }
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(+[](int* d) { return *d == kCalls; }, &done),
        absl::Seconds(30)));
  }
  for (const auto& c : calls) {
    ASSERT_TRUE(c->status.ok()) << c->status.error_message();
    EXPECT_EQ(c->resp.error().reason(), REASON_UNSPECIFIED);
  }
}

TEST_F(MetadataServiceTest, MissingReplicaAnswersUnavailable) {
  server_->Shutdown();
  server_.reset();
  MetadataService bootstrapping([] { return std::shared_ptr<Replica>(); });
  Serve(&bootstrapping);
  for (bool stale : {true, false}) {
    GetImageResponse resp;
    grpc::Status st = Get(kId, stale, true, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE)
        << (stale ? "stale" : "linearizable");
  }
  server_->Shutdown();
  server_.reset();
}

}  // namespace
}  // namespace berth::meta

// ShardMapFollower against a real (in-process) metadata replica on the
// local log: the seed stays until metadata has a map, each new map version
// swaps in a new client while holders of the old one keep it, R/W follow
// SetReplication, a map without active shards is ignored (the version in
// use stays), on_adopted is told of each adopted version, and the polling
// thread picks changes up by itself.
#include "frontend/shard_map_follower.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "metadata/local_log.h"
#include "metadata/metadata_service.h"
#include "metadata/replica.h"
#include "metadata/store.h"
#include "tests/harness/process.h"

namespace berth::frontend {
namespace {

class ShardMapFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("follower-");
    auto store = meta::Store::Open(dir_ + "/metadata");
    ASSERT_TRUE(store.ok()) << store.status();
    auto log = meta::LocalLog::Open(store->get());
    ASSERT_TRUE(log.ok()) << log.status();
    auto replica = meta::Replica::Start(std::move(*store), std::move(*log), {});
    ASSERT_TRUE(replica.ok()) << replica.status();
    replica_ = std::move(*replica);
    service_ = std::make_unique<meta::MetadataService>(replica_.get());
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    metadata_ = std::make_unique<meta::MetadataClient>(
        server_->InProcessChannel(grpc::ChannelArguments()));

    blob::ShardInfo seed;
    seed.id = "seed";
    seed.address = "127.0.0.1:1";
    std::vector<blob::Shard> shards;
    shards.push_back({seed, blob::NewGrpcShardConnection(
                                seed.id, grpc::CreateChannel(
                                             seed.address,
                                             grpc::InsecureChannelCredentials()))});
    blob::BlobClientOptions options;
    options.replicas = 3;
    options.write_quorum = 2;
    options.io_threads = 1;
    options.hash_threads = 1;
    holder_ = std::make_unique<BlobClientHolder>(
        std::make_shared<blob::BlobClient>(std::move(shards), options));
    ShardMapFollowerOptions follow;
    follow.blob_options = options;
    follow.interval = absl::Milliseconds(50);
    follow.on_adopted = [this](uint64_t v) {
      absl::MutexLock lock(&adopted_mu_);
      adopted_.push_back(v);
    };
    follower_ = std::make_unique<ShardMapFollower>(metadata_.get(),
                                                   holder_.get(), follow);
  }

  void TearDown() override {
    follower_.reset();
    if (server_) server_->Shutdown();
    if (replica_) replica_->Stop();
  }

  void Run(meta::Command command) {
    auto result = metadata_->Execute(std::move(command));
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->error().reason(), REASON_UNSPECIFIED)
        << result->error().message();
  }
  void PutShard(const std::string& id, const std::string& zone) {
    meta::Command c;
    meta::ShardInfo* s = c.mutable_put_shard()->mutable_shard();
    s->set_id(id);
    s->set_address("127.0.0.1:1");
    s->set_zone(zone);
    s->set_weight(1);
    s->set_state(meta::SHARD_ACTIVE);
    Run(c);
  }
  void SetState(const std::string& id, meta::ShardState state) {
    meta::Command c;
    c.mutable_set_shard_state()->set_id(id);
    c.mutable_set_shard_state()->set_state(state);
    Run(c);
  }
  std::vector<std::string> Ids() {
    std::vector<std::string> ids;
    for (const auto& s : holder_->Get()->shard_map()) ids.push_back(s.id);
    return ids;
  }

  std::string dir_;
  std::unique_ptr<meta::Replica> replica_;
  std::unique_ptr<meta::MetadataService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<meta::MetadataClient> metadata_;
  std::unique_ptr<BlobClientHolder> holder_;
  std::unique_ptr<ShardMapFollower> follower_;
  absl::Mutex adopted_mu_;
  std::vector<uint64_t> adopted_;  // guarded by adopted_mu_
  std::vector<uint64_t> Adopted() {
    absl::MutexLock lock(&adopted_mu_);
    return adopted_;
  }
};

TEST_F(ShardMapFollowerTest, FollowsTheMapVersionByVersion) {
  // No map in metadata: the seed stays.
  auto polled = follower_->PollOnce();
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_FALSE(*polled);
  EXPECT_EQ(Ids(), std::vector<std::string>{"seed"});
  EXPECT_EQ(follower_->version(), 0u);

  // A request in flight holds the seed client across the swap.
  std::shared_ptr<blob::BlobClient> in_flight = holder_->Get();
  PutShard("s1", "a");
  PutShard("s2", "b");
  polled = follower_->PollOnce();
  ASSERT_TRUE(polled.ok());
  EXPECT_TRUE(*polled);
  EXPECT_EQ(Ids(), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(holder_->Get()->replicas(), 2u);  // R=3 clamped to 2 active
  EXPECT_EQ(in_flight->shard_map()[0].id, "seed");
  EXPECT_NE(in_flight.get(), holder_->Get().get());
  const uint64_t v = follower_->version();
  EXPECT_GT(v, 0u);
  EXPECT_EQ(Adopted(), std::vector<uint64_t>{v});
  // Same version: nothing rebuilt.
  auto same = holder_->Get();
  EXPECT_FALSE(*follower_->PollOnce());
  EXPECT_EQ(same.get(), holder_->Get().get());

  // Draining: still in the map (read), no longer placed.
  SetState("s2", meta::SHARD_DRAINING);
  EXPECT_TRUE(*follower_->PollOnce());
  auto client = holder_->Get();
  ASSERT_EQ(client->shard_map().size(), 2u);
  EXPECT_EQ(client->shard_map()[1].state, blob::ShardState::kDraining);
  EXPECT_EQ(client->replicas(), 1u);
  for (size_t i : client->Place(std::string(64, 'a'))) {
    EXPECT_EQ(client->shard_map()[i].id, "s1");
  }

  // The cluster's R and W win over the flags.
  PutShard("s3", "c");
  meta::Command repl;
  repl.mutable_set_replication()->set_replicas(2);
  repl.mutable_set_replication()->set_write_quorum(1);
  Run(repl);
  EXPECT_TRUE(*follower_->PollOnce());
  EXPECT_EQ(holder_->Get()->replicas(), 2u);
  EXPECT_EQ(holder_->Get()->write_quorum(), 1u);

  // A map without an active shard is refused: the last usable one stays.
  auto usable = holder_->Get();
  SetState("s1", meta::SHARD_DOWN);
  SetState("s2", meta::SHARD_DOWN);
  SetState("s3", meta::SHARD_DOWN);
  const uint64_t usable_version = follower_->version();
  const size_t adoptions = Adopted().size();
  EXPECT_FALSE(*follower_->PollOnce());
  EXPECT_EQ(usable.get(), holder_->Get().get());
  // The refused map is not reported as the one in use.
  EXPECT_EQ(follower_->version(), usable_version);
  EXPECT_EQ(Adopted().size(), adoptions);
  EXPECT_FALSE(*follower_->PollOnce());  // and not rebuilt on every poll
  // A usable map after it is adopted again.
  SetState("s3", meta::SHARD_ACTIVE);
  EXPECT_TRUE(*follower_->PollOnce());
  EXPECT_GT(follower_->version(), usable_version);
  EXPECT_EQ(Adopted().back(), follower_->version());
}

TEST_F(ShardMapFollowerTest, PollingThreadPicksUpChanges) {
  follower_->Start();
  PutShard("s1", "a");
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Ids() == std::vector<std::string>{"s1"}; },
      absl::Seconds(10)));
  PutShard("s2", "b");
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Ids() == std::vector<std::string>{"s1", "s2"}; },
      absl::Seconds(10)));
  follower_->Stop();
}

}  // namespace
}  // namespace berth::frontend

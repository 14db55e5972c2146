#include "frontend/shard_map_follower.h"

#include "blobstore/cluster_shards.h"
#include "spdlog/spdlog.h"

namespace berth::frontend {

ShardMapFollower::ShardMapFollower(meta::MetadataClient* metadata,
                                   BlobClientHolder* holder,
                                   ShardMapFollowerOptions options)
    : metadata_(metadata), holder_(holder), options_(std::move(options)) {}

ShardMapFollower::~ShardMapFollower() { Stop(); }

uint64_t ShardMapFollower::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

absl::StatusOr<bool> ShardMapFollower::PollOnce() {
  meta::GetClusterConfigRequest request;
  request.mutable_read()->set_stale_ok(true);
  auto response = metadata_->GetClusterConfig(request);
  if (!response.ok()) return response.status();
  const meta::ClusterConfig& config = response->config();
  if (options_.on_config) options_.on_config(config);
  // Only the poll thread (or Start's caller before it) swaps, so reading
  // version_ and acting on it need not be atomic together.
  if (config.shard_map_version() == 0 || config.shards_size() == 0 ||
      config.shard_map_version() <= version() ||
      config.shard_map_version() == refused_version_) {
    return false;
  }
  blob::BlobClientOptions blob_options = options_.blob_options;
  if (config.replicas() > 0) blob_options.replicas = config.replicas();
  if (config.write_quorum() > 0) {
    blob_options.write_quorum = config.write_quorum();
  }
  auto client = std::make_shared<blob::BlobClient>(
      blob::DialClusterShards(config, options_.security), blob_options);
  if (client->replicas() == 0) {
    spdlog::error("shard map version {} has no active shard; keeping the "
                  "current one",
                  config.shard_map_version());
    refused_version_ = config.shard_map_version();
    return false;
  }
  std::string shards;
  for (const blob::ShardInfo& s : client->shard_map()) {
    shards += s.id + "(" + blob::ShardStateName(s.state) + ") ";
  }
  spdlog::info("following shard map version {}: {}R={} W={}",
               config.shard_map_version(), shards, client->replicas(),
               client->write_quorum());
  holder_->Set(std::move(client));
  {
    absl::MutexLock lock(&mu_);
    version_ = config.shard_map_version();
  }
  if (options_.on_adopted) options_.on_adopted(config.shard_map_version());
  return true;
}

void ShardMapFollower::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.interval)) {
      auto polled = PollOnce();
      if (!polled.ok()) {
        spdlog::debug("shard map poll: {}", polled.status().ToString());
      }
    }
  });
}

void ShardMapFollower::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace berth::frontend

#include "blobstore/cluster_shards.h"

#include "grpcpp/grpcpp.h"

namespace berth::blob {

int ClusterReplicas(const meta::ClusterConfig& config) {
  return config.replicas() > 0 ? static_cast<int>(config.replicas())
                               : kDefaultReplicas;
}

int ClusterWriteQuorum(const meta::ClusterConfig& config) {
  return config.write_quorum() > 0 ? static_cast<int>(config.write_quorum())
                                   : kDefaultWriteQuorum;
}

ShardInfo ShardInfoFromProto(const meta::ShardInfo& info) {
  ShardInfo out;
  out.id = info.id();
  out.address = info.address();
  out.zone = info.zone().empty() ? info.id() : info.zone();
  out.weight = info.weight() > 0 ? info.weight() : 1.0;
  switch (info.state()) {
    case meta::SHARD_DRAINING:
      out.state = ShardState::kDraining;
      break;
    case meta::SHARD_DOWN:
      out.state = ShardState::kDown;
      break;
    default:  // ACTIVE, or unspecified (an old record): active
      out.state = ShardState::kActive;
      break;
  }
  return out;
}

meta::ShardInfo ShardInfoToProto(const ShardInfo& info) {
  meta::ShardInfo out;
  out.set_id(info.id);
  out.set_address(info.address);
  out.set_zone(info.zone);
  out.set_weight(info.weight >= 1 ? static_cast<uint32_t>(info.weight) : 1);
  switch (info.state) {
    case ShardState::kActive:
      out.set_state(meta::SHARD_ACTIVE);
      break;
    case ShardState::kDraining:
      out.set_state(meta::SHARD_DRAINING);
      break;
    case ShardState::kDown:
      out.set_state(meta::SHARD_DOWN);
      break;
  }
  return out;
}

std::shared_ptr<ShardConnection> DialShard(
    const std::string& id, const std::string& address,
    const tls::ChannelSecurity& security) {
  grpc::ChannelArguments args;
  security.ApplyTo("", &args);
  return DialGrpcShard(id, address, security.Credentials(), args);
}

std::vector<Shard> DialClusterShards(const meta::ClusterConfig& config,
                                     const tls::ChannelSecurity& security) {
  std::vector<Shard> shards;
  for (const meta::ShardInfo& s : config.shards()) {
    ShardInfo info = ShardInfoFromProto(s);
    auto conn = DialShard(info.id, info.address, security);
    shards.push_back({std::move(info), std::move(conn)});
  }
  return shards;
}

}  // namespace berth::blob

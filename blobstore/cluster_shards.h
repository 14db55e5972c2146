// The bridge between the cluster's shard map as metadata stores it
// (meta::ClusterConfig, meta::ShardInfo) and the blobstore client
// (blob::ShardInfo, blob::Shard): conversions, dialing, and the cluster's
// replication factor. Used by frontends following the shard map and by
// berthctl. Pure functions apart from opening (lazy) gRPC channels.
#ifndef BERTH_BLOBSTORE_CLUSTER_SHARDS_H_
#define BERTH_BLOBSTORE_CLUSTER_SHARDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "blobstore/blob_client.h"
#include "common/tls.h"
#include "proto/metadata.pb.h"

namespace berth::blob {

// The cluster's defaults when ClusterConfig leaves R/W at 0.
constexpr int kDefaultReplicas = 3;
constexpr int kDefaultWriteQuorum = 2;

// ClusterConfig.replicas / write_quorum, or the defaults when 0.
int ClusterReplicas(const meta::ClusterConfig& config);
int ClusterWriteQuorum(const meta::ClusterConfig& config);

ShardInfo ShardInfoFromProto(const meta::ShardInfo& info);
meta::ShardInfo ShardInfoToProto(const ShardInfo& info);

// A gRPC connection to the blobd at `address` (channel opened lazily, with
// Berth's 64 MiB receive limit); `id` names it in errors.
// `security`: the channel's TLS (default insecure).
std::shared_ptr<ShardConnection> DialShard(
    const std::string& id, const std::string& address,
    const tls::ChannelSecurity& security = {});

// Every shard of `config` (down ones too: they are in the map so that
// readers skip them and repair knows them), dialed.
std::vector<Shard> DialClusterShards(
    const meta::ClusterConfig& config,
    const tls::ChannelSecurity& security = {});

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_CLUSTER_SHARDS_H_

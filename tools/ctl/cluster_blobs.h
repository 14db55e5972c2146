// The cluster's blobstore as berthctl sees it: the shard map read from
// metadata (ClusterConfig) with every shard dialed, in one BlobClient with
// the cluster's R and W. Shared by the shard, scrub, repair and gc
// commands. The BlobClient is thread-safe; ClusterBlobs is owned by the
// command that opened it (one berthctl run).
#ifndef BERTH_TOOLS_CTL_CLUSTER_BLOBS_H_
#define BERTH_TOOLS_CTL_CLUSTER_BLOBS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "blobstore/blob_client.h"
#include "proto/metadata.pb.h"
#include "tools/ctl/context.h"

namespace berth::ctl {

struct ClusterBlobs {
  meta::ClusterConfig config;          // as read (shard_map_version included)
  std::unique_ptr<blob::BlobClient> client;  // every shard of config, dialed
  int replicas = 0;                    // the cluster's R (config or default 3)
  int write_quorum = 0;                // the cluster's W (config or default 2)
};

// Reads ClusterConfig through ctx->Metadata() (linearizable unless
// `stale_ok`) and dials every shard in it (down shards too: the client
// skips them). FAILED_PRECONDITION when the map is empty (no `shards add`
// yet); UNAVAILABLE when no replica answered. RPC deadlines follow
// ctx->flags.timeout_seconds (at least 60 s for whole-chunk transfers).
absl::StatusOr<ClusterBlobs> OpenClusterBlobs(Context* ctx,
                                              bool stale_ok = false);

// Reads ClusterConfig only.
absl::StatusOr<meta::ClusterConfig> ReadClusterConfig(Context* ctx,
                                                      bool stale_ok = false);

}  // namespace berth::ctl

#endif  // BERTH_TOOLS_CTL_CLUSTER_BLOBS_H_

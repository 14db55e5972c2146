#include "tools/ctl/cluster_blobs.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "blobstore/cluster_shards.h"

namespace berth::ctl {

absl::StatusOr<meta::ClusterConfig> ReadClusterConfig(Context* ctx,
                                                      bool stale_ok) {
  auto metadata = ctx->Metadata();
  if (!metadata.ok()) return metadata.status();
  meta::GetClusterConfigRequest request;
  request.mutable_read()->set_stale_ok(stale_ok);
  auto response = (*metadata)->GetClusterConfig(request);
  if (!response.ok()) return response.status();
  if (response->error().reason() != REASON_UNSPECIFIED) {
    return absl::InternalError(absl::StrCat("reading the cluster config: ",
                                            response->error().message()));
  }
  return response->config();
}

absl::StatusOr<ClusterBlobs> OpenClusterBlobs(Context* ctx, bool stale_ok) {
  auto config = ReadClusterConfig(ctx, stale_ok);
  if (!config.ok()) return config.status();
  if (config->shards_size() == 0) {
    return absl::FailedPreconditionError(
        "the cluster has no shard map yet (berthctl shards add ...)");
  }
  ClusterBlobs out;
  out.config = std::move(*config);
  out.replicas = blob::ClusterReplicas(out.config);
  out.write_quorum = blob::ClusterWriteQuorum(out.config);
  blob::BlobClientOptions options;
  options.replicas = out.replicas;
  options.write_quorum = out.write_quorum;
  options.rpc_timeout =
      absl::Seconds(std::max(60.0, ctx->flags.timeout_seconds));
  options.io_threads = 8;
  options.hash_threads = 2;
  auto security = ctx->Security();
  if (!security.ok()) return security.status();
  out.client = std::make_unique<blob::BlobClient>(
      blob::DialClusterShards(out.config, *security), options);
  return out;
}

}  // namespace berth::ctl

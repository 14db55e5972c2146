// A frontend: the v1 HTTP server bound to a metadata channel and blob
// shards. `berth frontend` dials them over the network; `berth serve` hands
// in in-process channels. tools/ owns main().
#ifndef BERTH_FRONTEND_FRONTEND_SERVER_H_
#define BERTH_FRONTEND_FRONTEND_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "blobstore/blob_client.h"
#include "common/tls.h"
#include "frontend/access.h"
#include "frontend/admin.h"
#include "frontend/http_server.h"
#include "frontend/registry.h"
#include "frontend/reporter.h"
#include "frontend/shard_map_follower.h"
#include "metadata/metadata_client.h"

namespace berth::frontend {

struct FrontendOptions {
  std::string listen = "127.0.0.1:5000";
  std::string public_endpoint;        // X-Docker-Endpoints; "" = Host header
  uint64_t chunk_size = 8 << 20;
  size_t max_json_size = 1 << 20;
  size_t max_connections = 1024;
  uint64_t max_layer_size = 0;        // 0 = unlimited
  int max_uploads = 64;
  int header_timeout_s = 30;
  int idle_timeout_s = 60;
  int io_timeout_s = 60;
  int drain_timeout_s = 30;
  int shutdown_delay_s = 0;           // serve with /readyz 503 before draining
  std::string admin_listen;           // /metrics /healthz /readyz; "" = off
  std::string auth = "none";          // none | basic | index (spec §1.2-1.3)
  int token_lifetime_s = 3600;
  bool signup = true;
  bool encryption = true;             // X-Docker-Encrypt extension (spec §6)
  std::string admin_user;             // first administrator (created once)
  std::string admin_password_file;    // its password, first line
  // HTTPS (both set): PEM certificate chain and key of the registry port.
  std::string tls_cert;
  std::string tls_key;
  // Only for `berth frontend`:
  std::string metadata = "127.0.0.1:5001";
  // id=host:port[@zone[:weight[:state]]][,...] (blob::ParseShardMap)
  std::string blobd = "shard-1=127.0.0.1:5002";
  int replicas = 3;       // copies per chunk (clamped to active shards)
  int write_quorum = 2;   // acks per chunk before an upload may succeed
  std::string zone;       // this frontend's zone: reads prefer it
  // Bound on one metadata call, retries included (0 = none: each of the
  // client's attempts has its own 30 s deadline).
  int metadata_timeout_s = 0;
  // Calls go to the first --metadata address that connects (own zone's
  // metad listed first) instead of round-robin (meta::DialMetadata).
  bool metadata_prefer_first = false;
  // Reports to the metadata tier (frontend/reporter.h); `berth frontend`
  // only (serve has no Admin service): 0 = off.
  std::string id;         // "" = the --listen address
  int report_interval_s = 0;
  // Seconds between reads of the shard map kept in metadata (berth
  // frontend: 2); a newer map replaces --blobd. 0 = use --blobd only.
  int shard_map_interval_s = 0;
  // gRPC to metad and blobd (client side; see common/tls.h).
  tls::GrpcTlsFiles grpc_tls;
};

// `cluster` adds --metadata and --blobd (berth frontend).
void AddFrontendOptions(CLI::App* app, FrontendOptions* options, bool cluster);

// Parses --blobd (blob::ParseShardMap syntax) and dials each shard.
// `security` (default insecure) applies to every shard's channel.
absl::StatusOr<std::vector<blob::Shard>> DialShards(
    const std::string& spec, const tls::ChannelSecurity& security = {});

class FrontendServer {
 public:
  static absl::StatusOr<std::unique_ptr<FrontendServer>> Start(
      const FrontendOptions& options,
      std::shared_ptr<grpc::Channel> metadata_channel,
      std::vector<blob::Shard> shards);
  ~FrontendServer();
  int port() const { return http_->port(); }
  void Shutdown();

 private:
  FrontendServer() = default;
  absl::Status Ready();
  absl::Status EnsureAdministrator(const FrontendOptions& options);

  Metrics metrics_;
  // ClusterConfig.images_deleted_generation, stored by the shard map
  // follower's thread, read by request threads (Registry's image cache).
  std::atomic<uint64_t> images_generation_{0};
  std::unique_ptr<meta::MetadataClient> metadata_;
  std::unique_ptr<AccessControl> access_;
  // The current blob client; shard_map_ swaps in a new one when the
  // shard map in metadata changes (null: --blobd only). Declared after
  // the holder so that it stops first.
  std::unique_ptr<BlobClientHolder> blobs_;
  std::unique_ptr<ShardMapFollower> shard_map_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<LoadCountingHandler> load_;  // wraps registry_
  std::unique_ptr<FrontendReporter> reporter_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<AdminHandler> admin_handler_;
  std::unique_ptr<HttpServer> admin_;
  absl::Duration shutdown_delay_;
  std::atomic<bool> shutting_down_{false};  // set once by Shutdown()
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_FRONTEND_SERVER_H_

#include "tools/serve.h"

#include <grpcpp/grpcpp.h>

#include "blobstore/chunk_store.h"
#include "blobstore/shard_connection.h"
#include "common/options.h"
#include "common/tls.h"
#include "metadata/local_log.h"
#include "metadata/metadata_service.h"
#include "metadata/replica.h"
#include "spdlog/spdlog.h"

namespace berth {

void AddServeOptions(CLI::App* app, ServeOptions* options) {
  frontend::AddFrontendOptions(app, &options->frontend, /*cluster=*/false);
  app->add_option("--data", options->data, "data directory")
      ->capture_default_str();
}

absl::StatusOr<std::unique_ptr<EmbeddedRegistry>> EmbeddedRegistry::Start(
    const ServeOptions& options) {
  // Check --listen before anything starts (and logs) or the data dir is made.
  auto listen = ParseHostPort(options.frontend.listen);
  if (!listen.ok()) return listen.status();
  if (absl::Status st = CheckListenable(*listen); !st.ok()) return st;
  if (!options.frontend.admin_listen.empty()) {
    auto admin = ParseHostPort(options.frontend.admin_listen);
    if (!admin.ok()) return admin.status();
    if (absl::Status st = CheckListenable(*admin); !st.ok()) return st;
  }
  if (absl::Status st = EnsureDataDir(options.data); !st.ok()) return st;
  // HTTPS files are checked before the replica starts.
  const frontend::FrontendOptions& https = options.frontend;
  if (!https.tls_cert.empty() || !https.tls_key.empty()) {
    auto pair = tls::LoadCertAndKey(https.tls_cert, "--tls-cert",
                                    https.tls_key, "--tls-key");
    if (!pair.ok()) return pair.status();
  }
  std::unique_ptr<EmbeddedRegistry> r(new EmbeddedRegistry());

  auto store = meta::Store::Open(options.data + "/metadata");
  if (!store.ok()) return store.status();
  auto log = meta::LocalLog::Open(store->get());
  if (!log.ok()) return log.status();
  auto replica = meta::Replica::Start(std::move(*store), std::move(*log), {});
  if (!replica.ok()) return replica.status();
  r->replica_ = std::move(*replica);
  r->metadata_service_ =
      std::make_unique<meta::MetadataService>(r->replica_.get());

  auto chunks = blob::ChunkStore::Open(options.data + "/blobs");
  if (!chunks.ok()) return chunks.status();
  r->chunks_ = std::move(*chunks);

  grpc::ServerBuilder builder;  // no listening port: in-process only
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(r->metadata_service_.get());
  r->grpc_ = builder.BuildAndStart();
  if (!r->grpc_) return absl::InternalError("cannot start in-process gRPC");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  auto channel = r->grpc_->InProcessChannel(args);

  // The in-process shard: the client writes straight into the ChunkStore
  // and does not hash a chunk twice. One shard, so R = W = 1.
  blob::ShardInfo local;
  local.id = "local";
  local.zone = "local";
  std::vector<blob::Shard> shards;
  shards.push_back(
      {local, blob::NewLocalShardConnection(local.id, r->chunks_.get())});
  frontend::FrontendOptions fe_options = options.frontend;
  fe_options.replicas = 1;
  fe_options.write_quorum = 1;
  fe_options.zone = local.zone;
  auto fe = frontend::FrontendServer::Start(fe_options, channel,
                                            std::move(shards));
  if (!fe.ok()) return fe.status();
  r->frontend_ = std::move(*fe);
  spdlog::info("berth serve: registry on {}://{} with data in {}",
               options.frontend.tls_cert.empty() ? "http" : "https",
               options.frontend.listen, options.data);
  return r;
}

EmbeddedRegistry::~EmbeddedRegistry() { Shutdown(); }

void EmbeddedRegistry::Shutdown() {
  // Outside in: stop taking requests, then the tiers they call.
  if (frontend_) frontend_->Shutdown();
  if (grpc_) {
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc_.reset();
  }
  if (replica_) replica_->Stop();
}

}  // namespace berth

#include "tools/serve.h"

#include <grpcpp/grpcpp.h>

#include "blobstore/blob_service.h"
#include "blobstore/chunk_store.h"
#include "common/options.h"
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
  if (absl::Status st = EnsureDataDir(options.data); !st.ok()) return st;
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
  r->blob_service_ = std::make_unique<blob::BlobService>(r->chunks_.get());

  grpc::ServerBuilder builder;  // no listening port: in-process only
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(r->metadata_service_.get());
  builder.RegisterService(r->blob_service_.get());
  r->grpc_ = builder.BuildAndStart();
  if (!r->grpc_) return absl::InternalError("cannot start in-process gRPC");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  auto channel = r->grpc_->InProcessChannel(args);

  auto fe = frontend::FrontendServer::Start(options.frontend, channel,
                                            {{"local", channel}});
  if (!fe.ok()) return fe.status();
  r->frontend_ = std::move(*fe);
  spdlog::info("berth serve: registry on http://{} with data in {}",
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

#include "blobstore/blobd.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "blobstore/limits.h"
#include "common/options.h"
#include "spdlog/spdlog.h"

namespace berth::blob {

void AddBlobdOptions(CLI::App* app, BlobdOptions* options) {
  app->add_option("--listen", options->listen, "gRPC address (host:port)")
      ->capture_default_str();
  app->add_option("--data", options->data, "chunk directory")
      ->capture_default_str();
  app->add_option("--shard-id", options->shard_id,
                  "this shard's id in the shard map")
      ->capture_default_str();
  tls::AddGrpcTlsOptions(app, &options->grpc_tls, /*server=*/true,
                         /*client=*/false);
}

absl::StatusOr<std::unique_ptr<BlobServer>> BlobServer::Start(
    const BlobdOptions& options) {
  if (options.shard_id.empty()) {
    return absl::InvalidArgumentError("--shard-id must not be empty");
  }
  absl::StatusOr<HostPort> address = ParseHostPort(options.listen);
  if (!address.ok()) return address.status();
  if (absl::Status s = EnsureDataDir(options.data); !s.ok()) return s;
  auto credentials = tls::GrpcServerCredentials(options.grpc_tls);
  if (!credentials.ok()) return credentials.status();
  absl::StatusOr<std::unique_ptr<ChunkStore>> store =
      ChunkStore::Open(options.data);
  if (!store.ok()) {
    return absl::Status(
        store.status().code(),
        absl::StrCat("cannot open data directory: ", store.status().message()));
  }

  std::unique_ptr<BlobServer> server(new BlobServer());
  server->shard_id_ = options.shard_id;
  server->store_ = std::move(*store);
  server->service_ = std::make_unique<BlobService>(server->store_.get(),
                                                  options.shard_id);

  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second blobd bind
  // a busy port and silently share its traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(4 * static_cast<int>(kPieceSize));
  builder.AddListeningPort(address->ToString(), *credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    server->stopped_ = true;
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
                     " (address in use or not available on this host)"));
  }
  spdlog::info("blobd {} listening on {}:{}, data in {}", options.shard_id,
               address->host, server->port_, options.data);
  return server;
}

BlobServer::~BlobServer() { Shutdown(); }

void BlobServer::Shutdown() {
  if (stopped_) return;
  stopped_ = true;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_->Wait();
  spdlog::info("blobd {} stopped", shard_id_);
}

}  // namespace berth::blob

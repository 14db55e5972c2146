#include "metadata/metad.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/options.h"
#include "metadata/etcd_log.h"
#include "metadata/metadata_service.h"
#include "metadata/replica.h"
#include "spdlog/spdlog.h"

namespace berth::meta {

void AddMetadOptions(CLI::App* app, MetadOptions* options) {
  app->add_option("--listen", options->listen, "gRPC address host:port")
      ->capture_default_str();
  app->add_option("--data", options->data, "RocksDB directory")
      ->capture_default_str();
  app->add_option("--etcd", options->etcd,
                  "etcd client endpoints, comma-separated host:port")
      ->capture_default_str();
  app->add_option("--log-key", options->log_key, "etcd key of the log")
      ->capture_default_str();
}

absl::StatusOr<std::unique_ptr<MetadServer>> MetadServer::Start(
    const MetadOptions& options) {
  auto listen = ParseHostPort(options.listen);
  if (!listen.ok()) return listen.status();
  if (absl::Status st = EnsureDataDir(options.data); !st.ok()) return st;
  auto store = Store::Open(options.data);
  if (!store.ok()) return store.status();
  EtcdLogOptions log_options;
  log_options.endpoints = absl::StrSplit(options.etcd, ',', absl::SkipEmpty());
  log_options.log_key = options.log_key;
  if (log_options.endpoints.empty()) {
    return absl::InvalidArgumentError("--etcd names no endpoint");
  }
  auto log = EtcdLog::Create(log_options);
  if (!log.ok()) return log.status();
  std::unique_ptr<MetadServer> server(new MetadServer());
  auto replica = Replica::Start(std::move(*store), std::move(*log), {});
  if (!replica.ok()) return replica.status();
  server->replica_ = std::move(*replica);
  server->service_ = std::make_unique<MetadataService>(server->replica_.get());
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second metad on a busy port would
  // silently share it instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen->ToString(),
                           grpc::InsecureServerCredentials(), &server->port_);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen));
  }
  spdlog::info("metad serving on {} (etcd {})", options.listen, options.etcd);
  return server;
}

MetadServer::~MetadServer() { Shutdown(); }

void MetadServer::Shutdown() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(5));
    server_.reset();
  }
  if (replica_) replica_->Stop();
}

}  // namespace berth::meta

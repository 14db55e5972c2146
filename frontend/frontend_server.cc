#include "frontend/frontend_server.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/options.h"
#include "spdlog/spdlog.h"

namespace berth::frontend {

void AddFrontendOptions(CLI::App* app, FrontendOptions* options, bool cluster) {
  app->add_option("--listen", options->listen, "HTTP address host:port")
      ->capture_default_str();
  app->add_option("--public-endpoint", options->public_endpoint,
                  "host[:port] clients reach the registry at "
                  "(X-Docker-Endpoints); default: the request's Host");
  app->add_option("--chunk-size", options->chunk_size,
                  "layer chunk size in bytes")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{4096}, uint64_t{64} << 20));
  app->add_option("--max-json-size", options->max_json_size,
                  "largest image json accepted, bytes")
      ->capture_default_str();
  app->add_option("--max-connections", options->max_connections,
                  "concurrent HTTP connections")
      ->capture_default_str();
  if (!cluster) return;
  app->add_option("--metadata", options->metadata, "metad gRPC host:port")
      ->capture_default_str();
  app->add_option("--blobd", options->blobd,
                  "blob shards, comma-separated id=host:port")
      ->capture_default_str();
}

absl::StatusOr<std::vector<blob::Shard>> DialShards(const std::string& spec) {
  std::vector<blob::Shard> shards;
  for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, '=');
    auto hp = ParseHostPort(kv.second);
    if (kv.first.empty() || !hp.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--blobd item '", item, "' is not id=host:port"));
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    shards.push_back({kv.first, grpc::CreateCustomChannel(
                                    hp->ToString(),
                                    grpc::InsecureChannelCredentials(), args)});
  }
  if (shards.empty()) return absl::InvalidArgumentError("--blobd is empty");
  return shards;
}

absl::StatusOr<std::unique_ptr<FrontendServer>> FrontendServer::Start(
    const FrontendOptions& options,
    std::shared_ptr<grpc::Channel> metadata_channel,
    std::vector<blob::Shard> shards) {
  std::unique_ptr<FrontendServer> server(new FrontendServer());
  server->metadata_ =
      std::make_unique<meta::MetadataClient>(std::move(metadata_channel));
  blob::BlobClientOptions blob_options;
  blob_options.chunk_size = options.chunk_size;
  server->blobs_ =
      std::make_unique<blob::BlobClient>(std::move(shards), blob_options);
  RegistryOptions registry_options;
  registry_options.public_endpoint = options.public_endpoint;
  registry_options.max_json_size = options.max_json_size;
  server->registry_ = std::make_unique<Registry>(
      registry_options, server->metadata_.get(), server->blobs_.get());
  HttpServerOptions http_options;
  http_options.listen = options.listen;
  http_options.max_connections = options.max_connections;
  auto http = HttpServer::Start(http_options, server->registry_.get());
  if (!http.ok()) return http.status();
  server->http_ = std::move(*http);
  spdlog::info("frontend serving HTTP on {}", options.listen);
  return server;
}

FrontendServer::~FrontendServer() { Shutdown(); }

void FrontendServer::Shutdown() {
  if (http_) http_->Shutdown();
}

}  // namespace berth::frontend

// `berth serve`: the embedded registry. One process runs a frontend, one
// metadata replica on the local log and one blob shard, all under one data
// directory. The frontend reaches the two tiers through the same gRPC client
// libraries as in a cluster: metadata over an in-process gRPC channel, the
// blob shard through a LocalShardConnection straight onto its ChunkStore
// (no sockets, no second hash of a chunk).
#ifndef BERTH_TOOLS_SERVE_H_
#define BERTH_TOOLS_SERVE_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "frontend/frontend_server.h"

namespace grpc {
class Server;
}

namespace berth {

namespace meta {
class Replica;
class MetadataService;
}  // namespace meta
namespace blob {
class ChunkStore;
}  // namespace blob

struct ServeOptions {
  frontend::FrontendOptions frontend;
  std::string data = "./berth-data";
};

void AddServeOptions(CLI::App* app, ServeOptions* options);

// Owns every part; Start/Shutdown belong to the main thread.
class EmbeddedRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedRegistry>> Start(
      const ServeOptions& options);
  ~EmbeddedRegistry();
  int port() const { return frontend_->port(); }
  void Shutdown();

 private:
  EmbeddedRegistry() = default;
  std::unique_ptr<meta::Replica> replica_;
  std::unique_ptr<meta::MetadataService> metadata_service_;
  std::unique_ptr<blob::ChunkStore> chunks_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<frontend::FrontendServer> frontend_;
};

}  // namespace berth

#endif  // BERTH_TOOLS_SERVE_H_

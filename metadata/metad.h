// `berth metad`: one metadata replica that applies the etcd-ordered log to
// its own RocksDB and serves the Metadata gRPC service. tools/ owns main().
#ifndef BERTH_METADATA_METAD_H_
#define BERTH_METADATA_METAD_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"

namespace grpc {
class Server;
}

namespace berth::meta {

class Replica;
class MetadataService;

struct MetadOptions {
  std::string listen = "127.0.0.1:5001";
  std::string data = "./berth-data/metad";
  std::string etcd = "127.0.0.1:2379";  // comma-separated host:port list
  std::string log_key = "/berth/log";
};

void AddMetadOptions(CLI::App* app, MetadOptions* options);

// Owns the replica and the gRPC server. Start/Shutdown belong to the owning
// thread; the gRPC server's threads run the handlers.
class MetadServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetadServer>> Start(
      const MetadOptions& options);
  ~MetadServer();
  int port() const { return port_; }
  void Shutdown();

 private:
  MetadServer() = default;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<MetadataService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_METAD_H_

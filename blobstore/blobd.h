// berth blobd: one blobstore shard server (gRPC Blobstore service over a
// ChunkStore). tools/ owns main(): it adds the flags, calls Start, waits for
// a stop signal and calls Shutdown.
#ifndef BERTH_BLOBSTORE_BLOBD_H_
#define BERTH_BLOBSTORE_BLOBD_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "blobstore/blob_service.h"
#include "blobstore/chunk_store.h"
#include "common/tls.h"
#include "grpcpp/grpcpp.h"

namespace berth::blob {

struct BlobdOptions {
  std::string listen = "127.0.0.1:5002";
  std::string data = "./berth-data/blobd";
  std::string shard_id = "shard-1";
  tls::GrpcTlsFiles grpc_tls;  // server side (common/tls.h)
};

// Adds --listen, --data, --shard-id and --grpc-tls-* to `app`.
void AddBlobdOptions(CLI::App* app, BlobdOptions* options);

// A running shard server. The gRPC server's own threads run the handlers;
// Start/Shutdown/the destructor belong to the owning thread.
class BlobServer {
 public:
  // Opens the chunk store and listens. A bad or busy address and an
  // unusable data directory are errors with one clear message. Port 0
  // picks a free port (see port()).
  static absl::StatusOr<std::unique_ptr<BlobServer>> Start(
      const BlobdOptions& options);
  ~BlobServer();
  BlobServer(const BlobServer&) = delete;
  BlobServer& operator=(const BlobServer&) = delete;

  int port() const { return port_; }
  const std::string& shard_id() const { return shard_id_; }

  // Stops accepting calls, gives in-flight calls a few seconds, then
  // cancels them and waits. Idempotent.
  void Shutdown();

 private:
  BlobServer() = default;

  std::string shard_id_;
  int port_ = 0;
  std::unique_ptr<ChunkStore> store_;
  std::unique_ptr<BlobService> service_;
  std::unique_ptr<grpc::Server> server_;
  bool stopped_ = false;
};

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_BLOBD_H_

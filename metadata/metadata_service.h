// gRPC face of a Replica (sync API: each call runs on a gRPC thread and may
// block while the replica waits for the log), except GetImage, the hot
// read of every pull, which uses the callback API: a stale-ok GetImage
// (one RocksDB point lookup, never blocking) is answered inline on the
// gRPC thread that received it, with no hand-off to a sync-server thread;
// a linearizable one may wait for the log, so it runs on `reads_`, a small
// pool of this service's own threads, and finishes from there.
//
// The replica is obtained per call from a provider, so metad can replace
// it (checkpoint re-bootstrap) while serving; a null replica answers
// UNAVAILABLE ("bootstrapping") and clients retry another replica.
#ifndef BERTH_METADATA_METADATA_SERVICE_H_
#define BERTH_METADATA_METADATA_SERVICE_H_

#include <functional>
#include <memory>

#include "blobstore/worker_pool.h"
#include "metadata/replica.h"
#include "proto/metadata.grpc.pb.h"

namespace berth::meta {

using ReplicaProvider = std::function<std::shared_ptr<Replica>()>;

// absl status -> gRPC status (UNAVAILABLE stays UNAVAILABLE, ...).
grpc::Status ToGrpc(const absl::Status& st);

class MetadataService final
    : public Metadata::WithCallbackMethod_GetImage<Metadata::Service> {
 public:
  // `replica` must outlive the service (berth serve).
  explicit MetadataService(Replica* replica);
  explicit MetadataService(ReplicaProvider provider);
  // Runs the linearizable reads already queued (the server, shut down
  // first, waits for every call to finish), then joins the pool.
  ~MetadataService() override;

  grpc::ServerUnaryReactor* GetImage(grpc::CallbackServerContext* context,
                                     const GetImageRequest* request,
                                     GetImageResponse* response) override;

  grpc::Status Execute(grpc::ServerContext* context, const Command* request,
                       CommandResult* response) override;
  grpc::Status GetRepository(grpc::ServerContext* context,
                             const GetRepositoryRequest* request,
                             GetRepositoryResponse* response) override;
  grpc::Status GetTag(grpc::ServerContext* context,
                      const GetTagRequest* request,
                      GetTagResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context,
                      const SearchRequest* request,
                      SearchResponse* response) override;
  grpc::Status GetUser(grpc::ServerContext* context,
                       const GetUserRequest* request,
                       GetUserResponse* response) override;
  grpc::Status GetClusterConfig(grpc::ServerContext* context,
                                const GetClusterConfigRequest* request,
                                GetClusterConfigResponse* response) override;
  grpc::Status ListChunkRefs(grpc::ServerContext* context,
                             const ListChunkRefsRequest* request,
                             ListChunkRefsResponse* response) override;
  grpc::Status GetImageRepositories(
      grpc::ServerContext* context, const GetImageRepositoriesRequest* request,
      GetImageRepositoriesResponse* response) override;
  grpc::Status ListGarbageImages(grpc::ServerContext* context,
                                 const ListGarbageImagesRequest* request,
                                 ListGarbageImagesResponse* response) override;
  grpc::Status ListUsers(grpc::ServerContext* context,
                         const ListUsersRequest* request,
                         ListUsersResponse* response) override;

 private:
  template <class Request, class Response, class Method>
  grpc::Status Call(const Request& request, Response* response, Method method);

  const ReplicaProvider provider_;
  // Linearizable GetImage calls (each blocks one thread on the read
  // barrier); destroyed before provider_.
  std::unique_ptr<blob::WorkerPool> reads_;
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_METADATA_SERVICE_H_

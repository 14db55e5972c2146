// gRPC face of a Replica. Most methods use the sync API (each call runs
// on a gRPC thread and may block while the replica waits for the log).
// The two hot ones use the callback API:
//  - Execute hands the command to Replica::ExecuteAsync and finishes from
//    whichever replica thread completes it (usually the tail thread right
//    after apply): no gRPC thread waits for the log per write;
//  - GetImage, the hot read of every pull: a stale-ok read (one RocksDB
//    point lookup, never blocking) is answered inline on the gRPC thread
//    that received it; a linearizable one may wait for the log, so it runs
//    on `reads_`, a small pool of this service's own threads, and finishes
//    from there.
//
// The replica is obtained per call from a provider, so metad can replace
// it (checkpoint re-bootstrap) while serving; a null replica answers
// UNAVAILABLE ("bootstrapping") and clients retry another replica. A
// replica being destroyed answers its pending writes UNAVAILABLE first.
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
    : public Metadata::WithCallbackMethod_Execute<
          Metadata::WithCallbackMethod_GetImage<Metadata::Service>> {
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

  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context,
                                    const Command* request,
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

// gRPC face of a Replica (sync API: each call runs on a gRPC thread and may
// block while the replica waits for the log).
//
// The replica is obtained per call from a provider, so metad can replace
// it (checkpoint re-bootstrap) while serving; a null replica answers
// UNAVAILABLE ("bootstrapping") and clients retry another replica.
#ifndef BERTH_METADATA_METADATA_SERVICE_H_
#define BERTH_METADATA_METADATA_SERVICE_H_

#include <functional>
#include <memory>

#include "metadata/replica.h"
#include "proto/metadata.grpc.pb.h"

namespace berth::meta {

using ReplicaProvider = std::function<std::shared_ptr<Replica>()>;

// absl status -> gRPC status (UNAVAILABLE stays UNAVAILABLE, ...).
grpc::Status ToGrpc(const absl::Status& st);

class MetadataService final : public Metadata::Service {
 public:
  // `replica` must outlive the service (berth serve).
  explicit MetadataService(Replica* replica);
  explicit MetadataService(ReplicaProvider provider)
      : provider_(std::move(provider)) {}

  grpc::Status Execute(grpc::ServerContext* context, const Command* request,
                       CommandResult* response) override;
  grpc::Status GetImage(grpc::ServerContext* context,
                        const GetImageRequest* request,
                        GetImageResponse* response) override;
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
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_METADATA_SERVICE_H_

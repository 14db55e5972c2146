// gRPC face of a Replica (sync API: each call runs on a gRPC thread and may
// block while the replica waits for the log).
#ifndef BERTH_METADATA_METADATA_SERVICE_H_
#define BERTH_METADATA_METADATA_SERVICE_H_

#include "metadata/replica.h"
#include "proto/metadata.grpc.pb.h"

namespace berth::meta {

class MetadataService final : public Metadata::Service {
 public:
  explicit MetadataService(Replica* replica) : replica_(replica) {}

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

 private:
  Replica* const replica_;
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_METADATA_SERVICE_H_

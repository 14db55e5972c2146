// gRPC Admin service of a metad (proto/admin.proto): status, checkpoint
// streaming, trimming, the state digest, frontend reports and the replica
// roster. Sync API, gRPC threads.
#ifndef BERTH_METADATA_ADMIN_SERVICE_H_
#define BERTH_METADATA_ADMIN_SERVICE_H_

#include "metadata/metad.h"
#include "proto/admin.grpc.pb.h"

namespace berth::meta {

class AdminService final : public Admin::Service {
 public:
  // `server` must outlive the service.
  explicit AdminService(MetadServer* server) : server_(server) {}

  grpc::Status Status(grpc::ServerContext* context,
                      const StatusRequest* request,
                      StatusResponse* response) override;
  grpc::Status StreamCheckpoint(
      grpc::ServerContext* context, const CheckpointRequest* request,
      grpc::ServerWriter<CheckpointChunk>* writer) override;
  grpc::Status Trim(grpc::ServerContext* context, const TrimRequest* request,
                    TrimResponse* response) override;
  grpc::Status Digest(grpc::ServerContext* context,
                      const DigestRequest* request,
                      DigestResponse* response) override;
  grpc::Status ReportFrontend(grpc::ServerContext* context,
                              const FrontendReport* request,
                              ReportFrontendResponse* response) override;
  grpc::Status ListReplicas(grpc::ServerContext* context,
                            const ListReplicasRequest* request,
                            ListReplicasResponse* response) override;
  grpc::Status AddReplica(grpc::ServerContext* context,
                          const AddReplicaRequest* request,
                          AddReplicaResponse* response) override;
  grpc::Status RemoveReplica(grpc::ServerContext* context,
                             const RemoveReplicaRequest* request,
                             RemoveReplicaResponse* response) override;

 private:
  MetadServer* const server_;
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_ADMIN_SERVICE_H_

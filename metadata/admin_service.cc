#include "metadata/admin_service.h"

#include "metadata/checkpoint.h"
#include "metadata/metadata_service.h"
#include "metadata/replica.h"

namespace berth::meta {
namespace {

grpc::Status Bootstrapping() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "metadata replica is bootstrapping");
}

}  // namespace

grpc::Status AdminService::Status(grpc::ServerContext*, const StatusRequest*,
                                  StatusResponse* response) {
  absl::StatusOr<StatusResponse> st = server_->Status();
  if (!st.ok()) return ToGrpc(st.status());
  *response = std::move(*st);
  return grpc::Status::OK;
}

grpc::Status AdminService::StreamCheckpoint(
    grpc::ServerContext*, const CheckpointRequest*,
    grpc::ServerWriter<CheckpointChunk>* writer) {
  std::shared_ptr<Replica> replica = server_->replica();
  if (!replica || !replica->tail_error().ok()) return Bootstrapping();
  absl::Status st = meta::StreamCheckpoint(
      *replica->store(), server_->scratch_dir(),
      [writer](const CheckpointChunk& c) { return writer->Write(c); });
  return ToGrpc(st);
}

grpc::Status AdminService::Trim(grpc::ServerContext*,
                                const TrimRequest* request,
                                TrimResponse* response) {
  absl::StatusOr<TrimResponse> st = server_->Trim(request->defragment());
  if (!st.ok()) return ToGrpc(st.status());
  *response = std::move(*st);
  return grpc::Status::OK;
}

grpc::Status AdminService::Digest(grpc::ServerContext*, const DigestRequest*,
                                  DigestResponse* response) {
  std::shared_ptr<Replica> replica = server_->replica();
  if (!replica) return Bootstrapping();
  absl::StatusOr<Store::Digest> d = replica->store()->ComputeDigest();
  if (!d.ok()) return ToGrpc(d.status());
  response->set_applied(d->applied);
  response->set_digest(d->hex);
  response->set_records(d->records);
  return grpc::Status::OK;
}

grpc::Status AdminService::ReportFrontend(grpc::ServerContext*,
                                          const FrontendReport* request,
                                          ReportFrontendResponse*) {
  return ToGrpc(server_->ReportFrontend(*request));
}

grpc::Status AdminService::ListReplicas(grpc::ServerContext*,
                                        const ListReplicasRequest*,
                                        ListReplicasResponse* response) {
  auto st = server_->ListReplicasWithRoster();
  if (!st.ok()) return ToGrpc(st.status());
  *response = std::move(*st);
  return grpc::Status::OK;
}

grpc::Status AdminService::AddReplica(grpc::ServerContext*,
                                      const AddReplicaRequest* request,
                                      AddReplicaResponse* response) {
  auto st = server_->AddReplica(request->member());
  if (!st.ok()) return ToGrpc(st.status());
  *response = std::move(*st);
  return grpc::Status::OK;
}

grpc::Status AdminService::RemoveReplica(grpc::ServerContext*,
                                         const RemoveReplicaRequest* request,
                                         RemoveReplicaResponse*) {
  return ToGrpc(server_->RemoveReplica(request->id(), request->force()));
}

}  // namespace berth::meta

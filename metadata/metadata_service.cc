#include "metadata/metadata_service.h"

namespace berth::meta {
namespace {

grpc::Status ToGrpc(const absl::Status& st) {
  grpc::StatusCode code;
  switch (st.code()) {
    case absl::StatusCode::kOk:
      return grpc::Status::OK;
    case absl::StatusCode::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case absl::StatusCode::kDeadlineExceeded:
      code = grpc::StatusCode::DEADLINE_EXCEEDED;
      break;
    case absl::StatusCode::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case absl::StatusCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    default:
      code = grpc::StatusCode::INTERNAL;
  }
  return grpc::Status(code, std::string(st.message()));
}

template <class Response>
grpc::Status Answer(absl::StatusOr<Response> result, Response* response) {
  if (!result.ok()) return ToGrpc(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status MetadataService::Execute(grpc::ServerContext*,
                                      const Command* request,
                                      CommandResult* response) {
  return Answer(replica_->Execute(*request), response);
}

grpc::Status MetadataService::GetImage(grpc::ServerContext*,
                                       const GetImageRequest* request,
                                       GetImageResponse* response) {
  return Answer(replica_->GetImage(*request), response);
}

grpc::Status MetadataService::GetRepository(
    grpc::ServerContext*, const GetRepositoryRequest* request,
    GetRepositoryResponse* response) {
  return Answer(replica_->GetRepository(*request), response);
}

grpc::Status MetadataService::GetTag(grpc::ServerContext*,
                                     const GetTagRequest* request,
                                     GetTagResponse* response) {
  return Answer(replica_->GetTag(*request), response);
}

}  // namespace berth::meta

#include "metadata/metadata_service.h"

#include "absl/time/time.h"

namespace berth::meta {

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
    case absl::StatusCode::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case absl::StatusCode::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    default:
      code = grpc::StatusCode::INTERNAL;
  }
  return grpc::Status(code, std::string(st.message()));
}

namespace {
// Threads answering linearizable GetImage calls. They mostly wait: the
// read barrier serves every reader of a round with one etcd Range, so a
// few dozen threads carry thousands of reads/s (the sync server's other
// methods keep their own threads).
constexpr int kLinearizableReadThreads = 64;
}  // namespace

MetadataService::MetadataService(Replica* replica)
    : MetadataService([replica] {
        // Non-owning: berth serve owns the replica.
        return std::shared_ptr<Replica>(std::shared_ptr<Replica>(), replica);
      }) {}

MetadataService::MetadataService(ReplicaProvider provider)
    : provider_(std::move(provider)),
      reads_(std::make_unique<blob::WorkerPool>(kLinearizableReadThreads)) {}

MetadataService::~MetadataService() { reads_.reset(); }

grpc::ServerUnaryReactor* MetadataService::GetImage(
    grpc::CallbackServerContext* context, const GetImageRequest* request,
    GetImageResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Owner: runs on the calling gRPC thread (stale-ok: never blocks) or on
  // a reads_ thread; `request`/`response` live until Finish.
  auto answer = [this, request, response, reactor] {
    reactor->Finish(Call(*request, response, &Replica::GetImage));
  };
  if (request->read().stale_ok()) {
    answer();
    return reactor;
  }
  reads_->Submit([context, reactor, answer] {
    // A caller whose deadline passed while the read was queued (etcd slow
    // or cut off) is gone: free the thread for the next read.
    if (context->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                   "cancelled while queued"));
      return;
    }
    answer();
  });
  return reactor;
}

template <class Request, class Response, class Method>
grpc::Status MetadataService::Call(const Request& request, Response* response,
                                   Method method) {
  std::shared_ptr<Replica> replica = provider_();
  if (!replica) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "metadata replica is bootstrapping");
  }
  absl::StatusOr<Response> result = ((*replica).*method)(request);
  if (!result.ok()) return ToGrpc(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* MetadataService::Execute(
    grpc::CallbackServerContext* context, const Command* request,
    CommandResult* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::shared_ptr<Replica> replica = provider_();
  if (!replica) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "metadata replica is bootstrapping"));
    return reactor;
  }
  // `request`/`response` live until Finish. The callback holds no
  // reference to the replica: a replica being destroyed answers it first.
  replica->ExecuteAsync(
      *request, [response, reactor](absl::StatusOr<CommandResult> result) {
        if (!result.ok()) {
          reactor->Finish(ToGrpc(result.status()));
          return;
        }
        *response = std::move(*result);
        reactor->Finish(grpc::Status::OK);
      },
      absl::FromChrono(context->deadline()));
  return reactor;
}
grpc::Status MetadataService::GetRepository(
    grpc::ServerContext*, const GetRepositoryRequest* request,
    GetRepositoryResponse* response) {
  return Call(*request, response, &Replica::GetRepository);
}
grpc::Status MetadataService::GetTag(grpc::ServerContext*,
                                     const GetTagRequest* request,
                                     GetTagResponse* response) {
  return Call(*request, response, &Replica::GetTag);
}
grpc::Status MetadataService::Search(grpc::ServerContext*,
                                     const SearchRequest* request,
                                     SearchResponse* response) {
  return Call(*request, response, &Replica::Search);
}
grpc::Status MetadataService::GetUser(grpc::ServerContext*,
                                      const GetUserRequest* request,
                                      GetUserResponse* response) {
  return Call(*request, response, &Replica::GetUser);
}
grpc::Status MetadataService::GetClusterConfig(
    grpc::ServerContext*, const GetClusterConfigRequest* request,
    GetClusterConfigResponse* response) {
  return Call(*request, response, &Replica::GetClusterConfig);
}
grpc::Status MetadataService::ListChunkRefs(
    grpc::ServerContext*, const ListChunkRefsRequest* request,
    ListChunkRefsResponse* response) {
  return Call(*request, response, &Replica::ListChunkRefs);
}
grpc::Status MetadataService::GetImageRepositories(
    grpc::ServerContext*, const GetImageRepositoriesRequest* request,
    GetImageRepositoriesResponse* response) {
  return Call(*request, response, &Replica::GetImageRepositories);
}
grpc::Status MetadataService::ListGarbageImages(
    grpc::ServerContext*, const ListGarbageImagesRequest* request,
    ListGarbageImagesResponse* response) {
  return Call(*request, response, &Replica::ListGarbageImages);
}

grpc::Status MetadataService::ListUsers(grpc::ServerContext*,
                                        const ListUsersRequest* request,
                                        ListUsersResponse* response) {
  return Call(*request, response, &Replica::ListUsers);
}

}  // namespace berth::meta

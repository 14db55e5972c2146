#include "metadata/metadata_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "proto/metadata.grpc.pb.h"

namespace berth::meta {
namespace {

constexpr int kMaxMessage = 64 << 20;

absl::Status FromGrpc(const grpc::Status& st) {
  std::string msg = absl::StrCat("metadata: ", st.error_message());
  switch (st.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return absl::InvalidArgumentError(msg);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return absl::ResourceExhaustedError(msg);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

bool Retryable(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::UNAVAILABLE;
}

}  // namespace

class MetadataClient::Impl {
 public:
  Impl(std::shared_ptr<grpc::Channel> channel, MetadataClientOptions options)
      : stub_(Metadata::NewStub(channel)), options_(options) {}

  // Calls `rpc` up to options_.attempts times while the server is
  // unreachable; backoff doubles from 50 ms.
  template <class Request, class Response, class Rpc>
  absl::StatusOr<Response> Call(const Request& request, Rpc rpc) {
    grpc::Status st;
    auto backoff = std::chrono::milliseconds(50);
    for (int attempt = 0; attempt < options_.attempts; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           absl::ToChronoMilliseconds(options_.call_timeout));
      Response response;
      st = (stub_.get()->*rpc)(&context, request, &response);
      if (st.ok()) return response;
      if (!Retryable(st)) break;
      if (attempt + 1 < options_.attempts) {
        std::this_thread::sleep_for(backoff);  // backoff between attempts
        backoff *= 2;
      }
    }
    return FromGrpc(st);
  }

  std::unique_ptr<Metadata::Stub> stub_;
  const MetadataClientOptions options_;
};

MetadataClient::MetadataClient(std::shared_ptr<grpc::Channel> channel,
                               MetadataClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(channel), options)) {}

MetadataClient::~MetadataClient() = default;

absl::StatusOr<CommandResult> MetadataClient::Execute(Command command) {
  if (command.request_id().empty()) command.set_request_id(RandomHex(16));
  return impl_->Call<Command, CommandResult>(command,
                                             &Metadata::Stub::Execute);
}

absl::StatusOr<GetImageResponse> MetadataClient::GetImage(
    const GetImageRequest& request) {
  return impl_->Call<GetImageRequest, GetImageResponse>(
      request, &Metadata::Stub::GetImage);
}

absl::StatusOr<GetRepositoryResponse> MetadataClient::GetRepository(
    const GetRepositoryRequest& request) {
  return impl_->Call<GetRepositoryRequest, GetRepositoryResponse>(
      request, &Metadata::Stub::GetRepository);
}

absl::StatusOr<GetTagResponse> MetadataClient::GetTag(
    const GetTagRequest& request) {
  return impl_->Call<GetTagRequest, GetTagResponse>(request,
                                                    &Metadata::Stub::GetTag);
}

std::shared_ptr<grpc::Channel> DialMetadata(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessage);
  args.SetMaxSendMessageSize(kMaxMessage);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace berth::meta

// Client library of the metadata tier: what frontends (and later berthctl)
// use to reach a metadata replica over gRPC. Thread-safe; one instance is
// shared by all request threads of a frontend.
//
// Domain errors come back inside the response (`error().reason()`); an
// error Status means the call could not be answered (UNAVAILABLE: the
// outcome of a write is unknown, never a guess).
#ifndef BERTH_METADATA_METADATA_CLIENT_H_
#define BERTH_METADATA_METADATA_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/metadata.pb.h"

namespace grpc {
class Channel;
}

namespace berth::meta {

struct MetadataClientOptions {
  absl::Duration call_timeout = absl::Seconds(30);
  int attempts = 3;  // per call, same request id on every attempt
};

class MetadataClient {
 public:
  MetadataClient(std::shared_ptr<grpc::Channel> channel,
                 MetadataClientOptions options = {});
  ~MetadataClient();

  // Fills in a fresh request id when `command` has none.
  absl::StatusOr<CommandResult> Execute(Command command);
  absl::StatusOr<GetImageResponse> GetImage(const GetImageRequest& request);
  absl::StatusOr<GetRepositoryResponse> GetRepository(
      const GetRepositoryRequest& request);
  absl::StatusOr<GetTagResponse> GetTag(const GetTagRequest& request);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Opens a channel to a metad at "host:port" with Berth's message limits.
std::shared_ptr<grpc::Channel> DialMetadata(const std::string& address);

}  // namespace berth::meta

#endif  // BERTH_METADATA_METADATA_CLIENT_H_

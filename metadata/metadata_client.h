// Client library of the metadata tier: what frontends and berthctl use to
// reach metadata replicas over gRPC. Thread-safe; one instance is shared by
// all request threads of a frontend.
//
// Several replicas: every call has a deadline (call_timeout per attempt);
// on UNAVAILABLE (replica down, bootstrapping, etcd unreachable: outcome
// unknown) it is retried on the next replica after a backoff (50 ms
// doubling to 1 s), `attempts` times in all. Writes keep their request id
// across attempts, so a retry returns the first outcome, never a second
// application.
//
// Domain errors come back inside the response (`error().reason()`, mapped
// to HTTP codes by HttpStatusForReason); an error Status means the call
// could not be answered: UNAVAILABLE (a write's outcome is unknown, never
// a guess; HTTP 503).
#ifndef BERTH_METADATA_METADATA_CLIENT_H_
#define BERTH_METADATA_METADATA_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"
#include "proto/admin.pb.h"
#include "proto/metadata.pb.h"

namespace grpc {
class Channel;
}

namespace berth::meta {

struct MetadataClientOptions {
  absl::Duration call_timeout = absl::Seconds(30);  // deadline per attempt
  int attempts = 4;  // in all, over the replicas; at least replicas + 1
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(1);
  // Bound on one call, all attempts and backoffs included (each attempt's
  // deadline is cut to what is left). A replica that cannot reach the log
  // (e.g. in a zone cut off from etcd's quorum) answers UNAVAILABLE only
  // after its own etcd deadline; this keeps a frontend's 503 prompt.
  absl::Duration total_timeout = absl::InfiniteDuration();
};

// The HTTP status a frontend answers for a domain error (0 = success).
int HttpStatusForReason(Reason reason);

class MetadataClient {
 public:
  // One channel (which may itself balance over several replicas, see
  // DialMetadata) or one channel per replica.
  explicit MetadataClient(std::shared_ptr<grpc::Channel> channel,
                          MetadataClientOptions options = {});
  explicit MetadataClient(std::vector<std::shared_ptr<grpc::Channel>> channels,
                          MetadataClientOptions options = {});
  ~MetadataClient();

  // "host:port,host:port,...": one channel per replica. INVALID_ARGUMENT
  // for a malformed list.
  // `security` (default insecure) applies to every channel.
  static absl::StatusOr<std::unique_ptr<MetadataClient>> Connect(
      const std::string& addresses, MetadataClientOptions options = {},
      const tls::ChannelSecurity& security = {});

  // Fills in a fresh request id when `command` has none.
  absl::StatusOr<CommandResult> Execute(Command command);
  absl::StatusOr<GetImageResponse> GetImage(const GetImageRequest& request);
  absl::StatusOr<GetRepositoryResponse> GetRepository(
      const GetRepositoryRequest& request);
  absl::StatusOr<GetTagResponse> GetTag(const GetTagRequest& request);
  absl::StatusOr<SearchResponse> Search(const SearchRequest& request);
  absl::StatusOr<GetUserResponse> GetUser(const GetUserRequest& request);
  absl::StatusOr<GetClusterConfigResponse> GetClusterConfig(
      const GetClusterConfigRequest& request = {});
  absl::StatusOr<ListChunkRefsResponse> ListChunkRefs(
      const ListChunkRefsRequest& request);
  // The repositories listing an image, with their private flag and owner
  // (read permission on images, spec §2.0). Empty when none lists it.
  absl::StatusOr<GetImageRepositoriesResponse> GetImageRepositories(
      const GetImageRepositoriesRequest& request);
  // gc's mark phase, answered by one replica from one snapshot.
  absl::StatusOr<ListGarbageImagesResponse> ListGarbageImages(
      const ListGarbageImagesRequest& request);

  // Accounts in name order, paged (password hashes never included).
  absl::StatusOr<ListUsersResponse> ListUsers(const ListUsersRequest& request);

  // Accounts. The password is hashed here (scrypt, metadata/password.h),
  // before any command exists: the log never carries it in clear.
  absl::StatusOr<CommandResult> CreateUser(const std::string& username,
                                           const std::string& password,
                                           const std::string& email,
                                           bool admin, bool active,
                                           int64_t now_unix);
  // Empty `password` / `add_email` and unset optionals leave fields alone.
  absl::StatusOr<CommandResult> UpdateUser(const std::string& username,
                                           const std::string& password,
                                           const std::string& add_email,
                                           std::optional<bool> admin,
                                           std::optional<bool> active);
  struct PasswordCheck {
    bool known = false;    // the user exists
    bool matches = false;  // and the password is right
    UserRecord user;       // when known (hash included)
  };
  // Linearizable user read; the hash is checked here, not on the replica.
  absl::StatusOr<PasswordCheck> VerifyPassword(const std::string& username,
                                               const std::string& password);
  // Returns the cluster config, storing a fresh random 32-byte token secret
  // first if none exists (the first proposer's secret wins).
  absl::StatusOr<ClusterConfig> EnsureTokenSecret();

  // Makes a fresh random 32-byte secret the newest token secret; the
  // previous one stays valid beside it (ClusterConfig.token_secrets).
  absl::StatusOr<CommandResult> RotateTokenSecret();

  // Admin calls answered by any replica (failover as for reads). NOT_FOUND
  // and FAILED_PRECONDITION come back as such (RemoveReplica).
  absl::StatusOr<ReportFrontendResponse> ReportFrontend(
      const FrontendReport& report);
  absl::StatusOr<ListReplicasResponse> ListReplicas();
  absl::StatusOr<AddReplicaResponse> AddReplica(const AddReplicaRequest& request);
  absl::StatusOr<RemoveReplicaResponse> RemoveReplica(
      const RemoveReplicaRequest& request);

  // Admin calls to replica `index` (< replica_count()), no failover.
  size_t replica_count() const;
  absl::StatusOr<StatusResponse> Status(size_t index);
  absl::StatusOr<DigestResponse> Digest(size_t index);
  absl::StatusOr<TrimResponse> Trim(size_t index, bool defragment);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Opens a channel with Berth's message limits to a metad at "host:port",
// or to several ("host:port,host:port,..."): then one channel balancing
// round-robin over all of them (a replica that is down is skipped), which
// is what a frontend given only one channel uses. With TLS, server
// certificates must name the (first) address's host unless
// security.server_name says otherwise.
//
// `prefer_first`: instead of round-robin, every call goes to the first
// address that connects, in list order (gRPC pick_first). A frontend lists
// its own zone's metad first: its reads stay in the zone, and a replica in
// another zone that the network cut off (silently: no reset, the
// connection just stops answering) is never in its path. It moves on only
// when its connection fails, and starts again from the first address on
// the next reconnect.
std::shared_ptr<grpc::Channel> DialMetadata(
    const std::string& addresses, const tls::ChannelSecurity& security = {},
    bool prefer_first = false);

}  // namespace berth::meta

#endif  // BERTH_METADATA_METADATA_CLIENT_H_

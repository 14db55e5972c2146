#include "metadata/metadata_client.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/options.h"
#include "common/random.h"
#include "metadata/password.h"
#include "proto/admin.grpc.pb.h"
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
    case grpc::StatusCode::NOT_FOUND:  // admin calls (domain errors of
      return absl::NotFoundError(msg);  // the Metadata service are replies)
    case grpc::StatusCode::FAILED_PRECONDITION:
      return absl::FailedPreconditionError(msg);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// `tls_host`: the name TLS checks in the server's certificate when the
// target's authority is no host (an "ipv4:" list); "" = the target's.
std::shared_ptr<grpc::Channel> Dial(const std::string& target,
                                    bool round_robin,
                                    const tls::ChannelSecurity& security,
                                    const std::string& tls_host = "") {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessage);
  args.SetMaxSendMessageSize(kMaxMessage);
  // Find a restarted replica quickly instead of gRPC's 1 s..120 s backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  if (round_robin) args.SetLoadBalancingPolicyName("round_robin");
  security.ApplyTo(tls_host, &args);
  return grpc::CreateCustomChannel(target, security.Credentials(), args);
}

// "127.0.0.1:5001" for "localhost:5001"; "" if not resolvable to IPv4.
std::string ResolveIpv4(const std::string& address) {
  auto hp = ParseHostPort(address);
  if (!hp.ok()) return "";
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  if (getaddrinfo(hp->host.c_str(), nullptr, &hints, &res) != 0 || !res) {
    return "";
  }
  char buf[INET_ADDRSTRLEN];
  const auto* sin = reinterpret_cast<const sockaddr_in*>(res->ai_addr);
  std::string out;
  if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf))) {
    out = absl::StrCat(buf, ":", hp->port);
  }
  freeaddrinfo(res);
  return out;
}

}  // namespace

int HttpStatusForReason(Reason reason) {
  switch (reason) {
    case REASON_UNSPECIFIED:
      return 0;
    case IMAGE_NOT_FOUND:
    case REPOSITORY_NOT_FOUND:
    case TAG_NOT_FOUND:
    case USER_NOT_FOUND:
    case SHARD_NOT_FOUND:
    case CHUNK_NOT_FOUND:
      return 404;
    case IMAGE_ALREADY_EXISTS:
      return 409;
    case TOO_LARGE:
      return 413;
    case UPLOAD_EXPIRED:  // not the client's fault: retry the upload
      return 503;
    case STORAGE_ERROR:
      return 500;
    default:  // INVALID_ARGUMENT, PARENT_NOT_FOUND, CHECKSUM_MISMATCH, ...
      return 400;
  }
}

class MetadataClient::Impl {
 public:
  Impl(std::vector<std::shared_ptr<grpc::Channel>> channels,
       MetadataClientOptions options)
      : options_(options) {
    for (auto& ch : channels) {
      stubs_.push_back(Metadata::NewStub(ch));
      admin_.push_back(Admin::NewStub(ch));
    }
    options_.attempts =
        std::max(options_.attempts, static_cast<int>(stubs_.size()) + 1);
  }

  // Calls `rpc` on replica after replica while the answer is UNAVAILABLE,
  // with a backoff between attempts; each attempt has its own deadline.
  template <class Request, class Response, class Rpc>
  absl::StatusOr<Response> Call(const Request& request, Rpc rpc) {
    grpc::Status st;
    absl::Duration backoff = options_.initial_backoff;
    size_t index = next_.fetch_add(1) % stubs_.size();
    const absl::Time end = absl::Now() + options_.total_timeout;
    for (int attempt = 0; attempt < options_.attempts; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(
          std::min(absl::Now() + options_.call_timeout, end)));
      Response response;
      st = (stubs_[index].get()->*rpc)(&context, request, &response);
      if (st.ok()) return response;
      if (st.error_code() != grpc::StatusCode::UNAVAILABLE) break;
      index = (index + 1) % stubs_.size();  // another replica
      if (absl::Now() + backoff >= end) break;  // no time for another try
      if (attempt + 1 < options_.attempts) {
        std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
        backoff = std::min(backoff * 2, options_.max_backoff);
      }
    }
    return FromGrpc(st);
  }

  // Call() for the Admin service: fails over between replicas.
  template <class Request, class Response, class Rpc>
  absl::StatusOr<Response> CallAnyAdmin(const Request& request, Rpc rpc) {
    grpc::Status st;
    absl::Duration backoff = options_.initial_backoff;
    size_t index = next_.fetch_add(1) % admin_.size();
    for (int attempt = 0; attempt < options_.attempts; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(
          absl::ToChronoTime(absl::Now() + options_.call_timeout));
      Response response;
      st = (admin_[index].get()->*rpc)(&context, request, &response);
      if (st.ok()) return response;
      if (st.error_code() != grpc::StatusCode::UNAVAILABLE) break;
      index = (index + 1) % admin_.size();
      if (attempt + 1 < options_.attempts) {
        std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
        backoff = std::min(backoff * 2, options_.max_backoff);
      }
    }
    return FromGrpc(st);
  }

  template <class Request, class Response, class Rpc>
  absl::StatusOr<Response> CallAdmin(size_t index, const Request& request,
                                     Rpc rpc) {
    if (index >= admin_.size()) {
      return absl::InvalidArgumentError("no such replica");
    }
    grpc::ClientContext context;
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.call_timeout));
    Response response;
    grpc::Status st = (admin_[index].get()->*rpc)(&context, request, &response);
    if (!st.ok()) return FromGrpc(st);
    return response;
  }

  std::vector<std::unique_ptr<Metadata::Stub>> stubs_;
  std::vector<std::unique_ptr<Admin::Stub>> admin_;
  MetadataClientOptions options_;
  std::atomic<size_t> next_{0};  // spreads first attempts over replicas
};

MetadataClient::MetadataClient(std::shared_ptr<grpc::Channel> channel,
                               MetadataClientOptions options)
    : MetadataClient(std::vector<std::shared_ptr<grpc::Channel>>{
                         std::move(channel)},
                     options) {}

MetadataClient::MetadataClient(
    std::vector<std::shared_ptr<grpc::Channel>> channels,
    MetadataClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(channels), options)) {}

MetadataClient::~MetadataClient() = default;

absl::StatusOr<std::unique_ptr<MetadataClient>> MetadataClient::Connect(
    const std::string& addresses, MetadataClientOptions options,
    const tls::ChannelSecurity& security) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (absl::string_view a : absl::StrSplit(addresses, ',', absl::SkipEmpty())) {
    auto hp = ParseHostPort(std::string(a));
    if (!hp.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata address '", a, "': ", hp.status().message()));
    }
    channels.push_back(Dial(hp->ToString(), /*round_robin=*/false, security));
  }
  if (channels.empty()) {
    return absl::InvalidArgumentError("no metadata address given");
  }
  return std::make_unique<MetadataClient>(std::move(channels), options);
}

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

absl::StatusOr<SearchResponse> MetadataClient::Search(
    const SearchRequest& request) {
  return impl_->Call<SearchRequest, SearchResponse>(request,
                                                    &Metadata::Stub::Search);
}

absl::StatusOr<GetUserResponse> MetadataClient::GetUser(
    const GetUserRequest& request) {
  return impl_->Call<GetUserRequest, GetUserResponse>(request,
                                                      &Metadata::Stub::GetUser);
}

absl::StatusOr<GetClusterConfigResponse> MetadataClient::GetClusterConfig(
    const GetClusterConfigRequest& request) {
  return impl_->Call<GetClusterConfigRequest, GetClusterConfigResponse>(
      request, &Metadata::Stub::GetClusterConfig);
}

absl::StatusOr<ListChunkRefsResponse> MetadataClient::ListChunkRefs(
    const ListChunkRefsRequest& request) {
  return impl_->Call<ListChunkRefsRequest, ListChunkRefsResponse>(
      request, &Metadata::Stub::ListChunkRefs);
}

absl::StatusOr<GetImageRepositoriesResponse>
MetadataClient::GetImageRepositories(
    const GetImageRepositoriesRequest& request) {
  return impl_->Call<GetImageRepositoriesRequest, GetImageRepositoriesResponse>(
      request, &Metadata::Stub::GetImageRepositories);
}

absl::StatusOr<ListGarbageImagesResponse> MetadataClient::ListGarbageImages(
    const ListGarbageImagesRequest& request) {
  return impl_->Call<ListGarbageImagesRequest, ListGarbageImagesResponse>(
      request, &Metadata::Stub::ListGarbageImages);
}

absl::StatusOr<ListUsersResponse> MetadataClient::ListUsers(
    const ListUsersRequest& request) {
  return impl_->Call<ListUsersRequest, ListUsersResponse>(
      request, &Metadata::Stub::ListUsers);
}

absl::StatusOr<CommandResult> MetadataClient::CreateUser(
    const std::string& username, const std::string& password,
    const std::string& email, bool admin, bool active, int64_t now_unix) {
  absl::StatusOr<std::string> hash = HashPassword(password);
  if (!hash.ok()) return hash.status();
  Command c;
  meta::CreateUser* u = c.mutable_create_user();
  u->set_username(username);
  u->set_email(email);
  u->set_password_hash(*hash);
  u->set_admin(admin);
  u->set_active(active);
  u->set_now_unix(now_unix);
  return Execute(std::move(c));
}

absl::StatusOr<CommandResult> MetadataClient::UpdateUser(
    const std::string& username, const std::string& password,
    const std::string& add_email, std::optional<bool> admin,
    std::optional<bool> active) {
  Command c;
  meta::UpdateUser* u = c.mutable_update_user();
  u->set_username(username);
  u->set_add_email(add_email);
  if (!password.empty()) {
    absl::StatusOr<std::string> hash = HashPassword(password);
    if (!hash.ok()) return hash.status();
    u->set_password_hash(*hash);
  }
  if (admin) {
    u->set_has_admin(true);
    u->set_admin(*admin);
  }
  if (active) {
    u->set_has_active(true);
    u->set_active(*active);
  }
  return Execute(std::move(c));
}

absl::StatusOr<MetadataClient::PasswordCheck> MetadataClient::VerifyPassword(
    const std::string& username, const std::string& password) {
  GetUserRequest req;
  req.set_username(username);
  absl::StatusOr<GetUserResponse> resp = GetUser(req);
  if (!resp.ok()) return resp.status();
  PasswordCheck check;
  if (resp->error().reason() != REASON_UNSPECIFIED) return check;
  check.known = true;
  check.matches = meta::VerifyPassword(password, resp->user().password_hash());
  check.user = resp->user();
  return check;
}

absl::StatusOr<ClusterConfig> MetadataClient::EnsureTokenSecret() {
  absl::StatusOr<GetClusterConfigResponse> config = GetClusterConfig();
  if (!config.ok()) return config.status();
  if (config->config().token_secrets_size() > 0) return config->config();
  Command c;
  // 32 random bytes chosen here, by the proposer; apply keeps the first.
  const std::string secret = absl::HexStringToBytes(RandomHex(32));
  c.mutable_init_token_secret()->set_secret(secret);
  absl::StatusOr<CommandResult> r = Execute(std::move(c));
  if (!r.ok()) return r.status();
  config = GetClusterConfig();
  if (!config.ok()) return config.status();
  return config->config();
}

absl::StatusOr<CommandResult> MetadataClient::RotateTokenSecret() {
  Command c;
  // 32 fresh random bytes, chosen by the proposer (apply has no RNG).
  c.mutable_rotate_token_secret()->set_secret(
      absl::HexStringToBytes(RandomHex(32)));
  return Execute(std::move(c));
}

size_t MetadataClient::replica_count() const { return impl_->admin_.size(); }

absl::StatusOr<StatusResponse> MetadataClient::Status(size_t index) {
  return impl_->CallAdmin<StatusRequest, StatusResponse>(index, StatusRequest(),
                                                         &Admin::Stub::Status);
}

absl::StatusOr<DigestResponse> MetadataClient::Digest(size_t index) {
  return impl_->CallAdmin<DigestRequest, DigestResponse>(index, DigestRequest(),
                                                         &Admin::Stub::Digest);
}

absl::StatusOr<TrimResponse> MetadataClient::Trim(size_t index,
                                                  bool defragment) {
  TrimRequest req;
  req.set_defragment(defragment);
  return impl_->CallAdmin<TrimRequest, TrimResponse>(index, req,
                                                     &Admin::Stub::Trim);
}

absl::StatusOr<ReportFrontendResponse> MetadataClient::ReportFrontend(
    const FrontendReport& report) {
  return impl_->CallAnyAdmin<FrontendReport, ReportFrontendResponse>(
      report, &Admin::Stub::ReportFrontend);
}

absl::StatusOr<ListReplicasResponse> MetadataClient::ListReplicas() {
  return impl_->CallAnyAdmin<ListReplicasRequest, ListReplicasResponse>(
      ListReplicasRequest(), &Admin::Stub::ListReplicas);
}

absl::StatusOr<AddReplicaResponse> MetadataClient::AddReplica(
    const AddReplicaRequest& request) {
  return impl_->CallAnyAdmin<AddReplicaRequest, AddReplicaResponse>(
      request, &Admin::Stub::AddReplica);
}

absl::StatusOr<RemoveReplicaResponse> MetadataClient::RemoveReplica(
    const RemoveReplicaRequest& request) {
  return impl_->CallAnyAdmin<RemoveReplicaRequest, RemoveReplicaResponse>(
      request, &Admin::Stub::RemoveReplica);
}

std::shared_ptr<grpc::Channel> DialMetadata(
    const std::string& addresses, const tls::ChannelSecurity& security,
    bool prefer_first) {
  std::vector<std::string> list =
      absl::StrSplit(addresses, ',', absl::SkipEmpty());
  if (list.size() <= 1) {
    return Dial(addresses, /*round_robin=*/false, security);
  }
  std::vector<std::string> resolved;
  for (const std::string& a : list) {
    std::string ip = ResolveIpv4(a);
    if (ip.empty()) return Dial(list[0], /*round_robin=*/false, security);
    resolved.push_back(ip);
  }
  auto first = ParseHostPort(list[0]);
  // Without round_robin gRPC uses pick_first: the addresses in list order.
  return Dial(absl::StrCat("ipv4:", absl::StrJoin(resolved, ",")),
              /*round_robin=*/!prefer_first, security,
              first.ok() ? first->host : "");
}

}  // namespace berth::meta

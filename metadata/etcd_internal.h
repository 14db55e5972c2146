// Internal to metadata/etcd_log*.cc: the per-endpoint channel and stubs,
// etcd error mapping and the failover loop shared by the log and its
// maintenance calls. Not part of the public interface.
#ifndef BERTH_METADATA_ETCD_INTERNAL_H_
#define BERTH_METADATA_ETCD_INTERNAL_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "metadata/etcd_log.h"
#include "proto/etcd/rpc.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace berth::meta {
namespace etcd_internal {

// How long one unary call waits for a not-yet-connected channel before it
// moves on to the next endpoint (bounded by the call's own deadline).
inline constexpr absl::Duration kConnectWait = absl::Seconds(1);

// etcd's error strings (etcdserver/api/v3rpc/rpctypes/error.go).
inline constexpr char kNoSpace[] = "etcdserver: mvcc: database space exceeded";
inline constexpr char kNoLeader[] = "etcdserver: no leader";
inline constexpr char kTooLarge[] = "etcdserver: request is too large";


// etcd rejects a request carrying this metadata with "no leader" before
// handling it (v3rpc's unary interceptor), and cancels such a watch when
// the member loses its leader; clientv3.WithRequireLeader sends it.
inline void RequireLeader(grpc::ClientContext* ctx) {
  ctx->AddMetadata("hasleader", "true");
}

inline bool IsNoLeader(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE &&
         absl::StrContains(s.error_message(), kNoLeader);
}

// Errors after which a read may be repeated on another endpoint.
inline bool IsTransient(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::INTERNAL:
      return true;
    default:
      return false;
  }
}

inline absl::Status MapError(const grpc::Status& s, const std::string& target,
                      const char* what) {
  std::string msg =
      absl::StrFormat("etcd %s on %s failed: %s (grpc code %d)", what, target,
                      s.error_message(), static_cast<int>(s.error_code()));
  if (absl::StrContains(s.error_message(), kNoSpace)) {
    spdlog::error(
        "etcd is out of space (NOSPACE alarm) on {}: the Berth log cannot "
        "grow. Trim the log (compact), defragment every member, then disarm "
        "the alarm (etcdctl alarm disarm). {}",
        target, msg);
    return absl::ResourceExhaustedError(msg);
  }
  if (absl::StrContains(s.error_message(), kTooLarge)) {
    return absl::InvalidArgumentError(msg);
  }
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::DeadlineExceededError(msg);
  }
  return absl::UnavailableError(msg);
}

inline std::string StripScheme(std::string endpoint) {
  for (const char* prefix : {"http://", "dns:///"}) {
    if (absl::StartsWith(endpoint, prefix)) {
      endpoint = endpoint.substr(strlen(prefix));
    }
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint;
}

// Waits until `channel` is connected or `until` passes (a past `until`
// only checks; it still asks an idle channel to connect).
inline bool WaitConnected(grpc::Channel* channel, absl::Time until) {
  grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_SHUTDOWN || absl::Now() >= until) return false;
    if (!channel->WaitForStateChange(state, absl::ToChronoTime(until))) {
      return false;
    }
    state = channel->GetState(/*try_to_connect=*/true);
  }
  return true;
}

}  // namespace etcd_internal

struct EtcdLog::Endpoint {
  std::string target;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
};

namespace etcd_internal {

// Runs `rpc` against the endpoints of `endpoints`, starting at `*preferred`,
// until one answers or `deadline` passes. `rpc` is only issued on connected
// channels. A sent request is repeated elsewhere only if `idempotent` (reads)
// or if etcd refused it with "no leader" before handling it.
template <typename Endpoint, typename Rpc>
absl::Status CallWithFailover(
    const std::vector<std::unique_ptr<Endpoint>>& endpoints,
    std::atomic<size_t>* preferred, absl::Time deadline, bool idempotent,
    const char* what, Rpc rpc) {
  const size_t n = endpoints.size();
  const size_t start = preferred->load() % n;
  absl::Status last_error;
  for (int pass = 0;; ++pass) {
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (start + k) % n;
      Endpoint& ep = *endpoints[i];
      // First pass: only channels that are connected already. Later
      // passes: give each channel a moment to connect.
      absl::Time until = pass == 0
                             ? absl::InfinitePast()
                             : std::min(deadline, absl::Now() + kConnectWait);
      if (!WaitConnected(ep.channel.get(), until)) continue;
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(deadline));
      RequireLeader(&ctx);
      grpc::Status s = rpc(ep, &ctx);
      if (s.ok()) {
        preferred->store(i);
        return absl::OkStatus();
      }
      last_error = MapError(s, ep.target, what);
      bool retry = IsNoLeader(s) || (idempotent && IsTransient(s));
      if (!retry || absl::Now() >= deadline) return last_error;
      spdlog::debug("{}; trying the next etcd endpoint",
                    std::string(last_error.message()));
    }
    if (absl::Now() >= deadline) break;
  }
  if (!last_error.ok()) return last_error;
  std::vector<std::string> targets;
  for (const auto& ep : endpoints) targets.push_back(ep->target);
  return absl::UnavailableError(
      absl::StrCat("etcd ", what,
                   ": no etcd endpoint reachable before the "
                   "deadline (",
                   absl::StrJoin(targets, ", "), ")"));
}


}  // namespace etcd_internal
}  // namespace berth::meta

#endif  // BERTH_METADATA_ETCD_INTERNAL_H_

// MetadServer's maintenance thread (heartbeat registration, periodic
// trimming, re-bootstrap) and the Status/Trim admin operations.
#include <algorithm>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "proto/admin.grpc.pb.h"
#include "metadata/etcd_log.h"
#include "metadata/metad.h"
#include "metadata/replica.h"
#include "spdlog/spdlog.h"

namespace berth::meta {
namespace {

// Defragment automatically when at least this much of a member's file is
// free after compaction (and more than half of it).
constexpr int64_t kDefragFreeBytes = 8 << 20;

}  // namespace

absl::StatusOr<std::vector<ReplicaStatus>> MetadServer::ListReplicas() {
  auto kvs = etcd_->RangePrefix(replicas_prefix());
  if (!kvs.ok()) return kvs.status();
  std::vector<ReplicaStatus> out;
  for (const auto& [key, value] : *kvs) {
    ReplicaStatus r;
    if (r.ParseFromString(value)) out.push_back(std::move(r));
  }
  return out;
}

void MetadServer::Heartbeat() {
  std::shared_ptr<Replica> replica = this->replica();
  if (!replica) return;
  absl::StatusOr<uint64_t> durable = replica->SyncDurable();
  if (!durable.ok()) {
    spdlog::error("cannot sync the metadata WAL: {}", durable.status().ToString());
    return;
  }
  if (lease_ != 0) {
    absl::Status st = etcd_->KeepAlive(lease_);
    if (absl::IsNotFound(st)) lease_ = 0;  // expired: register anew
    if (!st.ok() && !absl::IsNotFound(st)) {
      spdlog::debug("lease keepalive: {}", st.ToString());
      return;
    }
  }
  if (lease_ == 0) {
    absl::StatusOr<int64_t> lease = etcd_->GrantLease(options_.lease_ttl_seconds);
    if (!lease.ok()) {
      spdlog::debug("lease grant: {}", lease.status().ToString());
      return;
    }
    lease_ = *lease;
  }
  ReplicaStatus me;
  me.set_id(id_);
  me.set_address(advertise_);
  me.set_applied(replica->applied());
  me.set_durable_applied(*durable);
  me.set_heartbeat_unix(absl::ToUnixSeconds(absl::Now()));
  me.set_zone(options_.zone);
  absl::Status st =
      etcd_->PutKey(replicas_prefix() + id_, me.SerializeAsString(), lease_);
  if (!st.ok()) {
    if (absl::StrContains(st.message(), "lease not found")) lease_ = 0;
    spdlog::debug("heartbeat: {}", st.ToString());
  }
}

void MetadServer::Rebootstrap() {
  std::shared_ptr<Replica> old;
  {
    std::lock_guard<std::mutex> lock(replica_mu_);
    old = std::move(replica_);  // new calls answer UNAVAILABLE meanwhile
  }
  if (old) {
    old->Stop();  // wakes waiting callers
    // Callers still inside the old replica finish quickly; the store is
    // closed when the last reference goes.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (old.use_count() > 1 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll refs
    }
    old.reset();
  }
  absl::Status st = OpenReplica(/*force_bootstrap=*/true);
  if (st.ok()) {
    needs_bootstrap_.store(false);
    spdlog::info("re-bootstrap done");
  } else {
    spdlog::warn("re-bootstrap failed (retrying): {}", st.ToString());
  }
}

void MetadServer::MaintenanceLoop() {
  const auto beat = std::chrono::milliseconds(
      static_cast<int64_t>(options_.heartbeat_seconds * 1000));
  auto next_trim = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(
                       options_.trim_interval_seconds * 1000));
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(stop_mu_);
      stop_cv_.wait_for(lock, beat,
                        [this] { return stop_ || needs_bootstrap_.load(); });
      if (stop_) return;
    }
    if (needs_bootstrap_.load()) {
      Rebootstrap();
      continue;
    }
    Heartbeat();
    if (!joined_roster_) JoinRoster();
    if (options_.trim_interval_seconds > 0 &&
        std::chrono::steady_clock::now() >= next_trim) {
      next_trim = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(
                      options_.trim_interval_seconds * 1000));
      // Only the live replica with the smallest id trims.
      auto replicas = ListReplicas();
      if (replicas.ok() && !replicas->empty()) {
        auto lowest = std::min_element(
            replicas->begin(), replicas->end(),
            [](const ReplicaStatus& a, const ReplicaStatus& b) {
              return a.id() < b.id();
            });
        if (lowest->id() == id_) {
          auto trimmed = Trim(/*defragment=*/false);
          if (!trimmed.ok()) {
            spdlog::warn("log trim: {}", trimmed.status().ToString());
          } else if (trimmed->compacted_to() > 0) {
            spdlog::info("log trim: {}", trimmed->detail());
          }
        }
      }
    }
  }
}

uint64_t MetadServer::FreshDurable(const ReplicaStatus& registered) {
  if (registered.id() == id_) {
    std::shared_ptr<Replica> replica = this->replica();
    if (replica) {
      return std::max(registered.durable_applied(), replica->durable_applied());
    }
    return registered.durable_applied();
  }
  grpc::ChannelArguments args;
  peer_security_.ApplyTo("", &args);
  auto stub = Admin::NewStub(grpc::CreateCustomChannel(
      registered.address(), peer_security_.Credentials(), args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  StatusResponse peer;
  if (!stub->Status(&ctx, StatusRequest(), &peer).ok() ||
      peer.replica_id() != registered.id()) {
    return registered.durable_applied();
  }
  return std::max(registered.durable_applied(), peer.durable_applied());
}

absl::StatusOr<TrimResponse> MetadServer::Trim(bool defragment) {
  std::lock_guard<std::mutex> trim_lock(trim_mu_);
  TrimResponse response;
  auto replicas = ListReplicas();
  if (!replicas.ok()) return replicas.status();
  if (replicas->empty()) {
    return absl::UnavailableError("no live replica registered in etcd");
  }
  // Registrations can be stale: under etcd's NOSPACE alarm no heartbeat
  // can be written, yet that is exactly when trimming must free space. So
  // each live replica is asked directly for its durable position; the
  // registered one stands in when it does not answer.
  uint64_t min_durable = UINT64_MAX;
  for (const auto& r : *replicas) {
    min_durable = std::min(min_durable, FreshDurable(r));
  }
  const uint64_t target =
      min_durable > options_.trim_margin ? min_durable - options_.trim_margin : 0;
  std::vector<EtcdMemberInfo> before = etcd_->MemberStatuses();
  bool nospace = false;
  for (const auto& m : before) {
    response.set_db_size_before(std::max(response.db_size_before(), m.db_size));
    for (const auto& a : m.alarms) nospace |= a == "NOSPACE";
  }
  std::string detail;
  if (target > compacted_.load()) {
    absl::Status st = etcd_->Compact(target);
    if (!st.ok()) return st;
    compacted_.store(target);
    response.set_compacted_to(target);
    detail = absl::StrCat("compacted etcd below ", target,
                          " (lowest durable position ", min_durable, ")");
  } else {
    detail = absl::StrCat("nothing to compact (target ", target,
                          ", compacted ", compacted_.load(), ")");
  }
  bool defrag = defragment || nospace;
  for (const auto& m : before) {
    const int64_t free_bytes = m.db_size - m.db_size_in_use;
    if (m.reachable && free_bytes > kDefragFreeBytes &&
        free_bytes * 2 > m.db_size) {
      defrag = true;
    }
  }
  if (defrag) {
    for (size_t i = 0; i < etcd_->endpoint_count(); ++i) {
      absl::Status st = etcd_->Defragment(i);
      if (!st.ok()) spdlog::warn("defragment: {}", st.ToString());
    }
    absl::StrAppend(&detail, "; defragmented");
  }
  if (nospace) {
    absl::Status st = etcd_->DisarmNoSpace();
    if (!st.ok()) return st;
    absl::StrAppend(&detail, "; NOSPACE alarm disarmed");
  }
  for (const auto& m : etcd_->MemberStatuses()) {
    response.set_db_size_after(std::max(response.db_size_after(), m.db_size));
  }
  absl::StrAppend(&detail, "; etcd db ", response.db_size_before(), " -> ",
                  response.db_size_after(), " bytes");
  response.set_detail(detail);
  return response;
}

absl::StatusOr<StatusResponse> MetadServer::Status() {
  StatusResponse response;
  response.set_replica_id(id_);
  response.set_address(advertise_);
  response.set_zone(options_.zone);
  std::shared_ptr<Replica> replica = this->replica();
  if (!replica) {
    response.set_state("bootstrapping");
  } else {
    response.set_state(replica->tail_error().ok() ? "serving" : "stalled");
    response.set_applied(replica->applied());
    response.set_durable_applied(replica->durable_applied());
  }
  absl::StatusOr<uint64_t> last = etcd_->LastPosition();
  if (last.ok()) {
    response.set_log_position(*last);
    response.set_lag(*last > response.applied() ? *last - response.applied() : 0);
  } else {
    response.set_log_error(std::string(last.status().message()));
  }
  auto replicas = ListReplicas();
  if (replicas.ok()) {
    for (ReplicaStatus& r : *replicas) {
      if (last.ok()) r.set_lag(*last > r.applied() ? *last - r.applied() : 0);
      *response.add_replicas() = std::move(r);
    }
  }
  for (const EtcdMemberInfo& m : etcd_->MemberStatuses()) {
    EtcdMemberStatus* e = response.add_etcd();
    e->set_endpoint(m.endpoint);
    e->set_reachable(m.reachable);
    e->set_error(m.error);
    e->set_member_id(m.member_id);
    e->set_leader(m.leader);
    e->set_version(m.version);
    e->set_db_size(m.db_size);
    e->set_db_size_in_use(m.db_size_in_use);
    e->set_raft_index(m.raft_index);
    for (const auto& a : m.alarms) e->add_alarms(a);
  }
  response.set_compacted(compacted_.load());
  // Roster and frontend reports only when etcd answered the replica list
  // (each call waits up to the etcd deadline when it cannot be reached).
  if (replicas.ok()) {
    if (auto members = ListMembers(); members.ok()) {
      for (ReplicaMember& m : *members) *response.add_members() = std::move(m);
    }
    if (auto frontends = ListFrontends(); frontends.ok()) {
      for (FrontendReport& f : *frontends) {
        *response.add_frontends() = std::move(f);
      }
    }
  }
  return response;
}

}  // namespace berth::meta

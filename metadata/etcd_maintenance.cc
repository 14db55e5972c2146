// EtcdLog maintenance: member status, compaction, defragmentation, NOSPACE
// alarms, and the leases/keys replicas register themselves with.
#include "metadata/etcd_internal.h"
#include "metadata/etcd_log.h"

namespace berth::meta {

using etcd_internal::CallWithFailover;
using etcd_internal::MapError;

std::vector<EtcdMemberInfo> EtcdLog::MemberStatuses() {
  std::vector<EtcdMemberInfo> out;
  std::vector<std::string> alarms;
  bool alarms_read = false;
  for (const auto& ep : endpoints_) {
    EtcdMemberInfo info;
    info.endpoint = ep->target;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(
        absl::Now() + std::min(options_.rpc_timeout, absl::Seconds(2))));
    etcdserverpb::StatusResponse resp;
    grpc::Status s =
        ep->maintenance->Status(&ctx, etcdserverpb::StatusRequest(), &resp);
    if (!s.ok()) {
      info.error = s.error_message();
    } else {
      info.reachable = true;
      info.member_id = resp.header().member_id();
      info.leader = resp.leader();
      info.version = resp.version();
      info.db_size = resp.dbsize();
      info.db_size_in_use = resp.dbsizeinuse();
      info.raft_index = resp.raftindex();
      if (!alarms_read) {
        grpc::ClientContext actx;
        actx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
        etcdserverpb::AlarmRequest areq;
        areq.set_action(etcdserverpb::AlarmRequest::GET);
        etcdserverpb::AlarmResponse aresp;
        if (ep->maintenance->Alarm(&actx, areq, &aresp).ok()) {
          alarms_read = true;
          for (const auto& a : aresp.alarms()) {
            alarms.push_back(etcdserverpb::AlarmType_Name(a.alarm()));
          }
        }
      }
    }
    out.push_back(std::move(info));
  }
  for (auto& info : out) {
    if (info.reachable) info.alarms = alarms;
  }
  return out;
}

absl::Status EtcdLog::Compact(uint64_t revision) {
  etcdserverpb::CompactionRequest req;
  req.set_revision(static_cast<int64_t>(revision));
  // Wait until the old revisions are physically gone, so that a
  // defragmentation right after it actually shrinks the file.
  req.set_physical(true);
  etcdserverpb::CompactionResponse resp;
  absl::Status s = CallWithFailover(
      endpoints_, &preferred_, absl::Now() + options_.rpc_timeout,
      /*idempotent=*/true, "Compact",
      [&](Endpoint& ep, grpc::ClientContext* ctx) {
        return ep.kv->Compact(ctx, req, &resp);
      });
  if (!s.ok() && absl::StrContains(s.message(), "has been compacted")) {
    return absl::OkStatus();
  }
  return s;
}

absl::Status EtcdLog::Defragment(size_t index) {
  Endpoint& ep = *endpoints_.at(index);
  grpc::ClientContext ctx;
  // Defragmentation rewrites the member's database: allow it more time.
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  etcdserverpb::DefragmentResponse resp;
  grpc::Status s = ep.maintenance->Defragment(
      &ctx, etcdserverpb::DefragmentRequest(), &resp);
  if (!s.ok()) return MapError(s, ep.target, "Defragment");
  return absl::OkStatus();
}

absl::Status EtcdLog::DisarmNoSpace() {
  etcdserverpb::AlarmRequest get;
  get.set_action(etcdserverpb::AlarmRequest::GET);
  etcdserverpb::AlarmResponse alarms;
  absl::Status s = CallWithFailover(
      endpoints_, &preferred_, absl::Now() + options_.rpc_timeout,
      /*idempotent=*/true, "Alarm", [&](Endpoint& ep, grpc::ClientContext* ctx) {
        return ep.maintenance->Alarm(ctx, get, &alarms);
      });
  if (!s.ok()) return s;
  for (const auto& a : alarms.alarms()) {
    if (a.alarm() != etcdserverpb::NOSPACE) continue;
    etcdserverpb::AlarmRequest off;
    off.set_action(etcdserverpb::AlarmRequest::DEACTIVATE);
    off.set_memberid(a.memberid());
    off.set_alarm(etcdserverpb::NOSPACE);
    etcdserverpb::AlarmResponse resp;
    s = CallWithFailover(endpoints_, &preferred_,
                         absl::Now() + options_.rpc_timeout,
                         /*idempotent=*/true, "Alarm",
                         [&](Endpoint& ep, grpc::ClientContext* ctx) {
                           return ep.maintenance->Alarm(ctx, off, &resp);
                         });
    if (!s.ok()) return s;
    spdlog::warn("etcd NOSPACE alarm of member {:x} disarmed", a.memberid());
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> EtcdLog::GrantLease(int64_t ttl_seconds) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  etcdserverpb::LeaseGrantResponse resp;
  absl::Status s = CallWithFailover(
      endpoints_, &preferred_, absl::Now() + options_.rpc_timeout,
      /*idempotent=*/false, "LeaseGrant",
      [&](Endpoint& ep, grpc::ClientContext* ctx) {
        return ep.lease->LeaseGrant(ctx, req, &resp);
      });
  if (!s.ok()) return s;
  if (!resp.error().empty()) return absl::UnavailableError(resp.error());
  return resp.id();
}

absl::Status EtcdLog::KeepAlive(int64_t lease) {
  etcdserverpb::LeaseKeepAliveResponse resp;
  absl::Status s = CallWithFailover(
      endpoints_, &preferred_, absl::Now() + options_.rpc_timeout,
      /*idempotent=*/true, "LeaseKeepAlive",
      [&](Endpoint& ep, grpc::ClientContext* ctx) {
        auto stream = ep.lease->LeaseKeepAlive(ctx);
        etcdserverpb::LeaseKeepAliveRequest req;
        req.set_id(lease);
        if (!stream->Write(req) || !stream->Read(&resp)) {
          ctx->TryCancel();
          grpc::Status fin = stream->Finish();
          return fin.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "keepalive stream closed")
                          : fin;
        }
        stream->WritesDone();
        ctx->TryCancel();
        (void)stream->Finish();
        return grpc::Status::OK;
      });
  if (!s.ok()) return s;
  if (resp.ttl() <= 0) return absl::NotFoundError("lease expired");
  return absl::OkStatus();
}

absl::Status EtcdLog::RevokeLease(int64_t lease) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(lease);
  etcdserverpb::LeaseRevokeResponse resp;
  return CallWithFailover(endpoints_, &preferred_,
                          absl::Now() + options_.rpc_timeout,
                          /*idempotent=*/true, "LeaseRevoke",
                          [&](Endpoint& ep, grpc::ClientContext* ctx) {
                            return ep.lease->LeaseRevoke(ctx, req, &resp);
                          });
}

absl::Status EtcdLog::PutKey(const std::string& key, const std::string& value,
                             int64_t lease) {
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  req.set_lease(lease);
  etcdserverpb::PutResponse resp;
  // Idempotent: the same value put twice is harmless.
  return CallWithFailover(endpoints_, &preferred_,
                          absl::Now() + options_.rpc_timeout,
                          /*idempotent=*/true, "Put",
                          [&](Endpoint& ep, grpc::ClientContext* ctx) {
                            return ep.kv->Put(ctx, req, &resp);
                          });
}

absl::StatusOr<int64_t> EtcdLog::DeleteKey(const std::string& key) {
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(key);
  etcdserverpb::DeleteRangeResponse resp;
  // Idempotent: deleting a deleted key deletes nothing.
  absl::Status s = CallWithFailover(
      endpoints_, &preferred_, absl::Now() + options_.rpc_timeout,
      /*idempotent=*/true, "DeleteRange",
      [&](Endpoint& ep, grpc::ClientContext* ctx) {
        return ep.kv->DeleteRange(ctx, req, &resp);
      });
  if (!s.ok()) return s;
  return resp.deleted();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
EtcdLog::RangePrefix(const std::string& prefix) {
  etcdserverpb::RangeRequest req;
  req.set_key(prefix);
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);  // prefix ends in '/'
  req.set_range_end(end);
  etcdserverpb::RangeResponse resp;
  absl::Status s = CallWithFailover(
      endpoints_, &preferred_, absl::Now() + options_.rpc_timeout,
      /*idempotent=*/true, "Range", [&](Endpoint& ep, grpc::ClientContext* ctx) {
        return ep.kv->Range(ctx, req, &resp);
      });
  if (!s.ok()) return s;
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& kv : resp.kvs()) out.emplace_back(kv.key(), kv.value());
  return out;
}

}  // namespace berth::meta

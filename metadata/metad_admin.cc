// MetadServer's operator state kept in etcd beside the log (never in it):
// frontend reports (<log-key>/frontends/<id>, each bound to its own 60 s
// lease, so a silent frontend disappears within a minute) and the replica
// roster (<log-key>/members/<id>, plain keys). Called from gRPC threads
// (Admin service) and, for JoinRoster, the maintenance thread; every call
// is a few bounded etcd RPCs and holds no MetadServer lock.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/options.h"
#include "metadata/etcd_log.h"
#include "metadata/metad.h"
#include "spdlog/spdlog.h"

namespace berth::meta {
namespace {

// A frontend counts as seen while its newest report is this recent.
constexpr int64_t kFrontendSeenSeconds = 60;

// Ids become etcd key suffixes and table cells: short, printable, no '/'.
absl::Status CheckId(const std::string& what, const std::string& id) {
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be 1..128 characters"));
  }
  for (char c : id) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c)) || c == '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " '", id, "' may hold only printable characters except '/'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MetadServer::ReportFrontend(FrontendReport report) {
  if (absl::Status st = CheckId("frontend id", report.id()); !st.ok()) {
    return st;
  }
  if (report.address().size() > 256 || report.version().size() > 128 ||
      report.zone().size() > 128) {
    return absl::InvalidArgumentError("frontend report field too long");
  }
  report.set_seen_unix(absl::ToUnixSeconds(absl::Now()));
  report.set_via(id_);
  // A fresh lease per report: the key lives a minute past the newest
  // report whichever metad stored it (an older lease expiring later does
  // not touch a key that moved to a newer lease).
  absl::StatusOr<int64_t> lease = etcd_->GrantLease(kFrontendSeenSeconds);
  if (!lease.ok()) return lease.status();
  return etcd_->PutKey(frontends_prefix() + report.id(),
                       report.SerializeAsString(), *lease);
}

absl::StatusOr<std::vector<FrontendReport>> MetadServer::ListFrontends() {
  auto kvs = etcd_->RangePrefix(frontends_prefix());
  if (!kvs.ok()) return kvs.status();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  std::vector<FrontendReport> out;
  for (const auto& [key, value] : *kvs) {
    FrontendReport r;
    if (!r.ParseFromString(value)) continue;
    // The lease normally removes old reports; clocks of different metads
    // may disagree a little, so filter as well.
    if (now - r.seen_unix() > kFrontendSeenSeconds) continue;
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<ReplicaMember>> MetadServer::ListMembers() {
  auto kvs = etcd_->RangePrefix(members_prefix());
  if (!kvs.ok()) return kvs.status();
  std::vector<ReplicaMember> out;
  for (const auto& [key, value] : *kvs) {
    ReplicaMember m;
    if (m.ParseFromString(value)) out.push_back(std::move(m));
  }
  return out;
}

void MetadServer::JoinRoster() {
  auto members = ListMembers();
  if (!members.ok()) return;  // etcd unreachable: next heartbeat
  for (const ReplicaMember& m : *members) {
    if (m.id() == id_ && m.address() == advertise_ && m.zone() == options_.zone) {
      joined_roster_ = true;
      return;
    }
  }
  ReplicaMember me;
  me.set_id(id_);
  me.set_address(advertise_);
  me.set_zone(options_.zone);
  me.set_added_unix(absl::ToUnixSeconds(absl::Now()));
  absl::Status st =
      etcd_->PutKey(members_prefix() + id_, me.SerializeAsString(), 0);
  if (st.ok()) {
    joined_roster_ = true;
    spdlog::info("replica {} ({}) joined the roster", id_, advertise_);
  }
}

absl::StatusOr<ListReplicasResponse> MetadServer::ListReplicasWithRoster() {
  ListReplicasResponse response;
  auto members = ListMembers();
  if (!members.ok()) return members.status();
  auto live = ListReplicas();
  if (!live.ok()) return live.status();
  absl::StatusOr<uint64_t> last = etcd_->LastPosition();
  for (ReplicaMember& m : *members) *response.add_members() = std::move(m);
  for (ReplicaStatus& r : *live) {
    if (last.ok()) r.set_lag(*last > r.applied() ? *last - r.applied() : 0);
    *response.add_live() = std::move(r);
  }
  if (last.ok()) response.set_log_position(*last);
  return response;
}

absl::StatusOr<AddReplicaResponse> MetadServer::AddReplica(
    const ReplicaMember& member) {
  if (absl::Status st = CheckId("replica id", member.id()); !st.ok()) return st;
  if (member.address().size() > 256 || !ParseHostPort(member.address()).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "replica address '", member.address(), "' is not host:port"));
  }
  if (member.zone().size() > 128) {
    return absl::InvalidArgumentError("zone longer than 128 characters");
  }
  auto members = ListMembers();
  if (!members.ok()) return members.status();
  AddReplicaResponse response;
  response.set_existed(std::any_of(
      members->begin(), members->end(),
      [&](const ReplicaMember& m) { return m.id() == member.id(); }));
  ReplicaMember stored = member;
  stored.set_added_unix(absl::ToUnixSeconds(absl::Now()));
  absl::Status st = etcd_->PutKey(members_prefix() + member.id(),
                                  stored.SerializeAsString(), 0);
  if (!st.ok()) return st;
  spdlog::info("replica {} ({}) added to the roster", member.id(),
               member.address());
  return response;
}

absl::Status MetadServer::RemoveReplica(const std::string& id, bool force) {
  if (absl::Status st = CheckId("replica id", id); !st.ok()) return st;
  auto live = ListReplicas();
  if (!live.ok()) return live.status();
  const bool registered =
      std::any_of(live->begin(), live->end(),
                  [&](const ReplicaStatus& r) { return r.id() == id; });
  if (registered && !force) {
    return absl::FailedPreconditionError(absl::StrCat(
        "replica ", id, " is alive (registered in etcd); stop it first or "
        "pass --force"));
  }
  absl::StatusOr<int64_t> removed = etcd_->DeleteKey(members_prefix() + id);
  if (!removed.ok()) return removed.status();
  if (registered) {
    absl::StatusOr<int64_t> deregistered =
        etcd_->DeleteKey(replicas_prefix() + id);
    if (!deregistered.ok()) return deregistered.status();
  }
  if (*removed == 0 && !registered) {
    return absl::NotFoundError(absl::StrCat("no replica ", id));
  }
  spdlog::info("replica {} removed from the roster{}", id,
               registered ? " (registration deleted)" : "");
  return absl::OkStatus();
}

}  // namespace berth::meta

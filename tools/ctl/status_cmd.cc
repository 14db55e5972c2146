// berthctl status: the whole cluster on one screen — metadata replicas
// (roster, live registrations and the replicas in --endpoint, with applied
// position and lag), etcd members, blob shards (zone, state, usage) and
// the frontends that reported within the last minute.
//
// Exit 0 when a replica answered (the "problems" list says what is
// degraded), 3 when none did.
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tools/ctl/cluster_blobs.h"
#include "tools/ctl/commands.h"
#include "tools/ctl/table.h"

namespace berth::ctl {
namespace {

using nlohmann::json;

// A replica further behind the log than this is reported as a problem.
constexpr uint64_t kLagWarning = 1000;

std::string U(uint64_t v) { return std::to_string(v); }

json ReplicaRows(Context* ctx, meta::MetadataClient& client,
                 meta::StatusResponse* first, bool* any) {
  const std::vector<std::string> endpoints = ctx->Endpoints();
  std::map<std::string, json> rows;  // by replica id
  std::vector<json> unreachable;
  std::vector<meta::StatusResponse> answers;
  for (size_t i = 0; i < client.replica_count(); ++i) {
    auto st = client.Status(i);
    if (!st.ok()) {
      unreachable.push_back({{"id", ""},
                             {"address", endpoints[i]},
                             {"state", "unreachable"},
                             {"error", std::string(st.status().message())}});
      continue;
    }
    if (!*any) *first = *st;
    *any = true;
    answers.push_back(*st);
  }
  if (!*any) return json::array();
  for (const meta::ReplicaMember& m : first->members()) {
    rows[m.id()] = {{"id", m.id()},     {"address", m.address()},
                    {"zone", m.zone()}, {"state", "down"},
                    {"in_roster", true}, {"registered", false}};
  }
  for (const meta::ReplicaStatus& r : first->replicas()) {
    json& row = rows[r.id()];
    row["id"] = r.id();
    row["address"] = r.address();
    if (!r.zone().empty()) row["zone"] = r.zone();
    row["state"] = "live";
    row["registered"] = true;
    row["applied"] = r.applied();
    row["durable_applied"] = r.durable_applied();
    row["lag"] = r.lag();
    row["heartbeat_unix"] = r.heartbeat_unix();
  }
  for (const meta::StatusResponse& a : answers) {
    json& row = rows[a.replica_id()];
    row["id"] = a.replica_id();
    row["address"] = a.address();
    row["zone"] = a.zone();
    row["state"] = a.state();
    row["applied"] = a.applied();
    row["durable_applied"] = a.durable_applied();
    row["lag"] = a.lag();
    row["log_position"] = a.log_position();
    if (!a.log_error().empty()) row["log_error"] = a.log_error();
  }
  json out = json::array();
  for (auto& [id, row] : rows) {
    if (!row.contains("in_roster")) row["in_roster"] = false;
    if (!row.contains("registered")) row["registered"] = false;
    if (!row.contains("zone")) row["zone"] = "";
    out.push_back(row);
  }
  for (json& u : unreachable) {
    // An endpoint that did not answer but belongs to a known replica.
    bool matched = false;
    for (json& row : out) {
      if (row["address"] == u["address"] && row["state"] != "serving") {
        row["state"] = "unreachable";
        row["error"] = u["error"];
        matched = true;
      }
    }
    if (!matched) out.push_back(u);
  }
  return out;
}

json EtcdRows(const meta::StatusResponse& first) {
  json out = json::array();
  for (const auto& e : first.etcd()) {
    json m = {{"endpoint", e.endpoint()}, {"reachable", e.reachable()}};
    if (e.reachable()) {
      m["member_id"] = e.member_id();
      m["is_leader"] = e.member_id() == e.leader();
      m["version"] = e.version();
      m["db_size"] = e.db_size();
      m["db_size_in_use"] = e.db_size_in_use();
      m["raft_index"] = e.raft_index();
      m["alarms"] =
          std::vector<std::string>(e.alarms().begin(), e.alarms().end());
    } else {
      m["error"] = e.error();
    }
    out.push_back(m);
  }
  return out;
}

json ShardRows(Context* ctx, json* summary) {
  json out = json::array();
  auto blobs = OpenClusterBlobs(ctx, /*stale_ok=*/true);
  if (!blobs.ok()) {
    (*summary)["error"] = std::string(blobs.status().message());
    return out;
  }
  (*summary)["map_version"] = blobs->config.shard_map_version();
  (*summary)["replicas"] = blobs->replicas;
  (*summary)["write_quorum"] = blobs->write_quorum;
  const absl::Duration wait =
      absl::Seconds(std::min(3.0, ctx->flags.timeout_seconds));
  for (const blob::Shard& shard : blobs->client->shards()) {
    json s = {{"id", shard.info.id},
              {"address", shard.info.address},
              {"zone", shard.info.zone},
              {"weight", shard.info.weight},
              {"state", blob::ShardStateName(shard.info.state)}};
    auto cap = shard.conn->Capacity(absl::Now() + wait);
    s["reachable"] = cap.ok();
    if (cap.ok()) {
      s["used_bytes"] = cap->used_bytes;
      s["chunk_count"] = cap->chunk_count;
      s["free_bytes"] = cap->free_bytes;
      s["total_bytes"] = cap->total_bytes;
    } else {
      s["error"] = std::string(cap.status().message());
    }
    out.push_back(s);
  }
  return out;
}

json FrontendRows(const meta::StatusResponse& first) {
  json out = json::array();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  for (const meta::FrontendReport& f : first.frontends()) {
    out.push_back({{"id", f.id()},
                   {"address", f.address()},
                   {"zone", f.zone()},
                   {"version", f.version()},
                   {"in_flight_requests", f.in_flight_requests()},
                   {"requests_per_second", f.requests_per_second()},
                   {"uploads_in_flight", f.uploads_in_flight()},
                   {"connections", f.connections()},
                   {"started_unix", f.started_unix()},
                   {"seen_unix", f.seen_unix()},
                   {"seen_seconds_ago", std::max<int64_t>(0, now - f.seen_unix())},
                   {"via", f.via()},
                   // The shard map its new requests use (0 = its --blobd
                   // seed) and the images-deleted generation it applied.
                   {"shard_map_version", f.shard_map_version()},
                   {"images_deleted_generation",
                    f.images_deleted_generation()}});
  }
  return out;
}

std::vector<std::string> Problems(const json& out) {
  std::vector<std::string> p;
  for (const json& r : out["replicas"]) {
    const std::string state = r["state"];
    const std::string name = r["id"].get<std::string>().empty()
                                 ? r["address"].get<std::string>()
                                 : r["id"].get<std::string>();
    if (state != "serving" && state != "live") {
      p.push_back(absl::StrCat("metadata replica ", name, " is ", state));
    } else if (r.contains("lag") && r["lag"].get<uint64_t>() > kLagWarning) {
      p.push_back(absl::StrCat("metadata replica ", name, " lags by ",
                               r["lag"].get<uint64_t>(), " log positions"));
    }
  }
  for (const json& e : out["etcd"]) {
    if (!e["reachable"].get<bool>()) {
      p.push_back(absl::StrCat("etcd ", e["endpoint"].get<std::string>(),
                               " unreachable"));
    } else if (!e["alarms"].empty()) {
      p.push_back(absl::StrCat("etcd ", e["endpoint"].get<std::string>(),
                               " alarms: ", e["alarms"].dump()));
    }
  }
  if (out["shard_map"].contains("error")) {
    p.push_back(absl::StrCat("shards: ",
                             out["shard_map"]["error"].get<std::string>()));
  }
  for (const json& s : out["shards"]) {
    if (!s["reachable"].get<bool>()) {
      p.push_back(absl::StrCat("shard ", s["id"].get<std::string>(),
                               " unreachable"));
    } else if (s["state"] != "active") {
      p.push_back(absl::StrCat("shard ", s["id"].get<std::string>(), " is ",
                               s["state"].get<std::string>()));
    }
  }
  if (out["frontends"].empty()) {
    p.push_back("no frontend reported in the last minute");
  }
  return p;
}

void PrintHuman(const json& out) {
  std::printf("METADATA  log position %s, compacted below %s\n",
              U(out["log_position"].get<uint64_t>()).c_str(),
              U(out["compacted"].get<uint64_t>()).c_str());
  Table replicas({"REPLICA", "ZONE", "ADDRESS", "STATE", "APPLIED", "DURABLE",
                  "LAG"});
  for (const json& r : out["replicas"]) {
    auto num = [&](const char* k) {
      return r.contains(k) ? U(r[k].get<uint64_t>()) : std::string("-");
    };
    replicas.Add({r["id"].get<std::string>().empty() ? "?" : r["id"].get<std::string>(),
                  r["zone"].get<std::string>().empty() ? "-" : r["zone"].get<std::string>(),
                  r["address"], r["state"], num("applied"),
                  num("durable_applied"), num("lag")});
  }
  replicas.Print();

  std::printf("\nETCD\n");
  Table etcd({"ENDPOINT", "HEALTH", "ROLE", "VERSION", "DB", "IN USE",
              "RAFT INDEX", "ALARMS"});
  for (const json& e : out["etcd"]) {
    if (!e["reachable"].get<bool>()) {
      etcd.Add({e["endpoint"], "unreachable", "-", "-", "-", "-", "-",
                e["error"]});
      continue;
    }
    std::vector<std::string> alarms = e["alarms"];
    etcd.Add({e["endpoint"], "ok", e["is_leader"].get<bool>() ? "leader" : "follower",
              e["version"], HumanBytes(e["db_size"].get<int64_t>()),
              HumanBytes(e["db_size_in_use"].get<int64_t>()),
              U(e["raft_index"].get<uint64_t>()),
              alarms.empty() ? "-" : absl::StrJoin(alarms, ",")});
  }
  etcd.Print();

  const json& map = out["shard_map"];
  if (map.contains("error")) {
    std::printf("\nSHARDS  %s\n", map["error"].get<std::string>().c_str());
  } else {
    std::printf("\nSHARDS  map version %s, R=%d W=%d\n",
                U(map["map_version"].get<uint64_t>()).c_str(),
                map["replicas"].get<int>(), map["write_quorum"].get<int>());
    Table shards({"SHARD", "ZONE", "STATE", "ADDRESS", "USED", "CHUNKS",
                  "FREE", "DISK"});
    for (const json& s : out["shards"]) {
      if (!s["reachable"].get<bool>()) {
        shards.Add({s["id"], s["zone"], s["state"], s["address"],
                    "unreachable", "-", "-", s["error"]});
        continue;
      }
      shards.Add({s["id"], s["zone"], s["state"], s["address"],
                  HumanBytes(s["used_bytes"].get<uint64_t>()),
                  U(s["chunk_count"].get<uint64_t>()),
                  HumanBytes(s["free_bytes"].get<uint64_t>()),
                  HumanBytes(s["total_bytes"].get<uint64_t>())});
    }
    shards.Print();
  }

  std::printf("\nFRONTENDS  seen in the last minute\n");
  Table fe({"FRONTEND", "ZONE", "VERSION", "ADDRESS", "MAP", "REQ/S",
            "IN FLIGHT", "UPLOADS", "CONNS", "UP SINCE", "SEEN"});
  for (const json& f : out["frontends"]) {
    fe.Add({f["id"], f["zone"].get<std::string>().empty() ? "-" : f["zone"].get<std::string>(),
            f["version"], f["address"],
            U(f["shard_map_version"].get<uint64_t>()),
            Fixed(f["requests_per_second"].get<double>(), 1),
            std::to_string(f["in_flight_requests"].get<int64_t>()),
            std::to_string(f["uploads_in_flight"].get<int64_t>()),
            std::to_string(f["connections"].get<int64_t>()),
            FormatUnixTime(f["started_unix"].get<int64_t>()),
            SecondsAgo(f["seen_unix"].get<int64_t>())});
  }
  fe.Print();

  if (out["problems"].empty()) {
    std::printf("\nno problems\n");
  } else {
    std::printf("\nPROBLEMS\n");
    for (const json& p : out["problems"]) {
      std::printf("  %s\n", p.get<std::string>().c_str());
    }
  }
}

int RunStatus(Context* ctx) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  meta::StatusResponse first;
  bool any = false;
  json out;
  out["replicas"] = ReplicaRows(ctx, **client, &first, &any);
  if (!any) {
    std::fprintf(stderr, "berthctl: no metadata replica answered\n");
    if (ctx->flags.json) std::cout << out.dump() << "\n";
    return kExitUnavailable;
  }
  out["log_position"] = first.log_position();
  out["compacted"] = first.compacted();
  out["etcd"] = EtcdRows(first);
  json summary = json::object();
  out["shards"] = ShardRows(ctx, &summary);
  out["shard_map"] = summary;
  out["frontends"] = FrontendRows(first);
  out["problems"] = Problems(out);
  out["healthy"] = out["problems"].empty();
  if (ctx->flags.json) {
    std::cout << out.dump() << "\n";
  } else {
    PrintHuman(out);
  }
  return kExitOk;
}

}  // namespace

void AddStatusCommand(CLI::App& app, Context* ctx) {
  CLI::App* cmd = app.add_subcommand(
      "status",
      "the whole cluster on one screen: metadata replicas (applied position, "
      "lag), etcd members, blob shards (zone, state, usage) and the "
      "frontends seen in the last minute (version, load); exit 3 if no "
      "replica in --endpoint answers");
  OnRun(cmd, ctx, [ctx] { return RunStatus(ctx); });
}

}  // namespace berth::ctl

// berthctl commands on the metadata tier's membership and secrets:
// `replicas list|add|remove` (the replica roster kept in etcd beside the
// log, see proto/admin.proto), `checkpoint DIR` (a consistent copy of one
// replica's store: a metadata backup) and `secret rotate`.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "metadata/checkpoint.h"
#include "nlohmann/json.hpp"
#include "tools/ctl/commands.h"
#include "tools/ctl/table.h"

namespace berth::ctl {
namespace {

using nlohmann::json;

int ReplicasList(Context* ctx) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  auto resp = (*client)->ListReplicas();
  if (!resp.ok()) return ctx->Fail(resp.status());
  std::map<std::string, json> rows;
  for (const meta::ReplicaMember& m : resp->members()) {
    rows[m.id()] = {{"id", m.id()},        {"address", m.address()},
                    {"zone", m.zone()},    {"in_roster", true},
                    {"live", false},       {"added_unix", m.added_unix()}};
  }
  for (const meta::ReplicaStatus& r : resp->live()) {
    json& row = rows[r.id()];
    row["id"] = r.id();
    row["address"] = r.address();
    row["zone"] = r.zone();
    row["live"] = true;
    if (!row.contains("in_roster")) row["in_roster"] = false;
    row["applied"] = r.applied();
    row["durable_applied"] = r.durable_applied();
    row["lag"] = r.lag();
    row["heartbeat_unix"] = r.heartbeat_unix();
  }
  json list = json::array();
  for (auto& [id, row] : rows) list.push_back(row);
  if (ctx->flags.json) {
    std::cout << json{{"log_position", resp->log_position()},
                      {"replicas", list}}.dump()
              << "\n";
    return kExitOk;
  }
  Table t({"REPLICA", "ZONE", "ADDRESS", "STATUS", "APPLIED", "LAG",
           "HEARTBEAT", "ROSTER"});
  for (const json& r : list) {
    const bool live = r["live"].get<bool>();
    t.Add({r["id"], r["zone"].get<std::string>().empty() ? "-" : r["zone"].get<std::string>(),
           r["address"], live ? "live" : "down",
           live ? std::to_string(r["applied"].get<uint64_t>()) : "-",
           live ? std::to_string(r["lag"].get<uint64_t>()) : "-",
           live ? SecondsAgo(r["heartbeat_unix"].get<int64_t>()) : "-",
           r["in_roster"].get<bool>() ? "yes" : "no (not added)"});
  }
  t.Print();
  std::printf("log position %llu\n",
              static_cast<unsigned long long>(resp->log_position()));
  return kExitOk;
}

int ReplicasAdd(Context* ctx, const std::string& id, const std::string& address,
                const std::string& zone) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  meta::AddReplicaRequest req;
  req.mutable_member()->set_id(id);
  req.mutable_member()->set_address(address);
  req.mutable_member()->set_zone(zone);
  auto resp = (*client)->AddReplica(req);
  if (!resp.ok()) return ctx->Fail(resp.status());
  if (ctx->flags.json) {
    std::cout << json{{"id", id}, {"address", address}, {"zone", zone},
                      {"existed", resp->existed()}}.dump()
              << "\n";
  } else {
    std::printf("replica %s (%s) %s the roster; start `berth metad "
                "--replica-id %s --advertise %s` and it bootstraps from a "
                "peer's checkpoint\n",
                id.c_str(), address.c_str(),
                resp->existed() ? "updated in" : "added to", id.c_str(),
                address.c_str());
  }
  return kExitOk;
}

int ReplicasRemove(Context* ctx, const std::string& id, bool force) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  meta::RemoveReplicaRequest req;
  req.set_id(id);
  req.set_force(force);
  auto resp = (*client)->RemoveReplica(req);
  if (!resp.ok()) return ctx->Fail(resp.status());
  if (ctx->flags.json) {
    std::cout << json{{"id", id}, {"removed", true}}.dump() << "\n";
  } else {
    std::printf("replica %s removed\n", id.c_str());
  }
  return kExitOk;
}

// Streams a checkpoint from the first replica in --endpoint that answers.
int Checkpoint(Context* ctx, const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    std::fprintf(stderr, "berthctl: %s exists; give a new directory\n",
                 dir.c_str());
    return kExitUsage;
  }
  auto security = ctx->Security();
  if (!security.ok()) return ctx->Fail(security.status());
  absl::Status last = absl::UnavailableError("no endpoint given");
  for (const std::string& endpoint : ctx->Endpoints()) {
    auto position = meta::FetchCheckpoint(
        endpoint, dir, absl::Seconds(std::max(60.0, ctx->flags.timeout_seconds)),
        *security);
    if (!position.ok()) {
      last = position.status();
      continue;
    }
    uint64_t bytes = 0;
    size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.is_regular_file(ec)) {
        bytes += entry.file_size(ec);
        ++files;
      }
    }
    if (ctx->flags.json) {
      std::cout << json{{"dir", dir}, {"from", endpoint},
                        {"position", *position}, {"files", files},
                        {"bytes", bytes}}.dump()
                << "\n";
    } else {
      std::printf("checkpoint of %s at log position %llu in %s (%zu files, "
                  "%s; a metad opens it as DATA/store)\n",
                  endpoint.c_str(), static_cast<unsigned long long>(*position),
                  dir.c_str(), files, HumanBytes(bytes).c_str());
    }
    return kExitOk;
  }
  // FetchCheckpoint reports an unreachable replica in its own words.
  if (last.code() != absl::StatusCode::kInvalidArgument) {
    last = absl::UnavailableError(last.message());
  }
  return ctx->Fail(last);
}

int SecretRotate(Context* ctx) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  auto result = (*client)->RotateTokenSecret();
  if (!result.ok()) return ctx->Fail(result.status());
  if (result->error().reason() != REASON_UNSPECIFIED) {
    std::fprintf(stderr, "berthctl: %s\n", result->error().message().c_str());
    return kExitFailed;
  }
  if (ctx->flags.json) {
    std::cout << json{{"rotated", true}, {"position", result->position()}}.dump()
              << "\n";
  } else {
    std::printf("token secret rotated (log position %llu): new tokens and "
                "cookies use the new secret; those issued under the previous "
                "one stay valid until they expire (a second rotation ends "
                "them)\n",
                static_cast<unsigned long long>(result->position()));
  }
  return kExitOk;
}

}  // namespace

void AddAdminCommands(CLI::App& app, Context* ctx) {
  CLI::App* replicas = app.add_subcommand(
      "replicas", "the metadata replica roster: list, add, remove");
  replicas->require_subcommand(1);
  OnRun(replicas->add_subcommand(
            "list", "roster and live replicas with applied position and lag"),
        ctx, [ctx] { return ReplicasList(ctx); });

  struct AddArgs {
    std::string id, address, zone;
  };
  auto add = std::make_shared<AddArgs>();
  CLI::App* add_cmd = replicas->add_subcommand(
      "add", "declare a replica in the roster (before starting it); `status` "
             "shows it as down until it registers");
  add_cmd->add_option("id", add->id, "replica id (metad --replica-id)")
      ->required();
  add_cmd->add_option("address", add->address,
                      "host:port it serves on (metad --advertise)")
      ->required();
  add_cmd->add_option("--zone", add->zone, "its zone");
  OnRun(add_cmd, ctx,
        [ctx, add] { return ReplicasAdd(ctx, add->id, add->address, add->zone); });

  struct RemoveArgs {
    std::string id;
    bool force = false;
  };
  auto rm = std::make_shared<RemoveArgs>();
  CLI::App* rm_cmd = replicas->add_subcommand(
      "remove", "retire a stopped replica from the roster (exit 1 if unknown, "
                "5 if still alive without --force)");
  rm_cmd->add_option("id", rm->id, "replica id")->required();
  rm_cmd->add_flag("--force", rm->force,
                   "also delete a live replica's registration");
  OnRun(rm_cmd, ctx, [ctx, rm] { return ReplicasRemove(ctx, rm->id, rm->force); });

  auto dir = std::make_shared<std::string>();
  CLI::App* cp = app.add_subcommand(
      "checkpoint",
      "copy a consistent checkpoint of a metadata replica's store (RocksDB) "
      "into a new local DIR: a metadata backup, with its log position");
  cp->add_option("dir,--out", *dir,
                 "new directory for the checkpoint (a metad uses it as "
                 "DATA/store)")
      ->required();
  OnRun(cp, ctx, [ctx, dir] { return Checkpoint(ctx, *dir); });

  CLI::App* secret =
      app.add_subcommand("secret", "the token and cookie secret");
  secret->require_subcommand(1);
  OnRun(secret->add_subcommand(
            "rotate",
            "make a fresh random secret the newest; tokens issued under the "
            "previous secret stay valid until they expire"),
        ctx, [ctx] { return SecretRotate(ctx); });
}

}  // namespace berth::ctl

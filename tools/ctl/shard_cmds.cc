// berthctl commands on the blobstore: `shards list|add|drain|remove|
// replication`, `scrub [SHARD...]`, `repair [--image ID]`. The shard map
// lives in metadata (ClusterConfig); frontends follow it.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "blobstore/cluster_shards.h"
#include "blobstore/maintenance.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "proto/blobstore.grpc.pb.h"
#include "tools/ctl/cluster_blobs.h"
#include "tools/ctl/commands.h"
#include "tools/ctl/frontend_adoption.h"
#include "tools/ctl/layer_repair.h"

namespace berth::ctl {
namespace {

std::string StateName(meta::ShardState s) {
  switch (s) {
    case meta::SHARD_ACTIVE:
      return "active";
    case meta::SHARD_DRAINING:
      return "draining";
    case meta::SHARD_DOWN:
      return "down";
    default:
      return "active";
  }
}

std::string Mib(uint64_t n) {
  return absl::StrCat(n >> 20, " MiB");
}

// Runs one metadata command; a domain error becomes a Status (NOT_FOUND
// for SHARD_NOT_FOUND, INVALID_ARGUMENT otherwise).
absl::Status Execute(Context* ctx, meta::Command command) {
  auto metadata = ctx->Metadata();
  if (!metadata.ok()) return metadata.status();
  auto result = (*metadata)->Execute(std::move(command));
  if (!result.ok()) return result.status();
  switch (result->error().reason()) {
    case REASON_UNSPECIFIED:
      return absl::OkStatus();
    case SHARD_NOT_FOUND:
      return absl::NotFoundError(result->error().message());
    default:
      return absl::InvalidArgumentError(result->error().message());
  }
}

const meta::ShardInfo* FindShard(const meta::ClusterConfig& config,
                                 const std::string& id) {
  for (const meta::ShardInfo& s : config.shards()) {
    if (s.id() == id) return &s;
  }
  return nullptr;
}

// The blobd's Capacity answer (with its --shard-id), or its error.
absl::StatusOr<blob::CapacityResponse> AskCapacity(Context* ctx,
                                                   const std::string& address,
                                                   double timeout_s) {
  auto security = ctx->Security();
  if (!security.ok()) return security.status();
  grpc::ChannelArguments args;
  security->ApplyTo("", &args);
  auto channel =
      grpc::CreateCustomChannel(address, security->Credentials(), args);
  auto stub = blob::Blobstore::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(
                           static_cast<int64_t>(timeout_s * 1000)));
  blob::CapacityResponse response;
  grpc::Status st =
      stub->Capacity(&context, blob::CapacityRequest(), &response);
  if (!st.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "blobd at ", address, " did not answer: ", st.error_message()));
  }
  if (response.error().reason() != REASON_UNSPECIFIED) {
    return absl::InternalError(absl::StrCat("blobd at ", address, ": ",
                                            response.error().message()));
  }
  return response;
}

// [{id, address, shard_map_version}] of the frontends' reports.
nlohmann::json FrontendVersionsJson(const FrontendReports& reports) {
  nlohmann::json out = nlohmann::json::array();
  for (const meta::FrontendReport& r : reports) {
    out.push_back({{"id", r.id()},
                   {"address", r.address()},
                   {"shard_map_version", r.shard_map_version()}});
  }
  return out;
}

int ListShards(Context* ctx) {
  auto config = ReadClusterConfig(ctx);
  if (!config.ok()) return ctx->Fail(config.status());
  nlohmann::json out = {{"shard_map_version", config->shard_map_version()},
                        {"replicas", blob::ClusterReplicas(*config)},
                        {"write_quorum", blob::ClusterWriteQuorum(*config)},
                        {"shards", nlohmann::json::array()}};
  for (const meta::ShardInfo& s : config->shards()) {
    nlohmann::json row = {{"id", s.id()},
                          {"address", s.address()},
                          {"zone", s.zone()},
                          {"weight", s.weight()},
                          {"state", StateName(s.state())}};
    auto cap = AskCapacity(ctx, s.address(),
                           std::min(ctx->flags.timeout_seconds, 5.0));
    if (cap.ok()) {
      row["reachable"] = true;
      row["used_bytes"] = cap->used_bytes();
      row["total_bytes"] = cap->total_bytes();
      row["free_bytes"] = cap->free_bytes();
      row["chunks"] = cap->chunk_count();
    } else {
      row["reachable"] = false;
      row["error"] = std::string(cap.status().message());
    }
    out["shards"].push_back(row);
  }
  // Which map each frontend seen in the last minute runs on.
  auto frontends = ReadFrontendReports(ctx);
  if (frontends.ok()) {
    out["frontends"] = FrontendVersionsJson(*frontends);
  } else {
    out["frontends_error"] = std::string(frontends.status().message());
  }
  if (ctx->flags.json) {
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  std::printf("shard map version %llu, R=%d W=%d\n",
              static_cast<unsigned long long>(config->shard_map_version()),
              blob::ClusterReplicas(*config), blob::ClusterWriteQuorum(*config));
  std::printf("%-12s %-22s %-10s %6s %-9s %12s %12s %9s\n", "SHARD", "ADDRESS",
              "ZONE", "WEIGHT", "STATE", "USED", "CAPACITY", "CHUNKS");
  for (const auto& row : out["shards"]) {
    std::string used = "unreachable", total = "-", chunks = "-";
    if (row["reachable"].get<bool>()) {
      used = Mib(row["used_bytes"].get<uint64_t>());
      total = Mib(row["total_bytes"].get<uint64_t>());
      chunks = std::to_string(row["chunks"].get<uint64_t>());
    }
    std::printf("%-12s %-22s %-10s %6u %-9s %12s %12s %9s\n",
                row["id"].get<std::string>().c_str(),
                row["address"].get<std::string>().c_str(),
                row["zone"].get<std::string>().c_str(),
                row["weight"].get<uint32_t>(),
                row["state"].get<std::string>().c_str(), used.c_str(),
                total.c_str(), chunks.c_str());
  }
  if (frontends.ok()) {
    const FrontendReports lagging =
        LaggingFrontends(*frontends, config->shard_map_version());
    std::printf("%zu frontend(s) seen in the last minute, %zu on an older "
                "map%s%s\n",
                frontends->size(), lagging.size(), lagging.empty() ? "" : ": ",
                DescribeFrontends(lagging).c_str());
  }
  return kExitOk;
}

struct AddArgs {
  std::string id, address, zone;
  uint32_t weight = 1;
};

int AddShard(Context* ctx, const AddArgs& args) {
  auto cap = AskCapacity(ctx, args.address, ctx->flags.timeout_seconds);
  if (!cap.ok()) return ctx->Fail(cap.status());
  if (!cap->shard_id().empty() && cap->shard_id() != args.id) {
    return ctx->Fail(absl::InvalidArgumentError(
        absl::StrCat("the blobd at ", args.address, " is shard '",
                     cap->shard_id(), "', not '", args.id, "'")));
  }
  meta::Command command;
  meta::ShardInfo* shard = command.mutable_put_shard()->mutable_shard();
  shard->set_id(args.id);
  shard->set_address(args.address);
  shard->set_zone(args.zone.empty() ? args.id : args.zone);
  shard->set_weight(args.weight);
  shard->set_state(meta::SHARD_ACTIVE);
  if (absl::Status st = Execute(ctx, command); !st.ok()) return ctx->Fail(st);
  if (ctx->flags.json) {
    std::cout << nlohmann::json{{"id", args.id},
                                {"address", args.address},
                                {"zone", shard->zone()},
                                {"weight", args.weight},
                                {"answered_as", cap->shard_id()},
                                {"chunks", cap->chunk_count()}}
                     .dump()
              << "\n";
  } else {
    std::printf("shard %s added at %s in zone %s (blobd answered as '%s', "
                "%llu chunks)\n",
                args.id.c_str(), args.address.c_str(), shard->zone().c_str(),
                cap->shard_id().c_str(),
                static_cast<unsigned long long>(cap->chunk_count()));
  }
  return kExitOk;
}

nlohmann::json SummaryJson(const RepairSummary& s) {
  return {{"images", s.images},
          {"images_updated", s.images_updated},
          {"images_changed_meanwhile", s.images_changed},
          {"copies_made", s.copies_made},
          {"bad_copies_removed", s.bad_copies_removed},
          {"under_replicated",
           std::vector<std::string>(s.under_replicated.begin(),
                                    s.under_replicated.end())},
          {"lost", std::vector<std::string>(s.lost.begin(), s.lost.end())}};
}

void PrintSummary(const char* what, const RepairSummary& s) {
  std::printf("%s: %llu images, %llu copies made, %llu corrupt copies "
              "removed, %llu manifests updated, %zu chunks under-replicated, "
              "%zu lost\n",
              what, static_cast<unsigned long long>(s.images),
              static_cast<unsigned long long>(s.copies_made),
              static_cast<unsigned long long>(s.bad_copies_removed),
              static_cast<unsigned long long>(s.images_updated),
              s.under_replicated.size(), s.lost.size());
  for (const std::string& d : s.under_replicated) {
    std::printf("  under-replicated %s\n", d.c_str());
  }
  for (const std::string& d : s.lost) std::printf("  lost %s\n", d.c_str());
}

// One repair pass over every image with a layer (or `only`), progress on
// stderr.
absl::StatusOr<RepairSummary> RepairPass(Context* ctx, const ClusterBlobs& blobs,
                                         const std::string& label,
                                         std::vector<std::string> only = {}) {
  auto metadata = ctx->Metadata();
  if (!metadata.ok()) return metadata.status();
  std::vector<std::string> ids = std::move(only);
  if (ids.empty()) {
    auto all = ListLayerImages(**metadata);
    if (!all.ok()) return all.status();
    ids = std::move(*all);
  }
  absl::Time last = absl::InfinitePast();
  return RepairImages(**metadata, *blobs.client, ids,
                      [&](size_t done, size_t total) {
                        if (done == total || absl::Now() - last > absl::Seconds(2)) {
                          std::fprintf(stderr, "%s: %zu/%zu images\n",
                                       label.c_str(), done, total);
                          last = absl::Now();
                        }
                      });
}

struct DrainArgs {
  std::string id;
  double settle_s = 30;  // at most this long for frontends to adopt the map
  bool force = false;    // copy even if some frontend did not adopt it
  int max_passes = 4;
};

// Waits until every frontend seen in the last minute reports shard map
// `version` or newer (they report at once after adopting a map), at most
// args.settle_s. Returns the reports, or the exit code when they lag and
// there is no --force: copying then could miss chunks such a frontend is
// still placing on the draining shard.
absl::StatusOr<FrontendReports> AwaitFrontends(Context* ctx,
                                               const DrainArgs& args,
                                               uint64_t version, int* exit) {
  AdoptionWaitOptions wait;
  wait.timeout = absl::Seconds(args.settle_s);
  auto result = WaitForAdoption([ctx] { return ReadFrontendReports(ctx); },
                                version, wait);
  if (!result.ok()) {
    *exit = ctx->Fail(result.status());
    return result.status();
  }
  if (result->frontends.empty()) {
    std::fprintf(stderr,
                 "berthctl: warning: no frontend reported in the last minute; "
                 "cannot confirm that frontends follow shard map version "
                 "%llu (frontends with --report-interval 0 are not seen)\n",
                 static_cast<unsigned long long>(version));
  } else if (result->adopted) {
    std::fprintf(stderr,
                 "every frontend (%zu) runs shard map version %llu or newer "
                 "(waited %s)\n",
                 result->frontends.size(),
                 static_cast<unsigned long long>(version),
                 absl::FormatDuration(absl::Trunc(result->waited,
                                                  absl::Milliseconds(1)))
                     .c_str());
  } else {
    const std::string lagging = DescribeFrontends(result->lagging);
    if (!args.force) {
      if (ctx->flags.json) {
        std::cout << nlohmann::json{{"shard", args.id},
                                    {"drained", false},
                                    {"shard_map_version", version},
                                    {"lagging_frontends",
                                     FrontendVersionsJson(result->lagging)}}
                         .dump()
                  << "\n";
      }
      absl::Status st = absl::FailedPreconditionError(absl::StrCat(
          "not every frontend adopted shard map version ", version,
          " within ", args.settle_s, " s: ", lagging,
          ". They may still place new chunks on ", args.id,
          "; nothing was copied. Check that they run and follow the map "
          "(--shard-map-interval > 0, --report-interval > 0; a stopped "
          "frontend leaves this list within a minute), then rerun, or pass "
          "--force to copy anyway"));
      *exit = ctx->Fail(st);
      return st;
    }
    std::fprintf(stderr,
                 "berthctl: warning: --force: copying although these "
                 "frontends did not adopt shard map version %llu: %s\n",
                 static_cast<unsigned long long>(version), lagging.c_str());
  }
  return std::move(result->frontends);
}

// Marks the shard draining, waits until every frontend reports the new map
// (AwaitFrontends), then repairs until a pass changes nothing. Exit 0 when
// every chunk has R good copies on active shards, 5 otherwise (rerun once
// shards are back) or when frontends lag without --force.
int DrainShard(Context* ctx, const DrainArgs& args) {
  auto config = ReadClusterConfig(ctx);
  if (!config.ok()) return ctx->Fail(config.status());
  const meta::ShardInfo* shard = FindShard(*config, args.id);
  if (shard == nullptr) {
    return ctx->Fail(absl::NotFoundError(
        absl::StrCat("no shard '", args.id, "' in the shard map")));
  }
  if (shard->state() != meta::SHARD_DRAINING) {
    meta::Command command;
    command.mutable_set_shard_state()->set_id(args.id);
    command.mutable_set_shard_state()->set_state(meta::SHARD_DRAINING);
    if (absl::Status st = Execute(ctx, command); !st.ok()) return ctx->Fail(st);
    // The version to wait for: the map with the shard draining (or newer).
    config = ReadClusterConfig(ctx);
    if (!config.ok()) return ctx->Fail(config.status());
    std::fprintf(stderr,
                 "shard %s is draining (shard map version %llu); waiting up "
                 "to %.0f s for every frontend to adopt it\n",
                 args.id.c_str(),
                 static_cast<unsigned long long>(config->shard_map_version()),
                 args.settle_s);
  }
  // Also on a rerun (already draining): frontends restarted with an old
  // --blobd seed must be on the map too. Frontends keep the old client
  // only for uploads already running; `shards remove` re-checks for those.
  int exit = kExitOk;
  auto frontends =
      AwaitFrontends(ctx, args, config->shard_map_version(), &exit);
  if (!frontends.ok()) return exit;
  auto blobs = OpenClusterBlobs(ctx);
  if (!blobs.ok()) return ctx->Fail(blobs.status());
  if (blobs->client->replicas() < static_cast<size_t>(blobs->replicas)) {
    std::fprintf(stderr,
                 "berthctl: warning: only %zu active shards without %s; "
                 "R=%d cannot be met\n",
                 blobs->client->replicas(), args.id.c_str(), blobs->replicas);
  }
  RepairSummary total, last;
  for (int pass = 1; pass <= args.max_passes; ++pass) {
    auto s = RepairPass(ctx, *blobs, absl::StrCat("drain ", args.id, " pass ", pass));
    if (!s.ok()) return ctx->Fail(s.status());
    last = *s;
    total.images = last.images;
    total.copies_made += last.copies_made;
    total.bad_copies_removed += last.bad_copies_removed;
    total.images_updated += last.images_updated;
    total.images_changed += last.images_changed;
    // A pass that moved nothing and found nothing short: stable.
    if (last.copies_made == 0 && last.images_updated == 0 &&
        last.images_changed == 0) {
      break;
    }
  }
  total.under_replicated = last.under_replicated;
  total.lost = last.lost;
  const bool done = total.under_replicated.empty() && total.lost.empty() &&
                    blobs->client->replicas() >= static_cast<size_t>(blobs->replicas);
  if (ctx->flags.json) {
    nlohmann::json out = SummaryJson(total);
    out["shard"] = args.id;
    out["drained"] = done;
    out["shard_map_version"] = config->shard_map_version();
    out["frontends"] = FrontendVersionsJson(*frontends);
    std::cout << out.dump() << "\n";
  } else {
    PrintSummary(absl::StrCat("drain ", args.id).c_str(), total);
    std::printf(done ? "shard %s is drained: every chunk has %d good copies "
                       "without it (berthctl shards remove %s)\n"
                     : "shard %s is not drained yet: some chunks lack %d good "
                       "copies elsewhere; rerun berthctl shards drain %s\n",
                args.id.c_str(), blobs->replicas, args.id.c_str());
  }
  return done ? kExitOk : kExitFailed;
}

int RemoveShard(Context* ctx, const std::string& id, bool force) {
  auto blobs = OpenClusterBlobs(ctx);
  if (!blobs.ok()) return ctx->Fail(blobs.status());
  const meta::ShardInfo* shard = FindShard(blobs->config, id);
  if (shard == nullptr) {
    return ctx->Fail(absl::NotFoundError(
        absl::StrCat("no shard '", id, "' in the shard map")));
  }
  if (!force) {
    if (shard->state() != meta::SHARD_DRAINING) {
      return ctx->Fail(absl::FailedPreconditionError(absl::StrCat(
          "shard ", id, " is ", StateName(shard->state()),
          ": run berthctl shards drain ", id,
          " first (or --force for a lost shard)")));
    }
    auto metadata = ctx->Metadata();
    if (!metadata.ok()) return ctx->Fail(metadata.status());
    auto needing = ChunksNeedingShard(**metadata, *blobs->client, id);
    if (!needing.ok()) return ctx->Fail(needing.status());
    if (!needing->empty()) {
      for (const std::string& n : *needing) {
        std::fprintf(stderr, "  still needs %s: %s\n", id.c_str(), n.c_str());
      }
      return ctx->Fail(absl::FailedPreconditionError(absl::StrCat(
          "shard ", id, " still holds chunks without ", blobs->replicas,
          " good copies elsewhere: rerun berthctl shards drain ", id)));
    }
  }
  meta::Command command;
  command.mutable_remove_shard()->set_id(id);
  if (absl::Status st = Execute(ctx, command); !st.ok()) return ctx->Fail(st);
  if (ctx->flags.json) {
    std::cout << nlohmann::json{{"removed", id}, {"forced", force}}.dump()
              << "\n";
  } else {
    std::printf("shard %s removed from the shard map%s\n", id.c_str(),
                force ? "; run berthctl repair to restore R copies of its "
                        "chunks"
                      : "");
  }
  return kExitOk;
}

int SetReplication(Context* ctx, uint32_t r, uint32_t w) {
  meta::Command command;
  command.mutable_set_replication()->set_replicas(r);
  command.mutable_set_replication()->set_write_quorum(w);
  if (absl::Status st = Execute(ctx, command); !st.ok()) return ctx->Fail(st);
  if (ctx->flags.json) {
    std::cout << nlohmann::json{{"replicas", r}, {"write_quorum", w}}.dump()
              << "\n";
  } else {
    std::printf("replication set to R=%u W=%u (run berthctl repair to add "
                "copies of existing chunks)\n", r, w);
  }
  return kExitOk;
}

// Scrubs the named shards (default: every shard not down). Exit 0 when
// the scrub ran (corrupt chunks are a finding, listed), 3/5 when a shard
// could not be scrubbed.
int Scrub(Context* ctx, const std::vector<std::string>& ids, bool quarantine) {
  auto blobs = OpenClusterBlobs(ctx);
  if (!blobs.ok()) return ctx->Fail(blobs.status());
  std::vector<std::string> targets = ids;
  if (targets.empty()) {
    for (const blob::ShardInfo& s : blobs->client->shard_map()) {
      if (s.state != blob::ShardState::kDown) targets.push_back(s.id);
    }
  }
  nlohmann::json out = nlohmann::json::array();
  int rc = kExitOk;
  blob::ScrubOptions options;
  options.quarantine = quarantine;
  for (const std::string& id : targets) {
    auto report = blob::ScrubShard(*blobs->client, id, options);
    nlohmann::json row = {{"shard", id}};
    if (!report.ok()) {
      row["error"] = std::string(report.status().message());
      rc = std::max(rc, ctx->Fail(report.status()));
    } else {
      row["chunks"] = report->chunks;
      row["bytes"] = report->bytes;
      row["corrupt"] = report->corrupt;
      row["quarantined"] = report->quarantined;
    }
    out.push_back(row);
  }
  if (ctx->flags.json) {
    std::cout << nlohmann::json{{"shards", out}}.dump() << "\n";
    return rc;
  }
  std::printf("%-12s %9s %12s %8s %12s\n", "SHARD", "CHUNKS", "BYTES",
              "CORRUPT", "QUARANTINED");
  for (const auto& row : out) {
    if (row.contains("error")) {
      std::printf("%-12s error: %s\n", row["shard"].get<std::string>().c_str(),
                  row["error"].get<std::string>().c_str());
      continue;
    }
    std::printf("%-12s %9llu %12llu %8zu %12llu\n",
                row["shard"].get<std::string>().c_str(),
                static_cast<unsigned long long>(row["chunks"].get<uint64_t>()),
                static_cast<unsigned long long>(row["bytes"].get<uint64_t>()),
                row["corrupt"].size(),
                static_cast<unsigned long long>(row["quarantined"].get<uint64_t>()));
  }
  for (const auto& row : out) {
    if (!row.contains("corrupt")) continue;
    for (const auto& d : row["corrupt"]) {
      std::printf("corrupt %s on %s\n", d.get<std::string>().c_str(),
                  row["shard"].get<std::string>().c_str());
    }
  }
  return rc;
}

// Exit 0 when every examined chunk has R good copies, 5 when some do not
// (listed), 1 for an unknown --image.
int Repair(Context* ctx, const std::string& image) {
  auto blobs = OpenClusterBlobs(ctx);
  if (!blobs.ok()) return ctx->Fail(blobs.status());
  std::vector<std::string> only;
  if (!image.empty()) {
    auto metadata = ctx->Metadata();
    if (!metadata.ok()) return ctx->Fail(metadata.status());
    meta::GetImageRequest request;
    request.set_id(image);
    auto response = (*metadata)->GetImage(request);
    if (!response.ok()) return ctx->Fail(response.status());
    if (response->error().reason() != REASON_UNSPECIFIED) {
      return ctx->Fail(absl::NotFoundError(absl::StrCat("image ", image, ": ",
                                                        response->error().message())));
    }
    only.push_back(image);
  }
  auto summary = RepairPass(ctx, *blobs, "repair", only);
  if (!summary.ok()) return ctx->Fail(summary.status());
  const bool ok = summary->under_replicated.empty() && summary->lost.empty();
  if (ctx->flags.json) {
    nlohmann::json out = SummaryJson(*summary);
    out["replicas"] = blobs->replicas;
    out["ok"] = ok;
    std::cout << out.dump() << "\n";
  } else {
    PrintSummary("repair", *summary);
  }
  return ok ? kExitOk : kExitFailed;
}

}  // namespace

void AddShardCommands(CLI::App& app, Context* ctx) {
  CLI::App* shards = app.add_subcommand(
      "shards", "the blob shard map kept in metadata (frontends follow it)");
  shards->require_subcommand(1);

  CLI::App* list = shards->add_subcommand(
      "list", "id, address, zone, weight, state, usage and chunk count");
  OnRun(list, ctx, [ctx] { return ListShards(ctx); });

  auto add = std::make_shared<AddArgs>();
  CLI::App* add_cmd = shards->add_subcommand(
      "add", "add (or update) a shard; checks that the blobd answers as ID");
  add_cmd->add_option("id", add->id, "shard id (the blobd's --shard-id)")
      ->required();
  add_cmd->add_option("address", add->address, "blobd host:port")->required();
  add_cmd->add_option("--zone", add->zone, "failure zone (default: the id)");
  add_cmd->add_option("--weight", add->weight, "relative share of chunks")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000u));
  OnRun(add_cmd, ctx, [ctx, add] { return AddShard(ctx, *add); });

  auto drain = std::make_shared<DrainArgs>();
  CLI::App* drain_cmd = shards->add_subcommand(
      "drain",
      "mark a shard draining and copy its chunks until each has R good "
      "copies without it (rerunnable)");
  drain_cmd->add_option("id", drain->id, "shard id")->required();
  drain_cmd->add_option("--settle", drain->settle_s,
                        "seconds to wait at most, after marking it draining, "
                        "for every frontend seen in the last minute to "
                        "report the new shard map (they poll it every 2 s "
                        "and report at once); exit 5 if some do not")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  drain_cmd->add_flag("--force", drain->force,
                      "copy even if some frontends did not report the new "
                      "map (they may still write chunks to the shard)");
  OnRun(drain_cmd, ctx, [ctx, drain] { return DrainShard(ctx, *drain); });

  auto remove_id = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  CLI::App* remove_cmd = shards->add_subcommand(
      "remove",
      "remove a drained shard from the map (--force: a lost shard; then run "
      "berthctl repair)");
  remove_cmd->add_option("id", *remove_id, "shard id")->required();
  remove_cmd->add_flag("--force", *force,
                       "remove even if not drained (the shard is lost)");
  OnRun(remove_cmd, ctx,
        [ctx, remove_id, force] { return RemoveShard(ctx, *remove_id, *force); });

  auto r = std::make_shared<uint32_t>(3);
  auto w = std::make_shared<uint32_t>(2);
  CLI::App* repl_cmd = shards->add_subcommand(
      "replication", "set the cluster's copies per chunk (R) and write quorum (W)");
  repl_cmd->add_option("replicas", *r, "R")->required()->check(CLI::Range(1u, 16u));
  repl_cmd->add_option("write_quorum", *w, "W (<= R)")
      ->required()
      ->check(CLI::Range(1u, 16u));
  OnRun(repl_cmd, ctx, [ctx, r, w] { return SetReplication(ctx, *r, *w); });

  auto scrub_ids = std::make_shared<std::vector<std::string>>();
  auto quarantine = std::make_shared<bool>(false);
  CLI::App* scrub_cmd = app.add_subcommand(
      "scrub", "re-hash every chunk on the shards and list corrupt ones");
  scrub_cmd->add_option("shards", *scrub_ids,
                        "shard ids (default: every shard not down)");
  scrub_cmd->add_flag("--quarantine", *quarantine,
                      "move corrupt copies aside so repair replaces them");
  OnRun(scrub_cmd, ctx, [ctx, scrub_ids, quarantine] {
    return Scrub(ctx, *scrub_ids, *quarantine);
  });

  auto image = std::make_shared<std::string>();
  CLI::App* repair_cmd = app.add_subcommand(
      "repair",
      "bring every layer's chunks (or one image's) back to R good copies and "
      "update the manifests");
  repair_cmd->add_option("--image", *image, "only this image id");
  OnRun(repair_cmd, ctx, [ctx, image] { return Repair(ctx, *image); });
}

}  // namespace berth::ctl

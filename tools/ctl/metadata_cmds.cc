// berthctl commands that read metadata: `image ID`, `repository NAME`,
// `status` (every replica in --endpoint, the live replicas and etcd
// members they see).
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tools/ctl/commands.h"
#include "tools/image_cmd.h"

namespace berth::ctl {
namespace {

int FailUnavailable(const absl::Status& st) {
  std::fprintf(stderr, "berthctl: %s\n", std::string(st.message()).c_str());
  return kExitUnavailable;
}

std::string StateName(meta::ImageState s) {
  return meta::ImageState_Name(s);
}

int ShowImage(meta::MetadataClient& client, const std::string& id, bool json) {
  meta::GetImageRequest req;
  req.set_id(id);
  auto resp = client.GetImage(req);
  if (!resp.ok()) return FailUnavailable(resp.status());
  if (resp->error().reason() != REASON_UNSPECIFIED) {
    std::fprintf(stderr, "berthctl: image %s: %s\n", id.c_str(),
                 resp->error().message().c_str());
    return kExitNotFound;
  }
  const meta::ImageRecord& img = resp->image();
  nlohmann::json out = {{"id", img.id()},
                        {"parent", img.parent()},
                        {"state", StateName(img.state())},
                        {"size", img.layer().total_size()},
                        {"chunks", img.layer().chunks_size()},
                        {"payload_checksum", img.payload_checksum()},
                        {"tarsum", img.client_tarsum()}};
  if (json) {
    std::cout << out.dump() << "\n";
  } else {
    for (auto& [k, v] : out.items()) {
      std::printf("%-17s %s\n", k.c_str(),
                  v.is_string() ? v.get<std::string>().c_str()
                                : v.dump().c_str());
    }
  }
  return 0;
}

int ShowRepository(meta::MetadataClient& client, std::string name, bool json) {
  if (name.find('/') == std::string::npos) name = "library/" + name;
  meta::GetRepositoryRequest req;
  req.set_name(name);
  auto resp = client.GetRepository(req);
  if (!resp.ok()) return FailUnavailable(resp.status());
  if (resp->error().reason() != REASON_UNSPECIFIED) {
    std::fprintf(stderr, "berthctl: repository %s: %s\n", name.c_str(),
                 resp->error().message().c_str());
    return kExitNotFound;
  }
  nlohmann::json tags = nlohmann::json::object();
  for (const auto& [tag, id] : resp->tags()) tags[tag] = id;
  nlohmann::json images = nlohmann::json::array();
  for (const auto& e : resp->repository().images()) images.push_back(e.id());
  if (json) {
    std::cout << nlohmann::json{{"name", name}, {"tags", tags},
                                {"images", images}}.dump()
              << "\n";
    return 0;
  }
  std::printf("repository %s: %d images, %zu tags\n", name.c_str(),
              resp->repository().images_size(), resp->tags().size());
  for (const auto& [tag, id] : tags.items()) {
    std::printf("  %-20s %s\n", tag.c_str(), id.get<std::string>().c_str());
  }
  return 0;
}

std::string Bytes(int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(n) / (1 << 20));
  return buf;
}

// Status of every replica in --metadata. Exit 3 if none answered, else 0
// (a replica that did not answer is shown as such).
int ShowStatus(meta::MetadataClient& client,
               const std::vector<std::string>& addresses, bool json) {
  nlohmann::json out = {{"replicas", nlohmann::json::array()},
                        {"etcd", nlohmann::json::array()},
                        {"registered", nlohmann::json::array()}};
  bool any = false;
  meta::StatusResponse first;
  for (size_t i = 0; i < client.replica_count(); ++i) {
    auto st = client.Status(i);
    nlohmann::json r = {{"address", addresses[i]}};
    if (!st.ok()) {
      r["state"] = "unreachable";
      r["error"] = std::string(st.status().message());
    } else {
      if (!any) first = *st;
      any = true;
      r["id"] = st->replica_id();
      r["state"] = st->state();
      r["applied"] = st->applied();
      r["durable_applied"] = st->durable_applied();
      r["log_position"] = st->log_position();
      r["lag"] = st->lag();
      if (!st->log_error().empty()) r["log_error"] = st->log_error();
    }
    out["replicas"].push_back(r);
  }
  if (!any) {
    std::fprintf(stderr, "berthctl: no metadata replica answered\n");
    if (json) std::cout << out.dump() << "\n";
    return kExitUnavailable;
  }
  for (const auto& e : first.etcd()) {
    nlohmann::json m = {{"endpoint", e.endpoint()}, {"reachable", e.reachable()}};
    if (e.reachable()) {
      m["member_id"] = e.member_id();
      m["is_leader"] = e.member_id() == e.leader();
      m["version"] = e.version();
      m["db_size"] = e.db_size();
      m["db_size_in_use"] = e.db_size_in_use();
      m["raft_index"] = e.raft_index();
      m["alarms"] = std::vector<std::string>(e.alarms().begin(), e.alarms().end());
    } else {
      m["error"] = e.error();
    }
    out["etcd"].push_back(m);
  }
  for (const auto& r : first.replicas()) {
    out["registered"].push_back({{"id", r.id()},
                                 {"address", r.address()},
                                 {"applied", r.applied()},
                                 {"durable_applied", r.durable_applied()},
                                 {"lag", r.lag()}});
  }
  out["compacted"] = first.compacted();
  if (json) {
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::printf("%-22s %-14s %10s %10s %10s %6s\n", "REPLICA", "STATE", "APPLIED",
              "DURABLE", "LOG", "LAG");
  for (const auto& r : out["replicas"]) {
    if (r["state"] == "unreachable") {
      std::printf("%-22s %-14s %s\n", r["address"].get<std::string>().c_str(),
                  "unreachable", r["error"].get<std::string>().c_str());
      continue;
    }
    std::printf("%-22s %-14s %10llu %10llu %10llu %6llu\n",
                r["address"].get<std::string>().c_str(),
                r["state"].get<std::string>().c_str(),
                static_cast<unsigned long long>(r["applied"].get<uint64_t>()),
                static_cast<unsigned long long>(r["durable_applied"].get<uint64_t>()),
                static_cast<unsigned long long>(r["log_position"].get<uint64_t>()),
                static_cast<unsigned long long>(r["lag"].get<uint64_t>()));
  }
  std::printf("\nlive replicas registered in etcd: %zu\n",
              out["registered"].size());
  for (const auto& r : out["registered"]) {
    std::printf("  %-22s %-22s applied %llu lag %llu\n",
                r["id"].get<std::string>().c_str(),
                r["address"].get<std::string>().c_str(),
                static_cast<unsigned long long>(r["applied"].get<uint64_t>()),
                static_cast<unsigned long long>(r["lag"].get<uint64_t>()));
  }
  std::printf("\n%-22s %-11s %-8s %12s %12s %s\n", "ETCD", "HEALTH", "ROLE",
              "DB", "IN USE", "ALARMS");
  for (const auto& m : out["etcd"]) {
    if (!m["reachable"].get<bool>()) {
      std::printf("%-22s %-11s %s\n", m["endpoint"].get<std::string>().c_str(),
                  "unreachable", m["error"].get<std::string>().c_str());
      continue;
    }
    std::string alarms;
    for (const auto& a : m["alarms"]) alarms += a.get<std::string>() + " ";
    std::printf("%-22s %-11s %-8s %12s %12s %s\n",
                m["endpoint"].get<std::string>().c_str(), "ok",
                m["is_leader"].get<bool>() ? "leader" : "follower",
                Bytes(m["db_size"].get<int64_t>()).c_str(),
                Bytes(m["db_size_in_use"].get<int64_t>()).c_str(),
                alarms.empty() ? "-" : alarms.c_str());
  }
  std::printf("\nlog compacted below: %llu\n",
              static_cast<unsigned long long>(first.compacted()));
  return 0;
}

}  // namespace

void AddMetadataCommands(CLI::App& app, Context* ctx) {
  auto id = std::make_shared<std::string>();
  CLI::App* image_cmd = app.add_subcommand("image", "show an image");
  image_cmd->add_option("id", *id, "image id");
  AddImageCommands(image_cmd, &ctx->flags.json);  // push|pull (image_cmd.h)
  OnRun(image_cmd, ctx, [ctx, id, image_cmd]() -> int {
    if (int rc = RunImageCommands(image_cmd); rc >= 0) return rc;
    auto client = ctx->Metadata();
    if (!client.ok()) return ctx->Fail(client.status());
    return ShowImage(**client, *id, ctx->flags.json);
  });

  auto repo = std::make_shared<std::string>();
  CLI::App* repo_cmd =
      app.add_subcommand("repository", "show a repository's tags and images");
  repo_cmd->add_option("name", *repo, "ns/repo (or repo for library/repo)")
      ->required();
  OnRun(repo_cmd, ctx, [ctx, repo]() -> int {
    auto client = ctx->Metadata();
    if (!client.ok()) return ctx->Fail(client.status());
    return ShowRepository(**client, *repo, ctx->flags.json);
  });

  CLI::App* status_cmd = app.add_subcommand(
      "status", "metadata replicas (applied position, lag) and etcd health");
  OnRun(status_cmd, ctx, [ctx]() -> int {
    auto client = ctx->Metadata();
    if (!client.ok()) return ctx->Fail(client.status());
    return ShowStatus(**client, ctx->Endpoints(), ctx->flags.json);
  });
}

}  // namespace berth::ctl

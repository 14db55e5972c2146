// berthctl repos list|delete|private and images show ID: repositories and
// images as an administrator sees them (private ones included).
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "tools/ctl/commands.h"
#include "tools/ctl/table.h"

namespace berth::ctl {
namespace {

using nlohmann::json;

// "repo" means "library/repo" (spec §1.7).
std::string FullName(const std::string& name) {
  return name.find('/') == std::string::npos ? "library/" + name : name;
}

int DomainError(const berth::Error& e, Reason not_found) {
  std::fprintf(stderr, "berthctl: %s\n", e.message().c_str());
  if (e.reason() == not_found) return kExitNotFound;
  if (e.reason() == INVALID_ARGUMENT) return kExitUsage;
  return kExitFailed;
}

int ReposList(Context* ctx, const std::string& query) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  json repos = json::array();
  meta::SearchRequest req;
  req.set_query(query);
  req.set_admin(true);  // private repositories too
  req.set_n(100);
  for (uint32_t page = 1;; ++page) {
    req.set_page(page);
    auto resp = (*client)->Search(req);
    if (!resp.ok()) return ctx->Fail(resp.status());
    for (const meta::SearchResult& r : resp->results()) {
      repos.push_back({{"name", r.name()},
                       {"private", r.is_private()},
                       {"owner", r.owner()},
                       {"description", r.description()}});
    }
    if (resp->results_size() == 0 || repos.size() >= resp->total()) break;
  }
  // Tag counts: one linearizable read per repository.
  for (json& r : repos) {
    meta::GetRepositoryRequest g;
    g.set_name(r["name"]);
    auto resp = (*client)->GetRepository(g);
    if (!resp.ok()) return ctx->Fail(resp.status());
    r["tags"] = resp->tags().size();
    r["images"] = resp->repository().images_size();
  }
  if (ctx->flags.json) {
    std::cout << json{{"repositories", repos}}.dump() << "\n";
    return kExitOk;
  }
  Table t({"REPOSITORY", "PRIVATE", "OWNER", "TAGS", "IMAGES", "DESCRIPTION"});
  for (const json& r : repos) {
    t.Add({r["name"], r["private"].get<bool>() ? "yes" : "no",
           r["owner"].get<std::string>().empty() ? "-" : r["owner"].get<std::string>(),
           std::to_string(r["tags"].get<size_t>()),
           std::to_string(r["images"].get<int>()), r["description"]});
  }
  t.Print();
  std::printf("%zu repositories\n", repos.size());
  return kExitOk;
}

int ReposDelete(Context* ctx, const std::string& name) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  meta::Command c;
  c.mutable_delete_repository()->set_name(FullName(name));
  auto r = (*client)->Execute(std::move(c));
  if (!r.ok()) return ctx->Fail(r.status());
  if (r->error().reason() != REASON_UNSPECIFIED) {
    return DomainError(r->error(), REPOSITORY_NOT_FOUND);
  }
  if (ctx->flags.json) {
    std::cout << json{{"name", FullName(name)}, {"deleted", true}}.dump() << "\n";
  } else {
    std::printf("repository %s deleted (tags and image list; the images stay "
                "until `berthctl gc` finds them unreferenced)\n",
                FullName(name).c_str());
  }
  return kExitOk;
}

int ReposPrivate(Context* ctx, const std::string& name, bool off) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  meta::Command c;
  meta::SetRepositoryProperties* p = c.mutable_set_repository_properties();
  p->set_name(FullName(name));
  p->set_has_private(true);
  p->set_is_private(!off);
  auto r = (*client)->Execute(std::move(c));
  if (!r.ok()) return ctx->Fail(r.status());
  if (r->error().reason() != REASON_UNSPECIFIED) {
    return DomainError(r->error(), REPOSITORY_NOT_FOUND);
  }
  if (ctx->flags.json) {
    std::cout << json{{"name", FullName(name)}, {"private", !off}}.dump() << "\n";
  } else {
    std::printf("repository %s is now %s\n", FullName(name).c_str(),
                off ? "public" : "private");
  }
  return kExitOk;
}

int ImagesShow(Context* ctx, const std::string& id) {
  auto client = ctx->Metadata();
  if (!client.ok()) return ctx->Fail(client.status());
  meta::GetImageRequest req;
  req.set_id(id);
  req.set_include_json(true);
  auto resp = (*client)->GetImage(req);
  if (!resp.ok()) return ctx->Fail(resp.status());
  if (resp->error().reason() != REASON_UNSPECIFIED) {
    return DomainError(resp->error(), IMAGE_NOT_FOUND);
  }
  meta::GetImageRepositoriesRequest rr;
  rr.set_id(id);
  auto repos = (*client)->GetImageRepositories(rr);
  if (!repos.ok()) return ctx->Fail(repos.status());
  const meta::ImageRecord& img = resp->image();
  json chunks = json::array();
  for (const auto& c : img.layer().chunks()) {
    chunks.push_back({{"digest", c.digest()},
                      {"size", c.size()},
                      {"shards", std::vector<std::string>(c.shards().begin(),
                                                          c.shards().end())}});
  }
  json in_repos = json::array();
  for (const auto& r : repos->repositories()) {
    in_repos.push_back({{"name", r.name()}, {"private", r.is_private()}});
  }
  json ancestry = std::vector<std::string>(img.ancestry().begin(),
                                           img.ancestry().end());
  json out = {{"id", img.id()},
              {"state", meta::ImageState_Name(img.state())},
              {"parent", img.parent()},
              {"ancestry", ancestry},
              {"size", img.layer().total_size()},
              {"json_bytes", img.json().size()},
              {"created_unix", img.created_unix()},
              {"payload_checksum", img.payload_checksum()},
              {"tarsum", img.client_tarsum()},
              {"computed_tarsum", img.computed_tarsum()},
              {"encrypted", img.encrypted()},
              {"repositories", in_repos},
              {"chunks", chunks}};
  if (ctx->flags.json) {
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  std::vector<std::string> repo_names;
  for (const json& r : in_repos) {
    repo_names.push_back(absl::StrCat(r["name"].get<std::string>(),
                                      r["private"].get<bool>() ? " (private)" : ""));
  }
  Table fields({"FIELD", "VALUE"});
  fields.Add({"id", img.id()});
  fields.Add({"state", meta::ImageState_Name(img.state())});
  fields.Add({"parent", img.parent().empty() ? "-" : img.parent()});
  fields.Add({"ancestry", absl::StrCat(img.ancestry_size(), " images")});
  fields.Add({"layer size", absl::StrCat(img.layer().total_size(), " bytes (",
                                         HumanBytes(img.layer().total_size()), ")")});
  fields.Add({"created", FormatUnixTime(img.created_unix())});
  fields.Add({"payload checksum", img.payload_checksum().empty() ? "-" : img.payload_checksum()});
  fields.Add({"tarsum", img.client_tarsum().empty() ? "-" : img.client_tarsum()});
  fields.Add({"encrypted", img.encrypted() ? "yes" : "no"});
  fields.Add({"repositories", repo_names.empty() ? "-" : absl::StrJoin(repo_names, ", ")});
  fields.Print();
  if (!chunks.empty()) {
    std::printf("\n");
    Table t({"CHUNK", "SIZE", "SHARDS"});
    for (const json& c : chunks) {
      std::vector<std::string> shards = c["shards"];
      t.Add({c["digest"], std::to_string(c["size"].get<uint64_t>()),
             absl::StrJoin(shards, ",")});
    }
    t.Print();
  }
  return kExitOk;
}

}  // namespace

void AddRepoCommands(CLI::App& app, Context* ctx) {
  CLI::App* repos = app.add_subcommand(
      "repos", "repositories: list, delete, private");
  repos->require_subcommand(1);
  auto query = std::make_shared<std::string>();
  CLI::App* list = repos->add_subcommand(
      "list", "every repository (private ones too) with owner and tag count");
  list->add_option("--query", *query,
                   "only names or descriptions containing this");
  OnRun(list, ctx, [ctx, query] { return ReposList(ctx, *query); });

  auto del = std::make_shared<std::string>();
  CLI::App* del_cmd = repos->add_subcommand(
      "delete", "delete a repository's tags and image list (exit 1 if "
                "unknown); images stay for gc");
  del_cmd->add_option("name", *del, "ns/repo (or repo for library/repo)")
      ->required();
  OnRun(del_cmd, ctx, [ctx, del] { return ReposDelete(ctx, *del); });

  struct PrivateArgs {
    std::string name;
    bool off = false;
  };
  auto priv = std::make_shared<PrivateArgs>();
  CLI::App* priv_cmd = repos->add_subcommand(
      "private", "make a repository private (--off: public again; exit 1 "
                 "if unknown)");
  priv_cmd->add_option("name", priv->name, "ns/repo (or repo for library/repo)")
      ->required();
  priv_cmd->add_flag("--off", priv->off, "make it public");
  OnRun(priv_cmd, ctx,
        [ctx, priv] { return ReposPrivate(ctx, priv->name, priv->off); });

  CLI::App* images = app.add_subcommand("images", "images: show");
  images->require_subcommand(1);
  auto id = std::make_shared<std::string>();
  CLI::App* show = images->add_subcommand(
      "show", "an image's state, parent, size, checksums, repositories and "
              "chunks with their shards (exit 1 if unknown)");
  show->add_option("id", *id, "image id")->required();
  OnRun(show, ctx, [ctx, id] { return ImagesShow(ctx, *id); });
}

}  // namespace berth::ctl

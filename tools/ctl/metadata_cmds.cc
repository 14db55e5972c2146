// berthctl commands that read metadata: `image ID` (also `images show
// ID`, repo_cmds.cc), `repository NAME`; `image push|pull` (image_cmd.h).
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
}

}  // namespace berth::ctl

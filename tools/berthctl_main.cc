// berthctl: the operators' gRPC admin tool. This first version reads
// metadata (images, repositories, tags) from a metad; cluster status,
// shards, scrub, repair and gc arrive with the operator issue.
//
// Exit codes: 0 ok, 1 not found, 2 usage, 3 service unavailable.
#include <cstdio>
#include <iostream>

#include "CLI/CLI.hpp"
#include "common/options.h"
#include "metadata/metadata_client.h"
#include "nlohmann/json.hpp"

namespace berth {
namespace {

constexpr int kNotFound = 1;
constexpr int kUnavailable = 3;

std::string StateName(meta::ImageState s) {
  return meta::ImageState_Name(s);
}

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "berthctl: %s\n", std::string(st.message()).c_str());
  return kUnavailable;
}

int ShowImage(meta::MetadataClient& client, const std::string& id, bool json) {
  meta::GetImageRequest req;
  req.set_id(id);
  auto resp = client.GetImage(req);
  if (!resp.ok()) return Fail(resp.status());
  if (resp->error().reason() != REASON_UNSPECIFIED) {
    std::fprintf(stderr, "berthctl: image %s: %s\n", id.c_str(),
                 resp->error().message().c_str());
    return kNotFound;
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
  if (!resp.ok()) return Fail(resp.status());
  if (resp->error().reason() != REASON_UNSPECIFIED) {
    std::fprintf(stderr, "berthctl: repository %s: %s\n", name.c_str(),
                 resp->error().message().c_str());
    return kNotFound;
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

int Main(int argc, char** argv) {
  CLI::App app{"berthctl: administer a Berth cluster"};
  app.require_subcommand(1);
  std::string metadata = "127.0.0.1:5001";
  bool json = false;
  app.add_option("--metadata", metadata, "metad gRPC host:port")
      ->capture_default_str();
  app.add_flag("--json", json, "print JSON instead of a table");
  std::string id, repo;
  CLI::App* image_cmd = app.add_subcommand("image", "show an image");
  image_cmd->add_option("id", id, "image id")->required();
  CLI::App* repo_cmd =
      app.add_subcommand("repository", "show a repository's tags and images");
  repo_cmd->add_option("name", repo, "ns/repo (or repo for library/repo)")
      ->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto hp = ParseHostPort(metadata);
  if (!hp.ok()) {
    std::fprintf(stderr, "berthctl: --metadata: %s\n",
                 std::string(hp.status().message()).c_str());
    return 2;
  }
  meta::MetadataClientOptions options;
  options.call_timeout = absl::Seconds(10);
  meta::MetadataClient client(meta::DialMetadata(hp->ToString()), options);
  if (*image_cmd) return ShowImage(client, id, json);
  return ShowRepository(client, repo, json);
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) { return berth::Main(argc, argv); }

#include "tests/bridge_check.h"

#include "absl/strings/match.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/bridge_util.h"
#include "tools/v1client/docker_archive.h"
#include "tools/v1client/files.h"

namespace berth::testing {

using nlohmann::json;

std::vector<PushedImage> ChainOf(const std::string& archive) {
  std::vector<PushedImage> out;
  auto a = v1client::DockerArchive::Open(archive);
  EXPECT_TRUE(a.ok()) << a.status();
  if (!a.ok()) return out;
  EXPECT_EQ((*a)->images().size(), 1u);
  for (const auto& img : (*a)->images()[0].chain) {
    out.push_back({img.id, img.json, *v1client::ReadFileToString(img.layer_path)});
  }
  return out;
}

void ExpectLoadableArchive(const std::map<std::string, std::string>& e,
                           const std::string& repo, const std::string& tag,
                           const std::vector<PushedImage>& chain) {
  auto get = [&](const std::string& name) -> std::string {
    auto it = e.find(name);
    EXPECT_TRUE(it != e.end()) << "archive lacks " << name;
    return it == e.end() ? "" : it->second;
  };
  ASSERT_FALSE(chain.empty());
  // Per image: VERSION, json and layer.tar identical to what was pushed.
  std::string parent;
  for (const PushedImage& img : chain) {
    SCOPED_TRACE(img.id);
    EXPECT_EQ(get(img.id + "/VERSION"), "1.0");
    EXPECT_EQ(get(img.id + "/json"), img.json);
    EXPECT_TRUE(get(img.id + "/layer.tar") == img.layer) << "layer bytes differ";
    json j = json::parse(get(img.id + "/json"), nullptr, false);
    EXPECT_EQ(j.value("id", ""), img.id);
    EXPECT_EQ(j.contains("parent") ? j["parent"].get<std::string>() : "", parent);
    parent = img.id;
  }
  // manifest.json -> config -> layers, and repositories, agree.
  json manifest = json::parse(get("manifest.json"), nullptr, false);
  ASSERT_TRUE(manifest.is_array() && manifest.size() == 1) << manifest;
  const json& m = manifest[0];
  EXPECT_EQ(m["RepoTags"], json::array({repo + ":" + tag}));
  ASSERT_TRUE(m["Layers"].is_array());
  ASSERT_EQ(m["Layers"].size(), chain.size());
  std::string config_name = m["Config"];
  std::string config_bytes = get(config_name);
  EXPECT_EQ(config_name, Sha256Hex(config_bytes) + ".json");
  json config = json::parse(config_bytes, nullptr, false);
  ASSERT_TRUE(config.is_object());
  ASSERT_EQ(config["rootfs"]["diff_ids"].size(), chain.size());
  EXPECT_EQ(config["rootfs"]["type"], "layers");
  size_t non_empty = 0;
  for (const json& h : config["history"]) non_empty += h.value("empty_layer", false) ? 0 : 1;
  EXPECT_EQ(non_empty, chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    EXPECT_EQ(m["Layers"][i], chain[i].id + "/layer.tar");
    std::string layer = chain[i].layer;
    if (layer.size() >= 2 && static_cast<unsigned char>(layer[0]) == 0x1f &&
        static_cast<unsigned char>(layer[1]) == 0x8b) {
      absl::StatusOr<std::string> plain = Gunzip(layer);
      ASSERT_TRUE(plain.ok());
      layer = *plain;
    }
    EXPECT_EQ(config["rootfs"]["diff_ids"][i], "sha256:" + Sha256Hex(layer)) << i;
  }
  EXPECT_FALSE(config.contains("id"));
  EXPECT_FALSE(config.contains("parent"));
  json repos = json::parse(get("repositories"), nullptr, false);
  EXPECT_EQ(repos, json({{repo, {{tag, chain.back().id}}}}));
}

}  // namespace berth::testing

// Reading the real `docker save` archives of testdata/docker-save (all three
// layouts) and archives built here, including damaged ones.
#include "tools/v1client/docker_archive.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/bridge_util.h"
#include "tests/harness/process.h"
#include "tools/v1client/files.h"

namespace berth::v1client {
namespace {

using berth::testing::ReadTar;
using berth::testing::RunfilePath;
using berth::testing::WriteTar;

std::string Fixture(const std::string& name) {
  return RunfilePath("testdata/docker-save/" + name, "shared");
}

std::unique_ptr<DockerArchive> MustOpen(const std::string& path) {
  absl::StatusOr<std::unique_ptr<DockerArchive>> a = DockerArchive::Open(path);
  EXPECT_TRUE(a.ok()) << path << ": " << a.status();
  return a.ok() ? *std::move(a) : nullptr;
}

std::string Layer(const V1Image& img) { return *ReadFileToString(img.layer_path); }

// Ids chained by parent, each json naming its own id and parent.
void ExpectChained(const ArchiveImage& image) {
  std::string parent;
  for (const V1Image& img : image.chain) {
    EXPECT_TRUE(IsSha256Hex(img.id));
    EXPECT_EQ(img.parent, parent);
    nlohmann::json j = nlohmann::json::parse(img.json);
    EXPECT_EQ(j["id"], img.id);
    if (parent.empty()) {
      EXPECT_FALSE(j.contains("parent"));
    } else {
      EXPECT_EQ(j["parent"], parent);
    }
    parent = img.id;
  }
}

struct Expect {
  const char* file;
  ArchiveLayout layout;
  size_t layers;
  const char* tag;  // "" for none
};

TEST(DockerArchiveTest, EveryFixtureOpens) {
  const Expect cases[] = {
      {"legacy-hello-world.tar", ArchiveLayout::kLegacy, 2, "hello-world:latest"},
      {"legacy-tianon-true.tar", ArchiveLayout::kLegacy, 2, "tianon/true:latest"},
      {"modern-tianon-true.tar", ArchiveLayout::kManifest, 2, "tianon/true:latest"},
      {"modern-busybox.tar", ArchiveLayout::kManifest, 1, "busybox:latest"},
      {"modern-dive-test-14-layers.tar", ArchiveLayout::kManifest, 14, "dive-test:latest"},
      {"oci-hello-world.tar", ArchiveLayout::kOci, 1, "hello-world:latest"},
      {"oci-hello-world-by-id.tar", ArchiveLayout::kOci, 1, ""},
      {"oci-busybox-gzip.tar", ArchiveLayout::kOci, 1, "busybox:latest"},
  };
  for (const Expect& c : cases) {
    SCOPED_TRACE(c.file);
    std::unique_ptr<DockerArchive> a = MustOpen(Fixture(c.file));
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->layout(), c.layout);
    ASSERT_EQ(a->images().size(), 1u);
    const ArchiveImage& img = a->images()[0];
    EXPECT_EQ(img.chain.size(), c.layers);
    if (*c.tag == '\0') {
      EXPECT_TRUE(img.repo_tags.empty());
    } else {
      EXPECT_EQ(img.repo_tags, std::vector<std::string>{c.tag});
    }
    ExpectChained(img);
    for (const V1Image& v : img.chain) EXPECT_EQ(*FileSize(v.layer_path), v.layer_size);
    // Derived ids are deterministic.
    std::unique_ptr<DockerArchive> again = MustOpen(Fixture(c.file));
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->images()[0].chain.back().id, img.chain.back().id);
    EXPECT_EQ(again->images()[0].chain.back().json, img.chain.back().json);
  }
}

TEST(DockerArchiveTest, LegacyJsonAndLayersAreKeptByteForByte) {
  std::unique_ptr<DockerArchive> a = MustOpen(Fixture("legacy-hello-world.tar"));
  ASSERT_NE(a, nullptr);
  auto entries = ReadTar(Fixture("legacy-hello-world.tar"));
  ASSERT_TRUE(entries.ok());
  const auto& chain = a->images()[0].chain;
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0].id, "3f12c794407e68e515ba7f473a744e748ac8a827a2ea8b33855dec564238b2e5");
  EXPECT_EQ(chain[1].id, "975b84d108f1024953937167506c2935a081c8c55ae9e9f7b7deee118605367f");
  for (const V1Image& v : chain) {
    EXPECT_EQ(v.json, (*entries)[v.id + "/json"]);
    EXPECT_EQ(Layer(v), (*entries)[v.id + "/layer.tar"]);
  }
  EXPECT_EQ(Sha256Hex(Layer(chain[0])),
            "b652ec3a27e758f30de4742156b5d096bb19c82f2dc836e96e430323ba166ffe");
}

TEST(DockerArchiveTest, ConfigLayoutsDeriveOneV1ImagePerLayer) {
  std::unique_ptr<DockerArchive> a = MustOpen(Fixture("modern-dive-test-14-layers.tar"));
  ASSERT_NE(a, nullptr);
  const auto& chain = a->images()[0].chain;
  ASSERT_EQ(chain.size(), 14u);
  EXPECT_EQ(Sha256Hex(Layer(chain[0])),
            "23bc2b70b2014dec0ac22f27bb93e9babd08cdd6f1115d0c955b9ff22b382f5a");
  EXPECT_EQ(Sha256Hex(Layer(chain[13])),
            "ba689cac6a98c92d121fa5c9716a1bab526b8bb1fd6d43625c575b79e97300c5");
  // Lower layers get created/created_by from the history; the top one the
  // config without rootfs/history.
  nlohmann::json base = nlohmann::json::parse(chain[0].json);
  EXPECT_TRUE(base.contains("created"));
  EXPECT_TRUE(base["container_config"]["Cmd"][0].is_string());
  nlohmann::json top = nlohmann::json::parse(chain[13].json);
  EXPECT_FALSE(top.contains("rootfs"));
  EXPECT_FALSE(top.contains("history"));
  EXPECT_TRUE(top.contains("config"));

  // The gzip OCI layer is pushed as stored (the blob, not the diff).
  std::unique_ptr<DockerArchive> oci = MustOpen(Fixture("oci-busybox-gzip.tar"));
  ASSERT_NE(oci, nullptr);
  const V1Image& gz = oci->images()[0].chain[0];
  EXPECT_EQ(gz.layer_size, 2220094u);
  EXPECT_EQ(Sha256Hex(Layer(gz)),
            "9ad63333ebc97e32b987ae66aa3cff81300e4c2e6d2f2395cef8a3ae18b249fe");
  EXPECT_EQ(*DiffIdOfFile(gz.layer_path),
            "sha256:2e112031b4b923a873c8b3d685d48037e4d5ccd967b658743d93a6e56c3064b9");
}

TEST(DockerArchiveTest, BareOciLayoutWithoutManifestJson) {
  auto entries = ReadTar(Fixture("oci-busybox-gzip.tar"));
  ASSERT_TRUE(entries.ok());
  berth::testing::TarEntries kept;
  for (const auto& [name, data] : *entries) {
    if (name != "manifest.json") kept.emplace_back(name, data);
  }
  std::string path = berth::testing::MakeTempDir("oci-bare-") + "/bare.tar";
  ASSERT_TRUE(WriteTar(path, kept).ok());
  std::unique_ptr<DockerArchive> bare = MustOpen(path);
  std::unique_ptr<DockerArchive> with = MustOpen(Fixture("oci-busybox-gzip.tar"));
  ASSERT_NE(bare, nullptr);
  ASSERT_NE(with, nullptr);
  EXPECT_EQ(bare->layout(), ArchiveLayout::kOci);
  ASSERT_EQ(bare->images().size(), 1u);
  // The index names 20 platforms; only linux/amd64 was exported.
  EXPECT_EQ(bare->images()[0].chain.back().id, with->images()[0].chain.back().id);
  EXPECT_EQ(bare->images()[0].chain.back().json, with->images()[0].chain.back().json);
}

TEST(DockerArchiveTest, DamagedArchivesFailClearly) {
  std::string dir = berth::testing::MakeTempDir("bad-archives-");
  auto invalid = [](const std::string& path, const std::string& needle) {
    absl::StatusOr<std::unique_ptr<DockerArchive>> a = DockerArchive::Open(path);
    EXPECT_TRUE(absl::IsInvalidArgument(a.status())) << path << ": " << a.status();
    EXPECT_TRUE(absl::StrContains(a.status().message(), needle)) << a.status();
  };
  ASSERT_TRUE(WriteStringToFile(dir + "/junk.tar", std::string(3000, 'j')).ok());
  invalid(dir + "/junk.tar", "not a readable tar");
  invalid(dir + "/missing.tar", "cannot read archive");

  // One changed byte in a layer no longer matches the config's diff_id.
  auto entries = ReadTar(Fixture("modern-tianon-true.tar"));
  ASSERT_TRUE(entries.ok());
  berth::testing::TarEntries tampered(entries->begin(), entries->end());
  for (auto& [name, data] : tampered) {
    if (absl::EndsWith(name, "206614686278cb8afdc8409957da4370450b01c75ca763b1a1d16f714930521c/layer.tar")) {
      data[600] ^= 1;
    }
  }
  ASSERT_TRUE(WriteTar(dir + "/tampered.tar", tampered).ok());
  invalid(dir + "/tampered.tar", "does not match the config's diff_id");

  ASSERT_TRUE(WriteTar(dir + "/escape.tar", {{"../evil", "x"}}).ok());
  invalid(dir + "/escape.tar", "escapes the archive");

  // Legacy image whose parent folder is missing.
  std::string id(64, 'c'), parent(64, 'd');
  ASSERT_TRUE(WriteTar(dir + "/orphan.tar",
                       {{id + "/json", R"({"id":")" + id + R"(","parent":")" + parent + R"("})"},
                        {id + "/layer.tar", ""},
                        {"repositories", R"({"x":{"latest":")" + id + R"("}})"}})
                  .ok());
  invalid(dir + "/orphan.tar", "is missing");

  ASSERT_TRUE(WriteTar(dir + "/empty-ish.tar", {{"hello.txt", "hi"}}).ok());
  invalid(dir + "/empty-ish.tar", "no manifest.json");
  RemoveAll(dir).IgnoreError();
}

TEST(DockerArchiveTest, SelectAmongSeveralImages) {
  std::string dir = berth::testing::MakeTempDir("multi-");
  std::string a(64, 'a'), b(64, 'b');
  ASSERT_TRUE(WriteTar(dir + "/two.tar",
                       {{a + "/json", R"({"id":")" + a + R"("})"},
                        {a + "/layer.tar", "A"},
                        {b + "/json", R"({"id":")" + b + R"("})"},
                        {b + "/layer.tar", "B"},
                        {"repositories", R"({"x":{"one":")" + a + R"("},"library/y":{"two":")" +
                                             b + R"("}})"}})
                  .ok());
  std::unique_ptr<DockerArchive> arc = MustOpen(dir + "/two.tar");
  ASSERT_NE(arc, nullptr);
  ASSERT_EQ(arc->images().size(), 2u);
  absl::StatusOr<const ArchiveImage*> one = arc->Select("x", "one");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)->chain[0].id, a);
  absl::StatusOr<const ArchiveImage*> two = arc->Select("y", "two");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ((*two)->chain[0].id, b);
  absl::StatusOr<const ArchiveImage*> none = arc->Select("z", "latest");
  EXPECT_TRUE(absl::IsInvalidArgument(none.status()));
  EXPECT_TRUE(absl::StrContains(none.status().message(), "x:one")) << none.status();
  RemoveAll(dir).IgnoreError();
}

}  // namespace
}  // namespace berth::v1client

// The archive written for `docker load`: manifest.json, config and
// repositories agree with each other and with the layers; it is written
// atomically.
#include "tools/v1client/archive_writer.h"

#include <dirent.h>

#include <string>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/bridge_util.h"
#include "tests/harness/process.h"
#include "tools/v1client/docker_archive.h"
#include "tools/v1client/files.h"

namespace berth::v1client {
namespace {

using nlohmann::json;

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
  }
  return out;
}

TEST(ArchiveWriterTest, WritesAConsistentLoadableArchive) {
  std::string dir = berth::testing::MakeTempDir("writer-");
  std::string base(64, '1'), top(64, '2');
  absl::StatusOr<std::string> tar1 = berth::testing::TarBytes({{"etc/hello", "hello\n"}});
  absl::StatusOr<std::string> tar2 = berth::testing::TarBytes({{"bin/app", std::string(9000, 'z')}});
  ASSERT_TRUE(tar1.ok() && tar2.ok());
  std::string gz2 = berth::testing::Gzip(*tar2);  // a gzip layer stays gzip
  ASSERT_TRUE(WriteStringToFile(dir + "/l1", *tar1).ok());
  ASSERT_TRUE(WriteStringToFile(dir + "/l2", gz2).ok());
  std::string j1 = R"({"id":")" + base +
                   R"(","created":"2015-01-01T00:00:00Z","container_config":{"Cmd":["/bin/sh","-c","#(nop) ADD file"]},"os":"linux"})";
  std::string j2 = R"({"id":")" + top + R"(","parent":")" + base +
                   R"(","created":"2015-01-02T00:00:00Z","config":{"Cmd":["/app"]},"Size":9000,"architecture":"amd64","os":"linux"})";
  std::vector<LoadableImage> chain = {
      {base, j1, dir + "/l1", *DiffIdOfFile(dir + "/l1")},
      {top, j2, dir + "/l2", *DiffIdOfFile(dir + "/l2")}};
  EXPECT_EQ(chain[1].diff_id, "sha256:" + Sha256Hex(*tar2));
  std::string out = dir + "/out.tar";
  ASSERT_TRUE(WriteLoadableArchive(out, "foo/bar", "v1", chain).ok());
  EXPECT_EQ(ListDir(dir).size(), 3u) << "no temporary file may be left";

  auto entries = berth::testing::ReadTar(out);
  ASSERT_TRUE(entries.ok()) << entries.status();
  auto& e = *entries;
  EXPECT_EQ(e[base + "/VERSION"], "1.0");
  EXPECT_EQ(e[base + "/json"], j1);
  EXPECT_EQ(e[top + "/json"], j2);
  EXPECT_EQ(e[base + "/layer.tar"], *tar1);
  EXPECT_EQ(e[top + "/layer.tar"], gz2);

  json manifest = json::parse(e["manifest.json"]);
  ASSERT_TRUE(manifest.is_array());
  ASSERT_EQ(manifest.size(), 1u);
  std::string config_name = manifest[0]["Config"];
  EXPECT_EQ(manifest[0]["RepoTags"], json::array({"foo/bar:v1"}));
  EXPECT_EQ(manifest[0]["Layers"], json::array({base + "/layer.tar", top + "/layer.tar"}));
  ASSERT_TRUE(e.count(config_name));
  EXPECT_EQ(config_name, Sha256Hex(e[config_name]) + ".json");
  json config = json::parse(e[config_name]);
  EXPECT_EQ(config["rootfs"]["type"], "layers");
  EXPECT_EQ(config["rootfs"]["diff_ids"],
            json::array({"sha256:" + Sha256Hex(*tar1), "sha256:" + Sha256Hex(*tar2)}));
  ASSERT_EQ(config["history"].size(), 2u);
  EXPECT_EQ(config["history"][0]["created_by"], "/bin/sh -c #(nop) ADD file");
  EXPECT_EQ(config["history"][1]["created"], "2015-01-02T00:00:00Z");
  EXPECT_FALSE(config.contains("id"));
  EXPECT_FALSE(config.contains("parent"));
  EXPECT_FALSE(config.contains("Size"));
  EXPECT_EQ(config["config"]["Cmd"], json::array({"/app"}));
  EXPECT_EQ(config["os"], "linux");
  EXPECT_EQ(json::parse(e["repositories"]), json({{"foo/bar", {{"v1", top}}}}));

  // Our own reader accepts it (as a manifest.json archive) and sees the same
  // layer bytes.
  absl::StatusOr<std::unique_ptr<DockerArchive>> back = DockerArchive::Open(out);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->layout(), ArchiveLayout::kManifest);
  ASSERT_EQ((*back)->images()[0].chain.size(), 2u);
  EXPECT_EQ(*ReadFileToString((*back)->images()[0].chain[1].layer_path), gz2);
  RemoveAll(dir).IgnoreError();
}

TEST(ArchiveWriterTest, FailureLeavesNothingBehind) {
  std::string dir = berth::testing::MakeTempDir("writer-fail-");
  std::string id(64, '3');
  std::vector<LoadableImage> chain = {{id, R"({"id":")" + id + R"("})", dir + "/absent",
                                       "sha256:" + std::string(64, '0')}};
  absl::Status s = WriteLoadableArchive(dir + "/out.tar", "x", "latest", chain);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(ListDir(dir).empty()) << "a half-written archive was left";
  EXPECT_FALSE(WriteLoadableArchive(dir + "/no/such/dir/out.tar", "x", "latest", chain).ok());
  RemoveAll(dir).IgnoreError();
}

}  // namespace
}  // namespace berth::v1client

#include "common/options.h"

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"

namespace berth {
namespace {

std::string WriteFile(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ExpandConfigFileTest, InsertsFileOptionsAfterTheSubcommand) {
  std::string path = WriteFile("a.toml",
                               "# comment\n[serve]\nlisten = \"127.0.0.1:1\"\n"
                               "data='/srv/x'\n\nlog-level = warn\n");
  auto args = ExpandConfigFile(
      {"berth", "serve", "--config", path, "--listen", "127.0.0.1:2"});
  ASSERT_TRUE(args.ok()) << args.status();
  std::vector<std::string> want = {"berth",
                                   "serve",
                                   "--listen=127.0.0.1:1",
                                   "--data=/srv/x",
                                   "--log-level=warn",
                                   "--config",
                                   path,
                                   "--listen",
                                   "127.0.0.1:2"};
  EXPECT_EQ(*args, want);
}

TEST(ExpandConfigFileTest, WithoutConfigArgumentsAreUnchanged) {
  std::vector<std::string> in = {"berth", "metad", "--listen", "x:1"};
  auto args = ExpandConfigFile(in);
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(*args, in);
}

TEST(ExpandConfigFileTest, MissingAndMalformedFilesAreErrors) {
  EXPECT_FALSE(ExpandConfigFile({"berth", "serve", "--config=/nonexistent/x"}).ok());
  std::string bad = WriteFile("bad.toml", "listen 127.0.0.1:1\n");
  auto args = ExpandConfigFile({"berth", "serve", "--config", bad});
  ASSERT_FALSE(args.ok());
  EXPECT_NE(std::string(args.status().message()).find("line 1"),
            std::string::npos);
}

TEST(ParseHostPortTest, AcceptsHostPortAndRejectsJunk) {
  auto hp = ParseHostPort("127.0.0.1:5000");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 5000);
  EXPECT_EQ(ParseHostPort("[::1]:80")->host, "::1");
  EXPECT_FALSE(ParseHostPort("127.0.0.1:99999").ok());
  EXPECT_FALSE(ParseHostPort("nohost").ok());
}

}  // namespace
}  // namespace berth

// berthctl against a launcher cluster (issue 9): 3 etcd, 3 metads and 3
// blobds in zones a/b/c, 2 frontends in index mode. `status` (table and
// --json) shows every tier; users, repos, images, secret rotation,
// replicas, checkpoint and the exit codes are exercised through the real
// binary. A second test stops the whole cluster with `berth-cluster down`,
// starts it again on the same directory and pulls everything back.
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/auth_testutil.h"
#include "tests/bridge_util.h"
#include "tests/cluster_launcher.h"
#include "tests/conformance_util.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"

namespace berth::testing {
namespace {

using nlohmann::json;

// A base image and a child, each with its own random layer.
std::vector<PushImage> Chain(const std::string& seed, size_t layer_bytes) {
  return RandomChain(seed, {layer_bytes, layer_bytes + 512});
}

void ExpectPullsBack(const PullResult& pulled,
                     const std::vector<PushImage>& chain) {
  for (const PushImage& img : chain) {
    auto it = pulled.images.find(img.id);
    ASSERT_NE(it, pulled.images.end()) << "not pulled: " << img.id;
    EXPECT_EQ(it->second.json, img.json) << img.id;
    EXPECT_TRUE(it->second.layer == img.layer) << "layer differs: " << img.id;
  }
}

// berthctl against `cluster`'s metads, with a short per-call deadline.
CommandResult Ctl(const LauncherCluster& cluster, std::vector<std::string> args) {
  args.insert(args.begin(),
              {"--endpoint", cluster.MetadEndpoints(), "--timeout", "5"});
  return RunBerthctl(args);
}

std::string Describe(const CommandResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\nstdout:\n", r.out,
                      "\nstderr:\n", r.err);
}

// Runs with --json; records a failure unless it exits 0 with one JSON
// document on stdout.
json CtlJson(const LauncherCluster& cluster, std::vector<std::string> args) {
  args.insert(args.begin(), "--json");
  CommandResult r = Ctl(cluster, args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  json doc = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << Describe(r);
  return doc;
}

// Puts every blobd of the launcher's cluster in the shard map, in the zone
// the launcher gave it (what an operator does once after the first start).
void RegisterShards(const LauncherCluster& c) {
  for (int k = 1; c.Has(absl::StrCat("blobd-", k)); ++k) {
    const std::string name = absl::StrCat("blobd-", k);
    CommandResult r = Ctl(c, {"shards", "add", name, c.Address(name), "--zone",
                              c.state()[name].value("zone", "")});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
}

class BerthctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = LauncherCluster::Up(
        {"--metads", "3", "--blobds", "3", "--frontends", "2",
         "--frontend-args=--auth index --token-lifetime 600"});
    if (!cluster.ok()) {
      setup_error_ = new std::string(cluster.status().ToString());
      return;
    }
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
    if (!shards_registered_) {
      RegisterShards(*cluster_);
      shards_registered_ = true;
    }
    for (const char* name : {"frontend-1", "frontend-2"}) {
      auto fe = RegistryClient::FromUrl(cluster_->Url(name));
      ASSERT_TRUE(fe.ok()) << fe.status();
      fe->set_timeout(absl::Seconds(30));
      fe_.push_back(*fe);
    }
    dir_ = MakeTempDir("berthctl-");
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->LogTails();
  }

  LauncherCluster& c() { return *cluster_; }
  std::string PasswordFile(const std::string& name, const std::string& pw) {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(WriteFile(path, pw + "\n"));
    return path;
  }

  static LauncherCluster* cluster_;
  static std::string* setup_error_;
  static bool shards_registered_;
  std::vector<RegistryClient> fe_;
  std::string dir_;
};
LauncherCluster* BerthctlTest::cluster_ = nullptr;
std::string* BerthctlTest::setup_error_ = nullptr;
bool BerthctlTest::shards_registered_ = false;

TEST_F(BerthctlTest, StatusShowsTheWholeCluster) {
  json st;
  // Registrations, frontend reports and the shard map settle within a few
  // heartbeats of the start.
  bool complete = WaitFor(
      [&] {
        CommandResult r = Ctl(c(), {"--json", "status"});
        if (r.exit_code != 0) return false;
        st = json::parse(r.out, nullptr, false);
        if (st.is_discarded() || st["frontends"].size() < 2) return false;
        // Each frontend reports the shard map it adopted (at once).
        for (const json& f : st["frontends"]) {
          if (!st["shard_map"].contains("map_version") ||
              f["shard_map_version"] != st["shard_map"]["map_version"]) {
            return false;
          }
        }
        // Serving, registered (heartbeat) and in the roster (joined at
        // the first heartbeat).
        for (const json& rep : st["replicas"]) {
          if (rep["state"] != "serving" || !rep.value("registered", false) ||
              !rep.value("in_roster", false)) {
            return false;
          }
        }
        return st["replicas"].size() == 3 && st["shards"].size() == 3 &&
               st.value("healthy", false);
      },
      absl::Seconds(30));
  ASSERT_TRUE(complete) << st.dump(1);

  std::map<std::string, std::string> replica_zone;
  for (const json& rep : st["replicas"]) {
    replica_zone[rep["id"]] = rep["zone"];
    EXPECT_TRUE(rep["registered"].get<bool>()) << rep.dump();
    EXPECT_TRUE(rep["in_roster"].get<bool>()) << rep.dump();
    ASSERT_TRUE(rep.contains("lag") && rep.contains("applied")) << rep.dump();
    EXPECT_LE(rep["applied"].get<uint64_t>(), st["log_position"].get<uint64_t>());
  }
  EXPECT_EQ(replica_zone, (std::map<std::string, std::string>{
                              {"metad-1", "a"}, {"metad-2", "b"}, {"metad-3", "c"}}));
  ASSERT_EQ(st["etcd"].size(), 3u);
  int leaders = 0;
  for (const json& e : st["etcd"]) {
    EXPECT_TRUE(e["reachable"].get<bool>()) << e.dump();
    EXPECT_TRUE(e["alarms"].empty()) << e.dump();
    leaders += e["is_leader"].get<bool>() ? 1 : 0;
  }
  EXPECT_EQ(leaders, 1);
  std::map<std::string, std::string> shard_zone;
  for (const json& s : st["shards"]) {
    shard_zone[s["id"]] = s["zone"];
    EXPECT_EQ(s["state"], "active");
    EXPECT_TRUE(s["reachable"].get<bool>()) << s.dump();
    EXPECT_GT(s["total_bytes"].get<uint64_t>(), 0u);
  }
  EXPECT_EQ(shard_zone, (std::map<std::string, std::string>{
                            {"blobd-1", "a"}, {"blobd-2", "b"}, {"blobd-3", "c"}}));
  std::map<std::string, json> frontends;
  for (const json& f : st["frontends"]) frontends[f["id"]] = f;
  ASSERT_EQ(frontends.size(), 2u) << st["frontends"].dump();
  EXPECT_EQ(frontends["frontend-1"]["zone"], "a");
  EXPECT_EQ(frontends["frontend-2"]["zone"], "b");
  EXPECT_EQ(frontends["frontend-1"]["address"], c().Address("frontend-1"));
  for (auto& [id, f] : frontends) {
    EXPECT_FALSE(f["version"].get<std::string>().empty()) << f.dump();
    EXPECT_GT(f["shard_map_version"].get<uint64_t>(), 0u) << f.dump();
    EXPECT_LE(f["seen_seconds_ago"].get<int64_t>(), 60) << f.dump();
    EXPECT_GE(f["requests_per_second"].get<double>(), 0.0);
  }

  // The table for people: one screen with every section and member.
  CommandResult table = Ctl(c(), {"status"});
  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  for (const char* needle :
       {"METADATA", "REPLICA", "LAG", "ETCD", "leader", "SHARDS", "blobd-3",
        "FRONTENDS", "MAP", "frontend-1", "frontend-2", "metad-3",
        "no problems"}) {
    EXPECT_TRUE(absl::StrContains(table.out, needle)) << needle << "\n"
                                                      << table.out;
  }
  std::cerr << "---- berthctl status ----\n" << table.out << "----\n";
}

TEST_F(BerthctlTest, UsersRoundTripAndBasicAuthPush) {
  const std::string pw1 = PasswordFile("pw1", "first-secret");
  const std::string pw2 = PasswordFile("pw2", "second-secret");
  CommandResult r = Ctl(c(), {"users", "add", "carol", "--email",
                              "carol@example.com", "--password-file", pw1});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  // Taken name, bad name, short password: usage errors, nothing changes.
  EXPECT_EQ(Ctl(c(), {"users", "add", "carol", "--password-file", pw1}).exit_code, 2);
  EXPECT_EQ(Ctl(c(), {"users", "add", "Bad-Name", "--password-file", pw1}).exit_code, 2);
  EXPECT_EQ(Ctl(c(), {"users", "add", "dave_x", "--password-file",
                      PasswordFile("short", "abc")}).exit_code, 2);

  auto find = [&](const std::string& name) -> json {
    json doc = CtlJson(c(), {"users", "list"});
    for (const json& u : doc["users"]) {
      if (u["username"] == name) return u;
    }
    return json();
  };
  json carol = find("carol");
  ASSERT_TRUE(carol.is_object());
  EXPECT_EQ(carol["emails"], json::array({"carol@example.com"}));
  EXPECT_FALSE(carol["admin"].get<bool>());
  EXPECT_FALSE(carol.contains("password_hash"));
  EXPECT_TRUE(find("dave_x").is_null());

  // The frontends know the account: Basic login works with pw1.
  auto login = [&](const RegistryClient& fe, const std::string& pw) {
    auto resp = fe.Request("GET", "/v1/users/", {{"Authorization", Basic("carol", pw)}});
    return resp.ok() ? resp->status : -1;
  };
  EXPECT_EQ(login(fe_[0], "first-secret"), 200);

  r = Ctl(c(), {"users", "passwd", "carol", "--password-file", pw2});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  // frontend-2 never verified a password of carol's (a frontend trusts a
  // password it verified for 30 s), so it shows the change at once;
  // frontend-1 takes the new one too.
  EXPECT_EQ(login(fe_[1], "first-secret"), 401);
  EXPECT_EQ(login(fe_[0], "second-secret"), 200);
  EXPECT_EQ(Ctl(c(), {"users", "passwd", "nobody_here", "--password-file", pw2}).exit_code,
            1);

  // A Basic-auth push (docker login + push in index mode) with the new
  // password, into carol's namespace.
  std::vector<PushImage> chain = Chain("carol", 64 << 10);
  RegistryClient index = fe_[0];
  index.set_index_auth(Basic("carol", "second-secret"));
  PushOptions push;
  push.tags["latest"] = chain.back().id;
  push.follow_endpoints = true;
  auto report = PushChain(index, "carol/app", chain, push);
  ASSERT_TRUE(report.ok()) << report.status();
  auto pulled = PullIndexAndVerify(fe_[1], "carol/app");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  ExpectPullsBack(pulled->pull, chain);

  r = Ctl(c(), {"users", "admin", "carol"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(find("carol")["admin"].get<bool>());
  r = Ctl(c(), {"users", "admin", "carol", "--revoke"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_FALSE(find("carol")["admin"].get<bool>());
  EXPECT_EQ(Ctl(c(), {"users", "admin", "nobody_here"}).exit_code, 1);

  // The table lists the account.
  CommandResult table = Ctl(c(), {"users", "list"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(table.out, "carol@example.com")) << table.out;

  r = Ctl(c(), {"users", "delete", "carol"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(find("carol").is_null());
  EXPECT_EQ(Ctl(c(), {"users", "delete", "carol"}).exit_code, 1);
  // A deleted account cannot log in (on frontend-2, which never verified
  // this password; frontend-1 may trust it for up to 30 s more).
  EXPECT_EQ(login(fe_[1], "second-secret"), 401);
  // Its email is free again.
  r = Ctl(c(), {"users", "add", "carol2", "--email", "carol@example.com",
                "--password-file", pw1});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
}

TEST_F(BerthctlTest, ReposImagesAndSecretRotation) {
  const std::string pw = PasswordFile("pw", "erin-secret");
  CommandResult r = Ctl(c(), {"users", "add", "erin", "--password-file", pw});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string basic = Basic("erin", "erin-secret");
  std::vector<PushImage> chain = Chain("erin", 200 << 10);
  RegistryClient index = fe_[0];
  index.set_index_auth(basic);
  PushOptions push;
  push.tags["latest"] = chain.back().id;
  push.follow_endpoints = true;
  for (const char* repo : {"erin/web", "erin/db"}) {
    auto report = PushChain(index, repo, chain, push);
    ASSERT_TRUE(report.ok()) << repo << ": " << report.status();
  }

  // repos list: both, public, with their tag and image counts.
  auto listed = [&]() {
    std::map<std::string, json> out;
    json doc = CtlJson(c(), {"repos", "list", "--query", "erin/"});
    for (const json& repo : doc["repositories"]) {
      out[repo["name"]] = repo;
    }
    return out;
  };
  std::map<std::string, json> repos = listed();
  ASSERT_EQ(repos.size(), 2u);
  EXPECT_FALSE(repos["erin/web"]["private"].get<bool>());
  EXPECT_EQ(repos["erin/web"]["tags"], 1);
  EXPECT_EQ(repos["erin/web"]["images"], 2);

  // private: anonymous readers lose it; --off gives it back.
  ASSERT_TRUE(PullIndexAndVerify(fe_[1], "erin/web").ok());
  r = Ctl(c(), {"repos", "private", "erin/web"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(listed()["erin/web"]["private"].get<bool>());
  EXPECT_FALSE(PullIndexAndVerify(fe_[1], "erin/web").ok());
  RegistryClient owner = fe_[1];
  owner.set_index_auth(basic);
  auto owner_pull = PullIndexAndVerify(owner, "erin/web");
  ASSERT_TRUE(owner_pull.ok()) << owner_pull.status();
  ExpectPullsBack(owner_pull->pull, chain);
  r = Ctl(c(), {"repos", "private", "erin/web", "--off"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(PullIndexAndVerify(fe_[1], "erin/web").ok());
  EXPECT_EQ(Ctl(c(), {"repos", "private", "erin/nothing"}).exit_code, 1);

  // images show: state, size, repositories and chunk placement.
  json img = CtlJson(c(), {"images", "show", chain.back().id});
  EXPECT_EQ(img["state"], "COMPLETE");
  EXPECT_EQ(img["parent"], chain.front().id);
  EXPECT_EQ(img["size"].get<uint64_t>(), chain.back().layer.size());
  EXPECT_EQ(img["ancestry"].size(), 2u);
  std::vector<std::string> in;
  for (const json& repo : img["repositories"]) in.push_back(repo["name"]);
  EXPECT_EQ(in, (std::vector<std::string>{"erin/db", "erin/web"}));
  ASSERT_FALSE(img["chunks"].empty());
  for (const json& chunk : img["chunks"]) {
    EXPECT_GE(chunk["shards"].size(), 2u) << "W=2: " << chunk.dump();
  }
  CommandResult shown = Ctl(c(), {"images", "show", chain.back().id});
  EXPECT_EQ(shown.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(shown.out, "COMPLETE")) << shown.out;
  EXPECT_EQ(Ctl(c(), {"images", "show", std::string(64, 'e')}).exit_code, 1);

  // repos delete: gone from the list and from the registry; the images
  // stay readable through the other repository.
  r = Ctl(c(), {"repos", "delete", "erin/db"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  repos = listed();
  EXPECT_EQ(repos.count("erin/db"), 0u);
  EXPECT_EQ(repos.count("erin/web"), 1u);
  EXPECT_EQ(Ctl(c(), {"repos", "delete", "erin/db"}).exit_code, 1);
  auto tags = fe_[0].Request("GET", "/v1/repositories/erin/db/tags");
  ASSERT_TRUE(tags.ok());
  EXPECT_NE(tags->status, 200);

  // secret rotate: a token issued before the rotation keeps working on
  // both frontends; tokens issued afterwards work too.
  auto before = ReadToken(fe_[0], "erin/web", basic);
  ASSERT_TRUE(before.ok()) << before.status();
  const std::string tags_path = "/v1/repositories/erin/web/tags";
  r = Ctl(c(), {"secret", "rotate"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  for (const RegistryClient& fe : fe_) {
    auto resp = fe.Request("GET", tags_path, {{"Authorization", "Token " + *before}});
    ASSERT_TRUE(resp.ok());
    EXPECT_EQ(resp->status, 200) << Show(*resp);
  }
  auto after = ReadToken(fe_[1], "erin/web", basic);
  ASSERT_TRUE(after.ok()) << after.status();
  auto resp = fe_[0].Request("GET", tags_path, {{"Authorization", "Token " + *after}});
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 200) << Show(*resp);
  // A forged token still fails (the rotation did not open anything).
  auto forged = ParseToken(*before);
  ASSERT_TRUE(forged.has_value());
  forged->mac = FlipHex(forged->mac, 3);
  resp = fe_[1].Request("GET", tags_path,
                        {{"Authorization", "Token " + forged->Join()}});
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 401) << Show(*resp);
}

TEST_F(BerthctlTest, ReplicasAndCheckpoint) {
  json list = CtlJson(c(), {"replicas", "list"});
  std::map<std::string, json> by_id;
  for (const json& rep : list["replicas"]) by_id[rep["id"]] = rep;
  ASSERT_EQ(by_id.size(), 3u) << list.dump();
  for (auto& [id, rep] : by_id) {
    EXPECT_TRUE(rep["live"].get<bool>()) << rep.dump();
    EXPECT_TRUE(rep["in_roster"].get<bool>()) << rep.dump();
    EXPECT_EQ(rep["address"], c().Address(id));
    EXPECT_TRUE(rep.contains("lag"));
  }

  // Declared ahead of starting: in the roster, down, a problem in status.
  CommandResult r =
      Ctl(c(), {"replicas", "add", "metad-9", "127.0.0.1:9", "--zone", "c"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json st = CtlJson(c(), {"status"});
  bool down = false;
  for (const json& rep : st["replicas"]) {
    if (rep["id"] == "metad-9") down = rep["state"] == "down";
  }
  EXPECT_TRUE(down) << st["replicas"].dump();
  for (const json& rep : st["replicas"]) {
    EXPECT_NE(rep["id"], "metad-8");
  }
  EXPECT_FALSE(st["healthy"].get<bool>());
  // Bad input changes nothing.
  EXPECT_EQ(Ctl(c(), {"replicas", "add", "metad-8", "no-port"}).exit_code, 2);
  EXPECT_EQ(Ctl(c(), {"replicas", "add", "bad/id", "127.0.0.1:8"}).exit_code, 2);
  // A live replica is not removed without --force; an unknown one is 1.
  EXPECT_EQ(Ctl(c(), {"replicas", "remove", "metad-1"}).exit_code, 5);
  r = Ctl(c(), {"replicas", "remove", "metad-9"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Ctl(c(), {"replicas", "remove", "metad-9"}).exit_code, 1);
  list = CtlJson(c(), {"replicas", "list"});
  EXPECT_EQ(list["replicas"].size(), 3u) << list.dump();

  // checkpoint: a RocksDB checkpoint at a log position, in a new dir.
  const std::string cp = dir_ + "/checkpoint";
  json done = CtlJson(c(), {"checkpoint", cp});
  EXPECT_GT(done["position"].get<uint64_t>(), 0u) << done.dump();
  EXPECT_TRUE(std::filesystem::exists(cp + "/CURRENT"));
  EXPECT_GT(done["files"].get<int>(), 1);
  EXPECT_EQ(Ctl(c(), {"checkpoint", cp}).exit_code, 2) << "existing dir";
}

TEST_F(BerthctlTest, ExitCodesAndHelp) {
  // Nothing listens there: unavailable.
  const std::string nowhere = absl::StrCat("127.0.0.1:", FreePort());
  CommandResult r =
      RunBerthctl({"--endpoint", nowhere, "--timeout", "1", "status"});
  EXPECT_EQ(r.exit_code, 3) << Describe(r);
  r = RunBerthctl({"--endpoint", nowhere, "--timeout", "1", "users", "list"});
  EXPECT_EQ(r.exit_code, 3) << Describe(r);
  // Usage errors.
  EXPECT_EQ(RunBerthctl({"users", "add"}).exit_code, 2);
  EXPECT_EQ(RunBerthctl({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(RunBerthctl({"users"}).exit_code, 2);
  EXPECT_EQ(RunBerthctl({"--timeout", "-1", "status"}).exit_code, 2);
  EXPECT_EQ(RunBerthctl({"--endpoint", "not an address", "status"}).exit_code, 2);
  // Not found.
  EXPECT_EQ(Ctl(c(), {"users", "delete", "ghost_user"}).exit_code, 1);
  // --help on every command: exit 0 and a usage text.
  const std::vector<std::vector<std::string>> commands = {
      {},
      {"status"},
      {"replicas"},
      {"replicas", "list"},
      {"replicas", "add"},
      {"replicas", "remove"},
      {"checkpoint"},
      {"users"},
      {"users", "list"},
      {"users", "add"},
      {"users", "passwd"},
      {"users", "delete"},
      {"users", "admin"},
      {"repos"},
      {"repos", "list"},
      {"repos", "delete"},
      {"repos", "private"},
      {"images"},
      {"images", "show"},
      {"secret"},
      {"secret", "rotate"}};
  for (std::vector<std::string> cmd : commands) {
    cmd.push_back("--help");
    CommandResult h = RunBerthctl(cmd);
    EXPECT_EQ(h.exit_code, 0) << absl::StrJoin(cmd, " ") << "\n" << Describe(h);
    EXPECT_TRUE(absl::StrContains(h.out, "Usage")) << absl::StrJoin(cmd, " ");
  }
}

// tools/berth-cluster with `args`; stdout and stderr together in `out`.
CommandResult RunLauncher(const std::vector<std::string>& args) {
  CommandResult result;
  ProcessOptions o;
  o.name = "berth-cluster-" + args.front();
  o.argv = {BerthClusterScript()};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.log_path = MakeTempDir("launcher-cmd-") + "/out.log";
  auto p = Process::Start(o);
  if (!p.ok()) return result;
  auto code = (*p)->Wait(absl::Seconds(120));
  result.exit_code = code.ok() ? *code : -1;
  result.out = ReadFileOrEmpty(o.log_path);
  return result;
}

// The launcher's status/kill/restart, and what berthctl status shows of a
// killed metad (runs last in the suite: it leaves the cluster whole).
TEST_F(BerthctlTest, LauncherKillAndRestartShowInStatus) {
  const std::string dir = c().dir();
  CommandResult r = RunLauncher({"status", "--dir", dir, "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  // The harness heads the log with a "=== ... started" line.
  const size_t start = r.out.find("\n[");
  json rows = json::parse(start == std::string::npos ? r.out : r.out.substr(start),
                          nullptr, false);
  ASSERT_TRUE(rows.is_array()) << r.out;
  EXPECT_EQ(rows.size(), 11u);  // 3 etcd, 3 metad, 3 blobd, 2 frontends
  for (const json& row : rows) {
    EXPECT_TRUE(row["alive"].get<bool>() && row["ready"].get<bool>()) << row.dump();
  }
  const int old_pid = c().Pid("metad-3");
  r = RunLauncher({"kill", "--dir", dir, "metad-3"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_FALSE(PidAlive(old_pid));
  r = RunLauncher({"status", "--dir", dir});
  EXPECT_EQ(r.exit_code, 1) << "a recorded member is dead\n" << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "dead")) << r.out;

  json st = CtlJson(c(), {"status"});
  std::string state;
  for (const json& rep : st["replicas"]) {
    if (rep["id"] == "metad-3") state = rep["state"];
  }
  EXPECT_EQ(state, "unreachable") << st["replicas"].dump();
  EXPECT_FALSE(st["healthy"].get<bool>());
  CommandResult table = Ctl(c(), {"status"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(table.out, "PROBLEMS")) << table.out;

  r = RunLauncher({"restart", "--dir", dir, "metad-3"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ASSERT_TRUE(c().Reload().ok());
  EXPECT_NE(c().Pid("metad-3"), old_pid);
  EXPECT_TRUE(PidAlive(c().Pid("metad-3")));
  EXPECT_TRUE(WaitFor(
      [&] {
        CommandResult s = Ctl(c(), {"--json", "status"});
        json doc = json::parse(s.out, nullptr, false);
        return s.exit_code == 0 && !doc.is_discarded() &&
               doc.value("healthy", false);
      },
      absl::Seconds(30)))
      << Describe(Ctl(c(), {"status"}));
}

// "Stop and restart the whole cluster with nothing lost": images pushed
// through both frontends, `berth-cluster down`, `up` on the same
// directory, then every image pulls back byte-identical and every tag
// resolves through both frontends; accounts and the shard map survive.
TEST(ClusterRestartTest, DownAndUpLosesNothing) {
  auto cluster = LauncherCluster::Up(
      {"--metads", "3", "--blobds", "3", "--frontends", "2"});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LauncherCluster& c = **cluster;
  RegisterShards(c);
  const std::string pw = MakeTempDir("restart-") + "/pw";
  ASSERT_TRUE(WriteFile(pw, "frank-secret\n"));
  ASSERT_EQ(Ctl(c, {"users", "add", "frank", "--password-file", pw}).exit_code, 0);

  auto clients = [&]() {
    std::vector<RegistryClient> out;
    for (const char* name : {"frontend-1", "frontend-2"}) {
      auto fe = RegistryClient::FromUrl(c.Url(name));
      EXPECT_TRUE(fe.ok()) << fe.status();
      if (fe.ok()) {
        fe->set_timeout(absl::Seconds(30));
        out.push_back(*fe);
      }
    }
    return out;
  };
  std::vector<RegistryClient> fe = clients();
  ASSERT_EQ(fe.size(), 2u);
  // Three repositories; one has a layer over a chunk (8 MiB) so a layer
  // spans several chunks, and two tags.
  std::map<std::string, std::vector<PushImage>> pushed;
  pushed["restart/small"] = Chain("small", 300 << 10);
  pushed["restart/big"] = Chain("big", (9 << 20));
  pushed["restart/other"] = Chain("other", 40 << 10);
  int n = 0;
  for (const auto& [repo, chain] : pushed) {
    PushOptions options;
    options.tags["latest"] = chain.back().id;
    options.tags["base"] = chain.front().id;
    auto report = PushChain(fe[n++ % 2], repo, chain, options);
    ASSERT_TRUE(report.ok()) << repo << ": " << report.status();
  }

  ASSERT_TRUE(c.Down().ok());
  // Every recorded process is gone; the state file stays for `up`.
  for (const auto& [name, info] : c.state().items()) {
    EXPECT_FALSE(PidAlive(info.value("pid", 0))) << name;
  }
  ASSERT_FALSE(ReadFileOrEmpty(c.dir() + "/cluster.json").empty());
  ASSERT_TRUE(c.UpAgain().ok()) << c.LogTails();
  fe = clients();
  ASSERT_EQ(fe.size(), 2u);

  for (const auto& [repo, chain] : pushed) {
    for (const RegistryClient& client : fe) {
      SCOPED_TRACE(absl::StrCat(repo, " via port ", client.port()));
      auto pulled = PullAndVerify(client, repo);
      ASSERT_TRUE(pulled.ok()) << pulled.status();
      EXPECT_EQ(pulled->tags, (std::map<std::string, std::string>{
                                  {"base", chain.front().id},
                                  {"latest", chain.back().id}}));
      ExpectPullsBack(*pulled, chain);
    }
  }
  // Accounts, the shard map and the replicas came back.
  bool back = WaitFor(
      [&] {
        CommandResult r = Ctl(c, {"--json", "status"});
        json st = json::parse(r.out, nullptr, false);
        if (r.exit_code != 0 || st.is_discarded()) return false;
        int serving = 0;
        for (const json& rep : st["replicas"]) serving += rep["state"] == "serving";
        return serving == 3 && st["shards"].size() == 3 &&
               st["frontends"].size() == 2;
      },
      absl::Seconds(30));
  EXPECT_TRUE(back) << Describe(Ctl(c, {"status"}));
  json users = CtlJson(c, {"users", "list"});
  ASSERT_EQ(users["users"].size(), 1u) << users.dump();
  EXPECT_EQ(users["users"][0]["username"], "frank");
  if (HasFailure()) std::cerr << c.LogTails();
}

}  // namespace
}  // namespace berth::testing

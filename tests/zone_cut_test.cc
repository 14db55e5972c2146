// Several datacenters (issue 9): three zones a/b/c, each a network
// namespace holding one etcd member, one metad, one blobd and one frontend.
// Every cross-zone byte (etcd peer and client traffic, metad checkpoints,
// frontend -> metad/blobd) goes through a DelayProxy in the root namespace
// that adds kWanDelay each way; inside a zone, processes talk directly.
// The host does not forward between namespaces (ip_forward off), so the
// proxies are the only path between zones.
//
// Cutting zone a isolates its address on every proxy (its connections are
// closed, new ones refused) and takes its veth down (a blackhole). Then:
//  1. pushes with tags through the zone-b/c frontends succeed, and a tag
//     written through one is read back at once through the other;
//  2. inside zone a, json/ancestry/layer GETs of images completed before
//     the cut answer byte-identically (stale-ok reads: a complete image
//     never changes), while tag reads, and image reads the zone has not
//     seen, answer a JSON 503 within a few seconds (never a stale 200/404);
//  3. after healing, metad-a reaches the others' applied position and
//     digest, and everything acknowledged during the cut pulls back
//     byte-identically through zone a's frontend.
//
// The second case cuts zone a silently (DelayProxy::Blackhole on every
// proxy: open connections stay open but go quiet, new ones are accepted
// and never answered; no RST, no FIN), as a partition that drops packets
// looks. The same outcomes hold, and within bounds that show nothing waits
// for an RPC deadline on zone a: a push in b/c takes seconds (its chunks'
// copies to blobd-a are cut short once W acked and blobd-a is then
// skipped), pulls in b/c read own-zone copies, and frontends b/c send
// metadata calls to their own zone's metad (--metadata-prefer-first).
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "metadata/metadata_client.h"
#include "nlohmann/json.hpp"
#include "tests/delay_proxy.h"
#include "tests/harness/http.h"
#include "tests/harness/netns.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"
#include "tests/test_images.h"

namespace berth::testing {
namespace {

constexpr absl::Duration kWanDelay = absl::Milliseconds(10);  // one way
// Ports inside each namespace (the namespaces keep them apart).
constexpr int kEtcdClientPort = 2379;
constexpr int kEtcdPeerPort = 2380;
constexpr int kFrontendPort = 5000;
constexpr int kMetadPort = 5001;
constexpr int kBlobdPort = 5002;
constexpr int kFrontendAdminPort = 5003;
// A frontend's bound on one metadata call (--metadata-timeout): how soon a
// cut-off zone answers 503.
constexpr int kMetadataTimeoutS = 5;

struct Zone {
  std::string name;  // "a"
  std::unique_ptr<Netns> ns;
  // Root-namespace proxies to this zone's services (what other zones dial).
  std::unique_ptr<DelayProxy> etcd_client, etcd_peer, metad, blobd;
  std::unique_ptr<Process> etcd_p, metad_p, blobd_p, frontend_p;

  const std::string& ip() const { return ns->inner_ip(); }
  std::string Direct(int port) const { return absl::StrCat(ip(), ":", port); }
  RegistryClient Frontend() const { return RegistryClient(ip(), kFrontendPort); }
  std::vector<DelayProxy*> proxies() const {
    return {etcd_client.get(), etcd_peer.get(), metad.get(), blobd.get()};
  }
};

class ZoneCutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Skipped only where network namespaces cannot exist: not root, no
    // `ip` (iproute2, installed by tools/setup.sh) or no /var/run/netns.
    // CI runs as root on Debian, so there the test always runs.
    absl::Status supported = NetnsSupported();
    if (!supported.ok()) GTEST_SKIP() << supported;
    RemoveStaleNetns();
    absl::StatusOr<std::string> used =
        RunCommand({IpBinary(), "-o", "addr", "show", "to", "10.213.0.0/16"});
    ASSERT_TRUE(used.ok()) << used.status();
    ASSERT_EQ(*used, "") << "10.213.0.0/16 is in use on this host";
    dir_ = MakeTempDir("zone-cut-");
    berth_ = RunfilePath("tools/berth");
    for (int k = 0; k < 3; ++k) {
      Zone z;
      z.name = std::string(1, static_cast<char>('a' + k));
      NetnsOptions o;
      o.suffix = z.name;
      o.outer_ip = absl::StrCat("10.213.", k + 1, ".1");
      o.inner_ip = absl::StrCat("10.213.", k + 1, ".2");
      auto ns = Netns::Create(o);
      ASSERT_TRUE(ns.ok()) << ns.status();
      z.ns = std::move(*ns);
      z.etcd_client = Proxy(z, "etcd-client", kEtcdClientPort);
      z.etcd_peer = Proxy(z, "etcd-peer", kEtcdPeerPort);
      z.metad = Proxy(z, "metad", kMetadPort);
      z.blobd = Proxy(z, "blobd", kBlobdPort);
      ASSERT_TRUE(z.etcd_client && z.etcd_peer && z.metad && z.blobd);
      zones_.push_back(std::move(z));
    }
    ASSERT_NO_FATAL_FAILURE(StartEtcd());
    for (int k = 0; k < 3; ++k) ASSERT_NO_FATAL_FAILURE(StartMetad(k));
    for (int k = 0; k < 3; ++k) ASSERT_NO_FATAL_FAILURE(StartBlobdAndFrontend(k));
    std::vector<std::string> metads;
    for (const Zone& z : zones_) metads.push_back(z.Direct(kMetadPort));
    meta::MetadataClientOptions mo;
    mo.call_timeout = absl::Seconds(3);
    mo.attempts = 1;
    auto admin = meta::MetadataClient::Connect(absl::StrJoin(metads, ","), mo);
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
    for (int k = 0; k < 3; ++k) {
      std::string why;
      bool ready = WaitFor(
          [&] {
            auto r = HttpGet(zones_[k].ip(), kFrontendAdminPort, "/readyz",
                             absl::Seconds(5));
            why = r.ok() ? absl::StrCat(r->status, " ", r->body)
                         : r.status().ToString();
            return r.ok() && r->status == 200;
          },
          absl::Seconds(60), absl::Milliseconds(200));
      ASSERT_TRUE(ready) << "frontend-" << zones_[k].name << ": " << why;
    }
  }

  std::unique_ptr<DelayProxy> Proxy(const Zone& z, const std::string& what,
                                    int port) {
    DelayProxyOptions o;
    o.name = absl::StrCat(what, "-", z.name);
    o.listen_host = z.ns->outer_ip();
    o.upstream_host = z.ns->inner_ip();
    o.upstream_port = port;
    o.delay = kWanDelay;
    auto p = DelayProxy::Start(o);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // Zone `from`'s address of service `which` of zone j: direct inside the
  // zone, through j's WAN proxy from any other.
  std::string Reach(int from, int j,
                    std::unique_ptr<DelayProxy> Zone::*which, int port) const {
    if (from == j) return zones_[j].Direct(port);
    return (zones_[j].*which)->address();
  }

  std::unique_ptr<Process> StartIn(int k, const std::string& name,
                                   std::vector<std::string> argv) {
    ProcessOptions po;
    po.name = absl::StrCat(name, "-", zones_[k].name);
    po.log_path = absl::StrCat(dir_, "/", po.name, ".log");
    po.argv = zones_[k].ns->InsideArgv(std::move(argv));
    auto p = Process::Start(std::move(po));
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  bool EtcdHealthy(int k) {
    auto r = HttpGet(zones_[k].ip(), kEtcdClientPort, "/health", absl::Seconds(2));
    return r.ok() && r->status == 200 &&
           r->body.find("\"health\":\"true\"") != std::string::npos;
  }

  // POST to etcd member k's JSON gateway (/v3/...); the parsed answer, or
  // a discarded json on any failure.
  nlohmann::json EtcdPost(int k, const std::string& path,
                          const std::string& body) {
    HttpRequest req;
    req.method = "POST";
    req.host = zones_[k].ip();
    req.port = kEtcdClientPort;
    req.path = path;
    req.body = body;
    req.timeout = absl::Seconds(3);
    auto r = HttpFetch(req);
    if (!r.ok() || r->status != 200) return nlohmann::json::value_t::discarded;
    return nlohmann::json::parse(r->body, nullptr, false);
  }

  // Member k's {own id, leader id} ("" when unknown).
  std::pair<std::string, std::string> EtcdIds(int k) {
    nlohmann::json st = EtcdPost(k, "/v3/maintenance/status", "{}");
    if (!st.is_object()) return {"", ""};
    return {st["header"].value("member_id", ""), st.value("leader", "")};
  }

  // Moves etcd's leadership to zone k's member and waits until every
  // member sees it: cutting that zone then forces an election among the
  // others while they take writes (the hard case).
  void MakeEtcdLeader(int k) {
    const std::string target = EtcdIds(k).first;
    ASSERT_FALSE(target.empty());
    int transfers = 0;
    ASSERT_TRUE(WaitFor(
        [&] {
          std::set<std::string> leaders;
          int leader_zone = -1;
          for (int j = 0; j < 3; ++j) {
            auto [id, leader] = EtcdIds(j);
            leaders.insert(leader);
            if (id == leader) leader_zone = j;
          }
          if (leaders.size() == 1 && *leaders.begin() == target) return true;
          // transfer-leadership must be sent to the current leader.
          if (leader_zone >= 0) {
            EtcdPost(leader_zone, "/v3/maintenance/transfer-leadership",
                     absl::StrCat("{\"targetID\":\"", target, "\"}"));
            ++transfers;
          }
          return false;
        },
        absl::Seconds(30), absl::Milliseconds(300)))
        << "etcd-" << zones_[k].name << " did not become the leader";
    std::cerr << "etcd-" << zones_[k].name << " leads (" << transfers
              << " leadership transfer requests)\n";
  }

  void StartEtcd() {
    std::vector<std::string> cluster;
    for (const Zone& z : zones_) {
      cluster.push_back(absl::StrCat("etcd-", z.name, "=http://",
                                     z.etcd_peer->address()));
    }
    const std::string token = absl::StrCat("berth-zone-cut-", getpid(), "-",
                                           absl::ToUnixNanos(absl::Now()));
    for (int k = 0; k < 3; ++k) {
      Zone& z = zones_[k];
      const std::string client = "http://" + z.Direct(kEtcdClientPort);
      z.etcd_p = StartIn(
          k, "etcd",
          {"/usr/bin/etcd", "--name=etcd-" + z.name,
           "--data-dir=" + dir_ + "/etcd-" + z.name,
           "--listen-client-urls=" + client,
           "--advertise-client-urls=" + client,
           "--listen-peer-urls=http://" + z.Direct(kEtcdPeerPort),
           // Peers reach this member through its WAN proxy.
           "--initial-advertise-peer-urls=http://" + z.etcd_peer->address(),
           "--initial-cluster=" + absl::StrJoin(cluster, ","),
           "--initial-cluster-state=new", "--initial-cluster-token=" + token,
           "--logger=zap", "--log-outputs=stderr"});
      ASSERT_NE(z.etcd_p, nullptr);
    }
    for (int k = 0; k < 3; ++k) {
      ASSERT_TRUE(WaitFor([&] { return EtcdHealthy(k); }, absl::Seconds(60),
                          absl::Milliseconds(200)))
          << "etcd-" << zones_[k].name << " not healthy:\n"
          << zones_[k].etcd_p->LogTail(30);
    }
  }

  void StartMetad(int k) {
    Zone& z = zones_[k];
    std::vector<std::string> etcd = {z.Direct(kEtcdClientPort)};  // own first
    for (int j = 0; j < 3; ++j) {
      if (j != k) etcd.push_back(zones_[j].etcd_client->address());
    }
    z.metad_p = StartIn(
        k, "metad",
        {berth_, "metad", "--listen", z.Direct(kMetadPort), "--advertise",
         z.metad->address(), "--data", dir_ + "/metad-" + z.name, "--etcd",
         absl::StrJoin(etcd, ","), "--replica-id", "metad-" + z.name});
    ASSERT_NE(z.metad_p, nullptr);
    meta::MetadataClientOptions mo;
    mo.call_timeout = absl::Seconds(3);
    mo.attempts = 1;
    auto client = meta::MetadataClient::Connect(z.Direct(kMetadPort), mo);
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(WaitFor(
        [&] {
          auto st = (*client)->Status(0);
          return !z.metad_p->Alive() || (st.ok() && st->state() == "serving");
        },
        absl::Seconds(60), absl::Milliseconds(200)));
    ASSERT_TRUE(z.metad_p->Alive()) << z.metad_p->LogTail(40);
  }

  void StartBlobdAndFrontend(int k) {
    Zone& z = zones_[k];
    z.blobd_p = StartIn(k, "blobd",
                        {berth_, "blobd", "--listen", z.Direct(kBlobdPort),
                         "--shard-id", "blob-" + z.name, "--data",
                         dir_ + "/blobd-" + z.name});
    ASSERT_NE(z.blobd_p, nullptr);
    std::vector<std::string> metads = {z.Direct(kMetadPort)};
    std::vector<std::string> shards;
    for (int j = 0; j < 3; ++j) {
      if (j != k) metads.push_back(zones_[j].metad->address());
      shards.push_back(absl::StrCat("blob-", zones_[j].name, "=",
                                    Reach(k, j, &Zone::blobd, kBlobdPort), "@",
                                    zones_[j].name));
    }
    z.frontend_p = StartIn(
        k, "frontend",
        {berth_, "frontend", "--listen", z.Direct(kFrontendPort),
         "--admin-listen", z.Direct(kFrontendAdminPort), "--metadata",
         absl::StrJoin(metads, ","), "--blobd", absl::StrJoin(shards, ","),
         "--zone", z.name,
         // Several chunks per layer, so placement and failover matter.
         "--chunk-size", "4096", "--metadata-timeout",
         absl::StrCat(kMetadataTimeoutS),
         // Own zone's metad (listed first) takes every metadata call.
         "--metadata-prefer-first", "true"});
    ASSERT_NE(z.frontend_p, nullptr);
  }

  // Waits until every metad applied the same last position with the same
  // digest; returns "applied digest".
  std::string WaitConverged(absl::Duration timeout) {
    std::string why, agreed;
    bool ok = WaitFor(
        [&] {
          std::set<std::string> states;
          for (size_t i = 0; i < 3; ++i) {
            auto st = admin_->Status(i);
            auto d = admin_->Digest(i);
            if (!st.ok() || !d.ok()) {
              why = absl::StrCat("metad-", zones_[i].name, ": ",
                                 (st.ok() ? d.status() : st.status()).ToString());
              return false;
            }
            if (st->lag() != 0) {
              why = absl::StrCat("metad-", zones_[i].name, " lags ", st->lag());
              return false;
            }
            states.insert(absl::StrCat(d->applied(), " ", d->digest()));
          }
          why = absl::StrJoin(states, " | ");
          agreed = *states.begin();
          return states.size() == 1;
        },
        timeout, absl::Milliseconds(200));
    EXPECT_TRUE(ok) << "metads did not converge: " << why;
    return ok ? agreed : "";
  }

  // Waits (30 s) until etcd b and c, both healthy, agree on a leader that
  // is not `old_leader` (zone a's member, cut off).
  bool WaitForLeaderInBAndC(const std::string& old_leader) {
    return WaitFor(
        [&] {
          auto b = EtcdIds(1), c = EtcdIds(2);
          return !b.second.empty() && b.second != "0" &&
                 b.second != old_leader && b.second == c.second &&
                 EtcdHealthy(1) && EtcdHealthy(2);
        },
        absl::Seconds(30), absl::Milliseconds(100));
  }

  void Cut(int k) {
    for (Zone& z : zones_) {
      for (DelayProxy* p : z.proxies()) p->Isolate(zones_[k].ip());
    }
    ASSERT_TRUE(zones_[k].ns->SetLinkUp(false).ok());
  }

  // Silently: see the file comment. Heal(k) ends it.
  void SilentCut(int k) {
    for (Zone& z : zones_) {
      for (DelayProxy* p : z.proxies()) p->Blackhole(zones_[k].ip());
    }
  }

  void Heal(int k) {
    ASSERT_TRUE(zones_[k].ns->SetLinkUp(true).ok());
    for (Zone& z : zones_) {
      for (DelayProxy* p : z.proxies()) p->Restore(zones_[k].ip());
    }
  }

  // Runs `fn` on a thread inside zone k's namespace: a client in that
  // datacenter, the only one that can reach a cut-off zone.
  void Inside(int k, const std::function<void()>& fn) {
    absl::Status st = zones_[k].ns->RunInside(fn);
    ASSERT_TRUE(st.ok()) << st;
  }

  std::string dir_;
  std::string berth_;
  // Each Zone stops its processes, then its proxies, then removes its
  // namespace.
  std::vector<Zone> zones_;
  std::unique_ptr<meta::MetadataClient> admin_;
};

std::map<std::string, std::string> Tags(const HttpResponse& r) {
  std::map<std::string, std::string> out;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_string()) out[it.key()] = it->get<std::string>();
  }
  return out;
}

// GET json and layer of `image`: 200 and the pushed bytes.
void ExpectServed(const RegistryClient& c, const PushImage& image) {
  auto json = c.GetImageJson(image.id);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->status, 200) << image.id << ": " << json->body;
  EXPECT_EQ(json->body, image.json) << image.id;
  EXPECT_EQ(json->Header("X-Docker-Checksum-Payload").value_or(""),
            PayloadChecksum(image.json, image.layer));
  auto layer = c.GetLayer(image.id);
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ(layer->status, 200) << image.id << ": " << layer->body.substr(0, 200);
  EXPECT_TRUE(layer->body == image.layer)
      << image.id << ": layer differs (" << layer->body.size() << " bytes, want "
      << image.layer.size() << ")";
}

// A 503 with a JSON error, within the frontend's metadata bound (plus
// slack for a loaded machine) — never a stale answer.
void ExpectPrompt503(const absl::StatusOr<HttpResponse>& r, absl::Duration took,
                     const std::string& what) {
  std::cerr << what << " answered in " << absl::FormatDuration(took)
            << "\n";
  ASSERT_TRUE(r.ok()) << what << ": " << r.status();
  std::string why;
  EXPECT_TRUE(IsJsonError(*r, 503, "Service temporarily unavailable, retry", &why))
      << what << ": " << r->status << " " << r->body << " (" << why << ")";
  EXPECT_LT(took, absl::Seconds(kMetadataTimeoutS + 5)) << what;
}

TEST_F(ZoneCutTest, CutZoneKeepsStaleImageReadsAndCatchesUpAfterHealing) {
  const absl::Time test_start = absl::Now();
  const RegistryClient fe_b = zones_[1].Frontend();
  const RegistryClient fe_c = zones_[2].Frontend();

  // ---- before the cut: pushes through zones b and c ----
  auto chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  std::vector<PushImage> before(chain->begin(), chain->end());
  PushOptions push;
  push.tags = {{"latest", before.back().id}};
  auto report = PushChain(fe_b, "zone/before", before, push);
  ASSERT_TRUE(report.ok()) << report.status();
  auto c1 = MakeImage("zone-cut/c1", "", "synthetic_hello.tar");
  ASSERT_TRUE(c1.ok()) << c1.status();
  push.tags = {{"v1", c1->id}};
  report = PushChain(fe_c, "zone/c", {*c1}, push);
  ASSERT_TRUE(report.ok()) << report.status();
  // Zone a has applied all of it before the cut (the stale reads below
  // rely on its local copy, not on its frontend's cache: frontend a has
  // not served any of these images).
  const std::string converged_before = WaitConverged(absl::Seconds(30));
  ASSERT_FALSE(converged_before.empty());
  for (const Zone& z : zones_) {
    EXPECT_GT(z.etcd_peer->bytes(), 0u) << "etcd peer traffic of " << z.name
                                        << " bypassed its WAN proxy";
  }

  // ---- cut zone a (which holds etcd's leader) ----
  ASSERT_NO_FATAL_FAILURE(MakeEtcdLeader(0));
  const std::string etcd_a = EtcdIds(0).first;
  ASSERT_NO_FATAL_FAILURE(Cut(0));
  uint64_t cut_connections = 0;
  for (const Zone& z : zones_) {
    for (DelayProxy* p : z.proxies()) cut_connections += p->cut();
  }
  EXPECT_GT(cut_connections, 0u);
  std::cerr << "cut zone a: " << cut_connections << " proxied connections closed\n";
  // b and c keep a quorum and elect a leader among them.
  const absl::Time cut_at = absl::Now();
  ASSERT_TRUE(WaitForLeaderInBAndC(etcd_a));
  std::cerr << "etcd b/c elected a new leader "
            << absl::FormatDuration(absl::Now() - cut_at) << " after the cut\n";

  // (1) writes continue in b and c, tags linearizable across them.
  auto d1 = MakeImage("zone-cut/d1", "", "synthetic_hello.tar");
  auto d2 = MakeImage("zone-cut/d2", d1.ok() ? d1->id : "",
                      "46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457/layer.tar");
  ASSERT_TRUE(d1.ok() && d2.ok());
  const std::vector<PushImage> during = {*d1, *d2};
  push.tags = {{"latest", d2->id}};
  report = PushChain(fe_b, "zone/during", during, push);
  ASSERT_TRUE(report.ok()) << "push in zone b during the cut: " << report.status();
  auto tags = fe_c.GetTags("zone/during");
  ASSERT_TRUE(tags.ok()) << tags.status();
  ASSERT_EQ(tags->status, 200) << tags->body;
  EXPECT_EQ(Tags(*tags)["latest"], d2->id);
  // Move a tag in c, read it in b at once.
  const std::string moved_to = before[2].id;
  auto put = fe_c.PutTag("zone/before", "latest", moved_to);
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->status, 200) << put->body;
  tags = fe_b.GetTags("zone/before");
  ASSERT_TRUE(tags.ok()) << tags.status();
  ASSERT_EQ(tags->status, 200) << tags->body;
  EXPECT_EQ(Tags(*tags)["latest"], moved_to);
  auto c2 = MakeImage("zone-cut/c2", c1->id, "collision/collision-0.tar");
  ASSERT_TRUE(c2.ok()) << c2.status();
  push.tags = {{"v2", c2->id}};
  report = PushChain(fe_c, "zone/c", {*c1, *c2}, push);
  ASSERT_TRUE(report.ok()) << "push in zone c during the cut: " << report.status();

  std::cerr << "zone b/c pushes and tag moves during the cut done\n";

  // (2) inside zone a.
  Inside(0, [&] {
    const RegistryClient fe_a = zones_[0].Frontend();
    // Complete images from before the cut: served from metad-a's state and
    // blobd-a's chunks, byte for byte.
    for (const PushImage& image : before) {
      absl::Time start = absl::Now();
      ExpectServed(fe_a, image);
      EXPECT_LT(absl::Now() - start, absl::Seconds(3)) << image.id;
    }
    ExpectServed(fe_a, *c1);
    auto ancestry = fe_a.GetAncestry(before.back().id);
    ASSERT_TRUE(ancestry.ok()) << ancestry.status();
    EXPECT_EQ(ancestry->status, 200) << ancestry->body;
    // Tags need the log: a prompt 503, not the pre-cut answer.
    absl::Time start = absl::Now();
    auto stale_tags = fe_a.GetTags("zone/before");
    ExpectPrompt503(stale_tags, absl::Now() - start, "zone a: GET tags zone/before");
    // A repository and an image zone a has never seen: 503, not 404.
    start = absl::Now();
    auto unseen = fe_a.GetTags("zone/during");
    ExpectPrompt503(unseen, absl::Now() - start, "zone a: GET tags zone/during");
    start = absl::Now();
    auto unseen_image = fe_a.GetImageJson(d1->id);
    ExpectPrompt503(unseen_image, absl::Now() - start, "zone a: GET json of d1");
  });
  if (HasFatalFailure()) return;

  // (3) heal: zone a catches up, nothing acknowledged is lost.
  ASSERT_NO_FATAL_FAILURE(Heal(0));
  const absl::Time healed = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return EtcdHealthy(0); }, absl::Seconds(30),
                      absl::Milliseconds(200)))
      << zones_[0].etcd_p->LogTail(30);
  const std::string converged_after = WaitConverged(absl::Seconds(60));
  ASSERT_FALSE(converged_after.empty());
  EXPECT_NE(converged_after, converged_before);
  std::cerr << "zone a caught up " << absl::FormatDuration(absl::Now() - healed)
            << " after healing (applied, digest: " << converged_after << ")\n";

  Inside(0, [&] {
    const RegistryClient fe_a = zones_[0].Frontend();
    auto pulled = PullAndVerify(fe_a, "zone/during");
    ASSERT_TRUE(pulled.ok()) << pulled.status();
    EXPECT_EQ(pulled->tags, (std::map<std::string, std::string>{{"latest", d2->id}}));
    for (const PushImage& image : during) {
      ASSERT_EQ(pulled->images.count(image.id), 1u) << image.id;
      EXPECT_EQ(pulled->images.at(image.id).json, image.json);
      EXPECT_TRUE(pulled->images.at(image.id).layer == image.layer) << image.id;
    }
    auto c_pulled = PullAndVerify(fe_a, "zone/c");
    ASSERT_TRUE(c_pulled.ok()) << c_pulled.status();
    EXPECT_EQ(c_pulled->tags, (std::map<std::string, std::string>{
                                  {"v1", c1->id}, {"v2", c2->id}}));
    ASSERT_EQ(c_pulled->images.count(c2->id), 1u);
    EXPECT_TRUE(c_pulled->images.at(c2->id).layer == c2->layer);
    auto tags_a = fe_a.GetTags("zone/before");
    ASSERT_TRUE(tags_a.ok()) << tags_a.status();
    EXPECT_EQ(tags_a->status, 200) << tags_a->body;
    EXPECT_EQ(Tags(*tags_a)["latest"], moved_to);
  });
  // The other zones still serve everything too.
  for (const RegistryClient& fe : {fe_b, fe_c}) {
    auto pulled = PullAndVerify(fe, "zone/during");
    ASSERT_TRUE(pulled.ok()) << pulled.status();
    EXPECT_EQ(pulled->images.size(), 2u);
  }
  std::cerr << "zone cut test took " << absl::FormatDuration(absl::Now() - test_start)
            << " after setup\n";
}

// How long `fn` takes.
absl::Duration Timed(const std::function<void()>& fn) {
  const absl::Time start = absl::Now();
  fn();
  return absl::Now() - start;
}

TEST_F(ZoneCutTest, SilentCutStallsNothingOutsideTheZoneAndHeals) {
  const absl::Time test_start = absl::Now();
  const RegistryClient fe_b = zones_[1].Frontend();
  const RegistryClient fe_c = zones_[2].Frontend();
  // Bounds that an RPC deadline (blob 60 s, etcd 5 s per attempt) would
  // exceed; generous for a loaded 2-core machine.
  const absl::Duration kPushBound = absl::Seconds(8);
  const absl::Duration kPullBound = absl::Seconds(5);

  auto chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  std::vector<PushImage> before(chain->begin(), chain->end());
  PushOptions push;
  push.tags = {{"latest", before.back().id}};
  absl::StatusOr<PushReport> report;
  const absl::Duration push_before = Timed(
      [&] { report = PushChain(fe_b, "silent/before", before, push); });
  ASSERT_TRUE(report.ok()) << report.status();
  const std::string converged_before = WaitConverged(absl::Seconds(30));
  ASSERT_FALSE(converged_before.empty());
  absl::StatusOr<HttpResponse> put;

  ASSERT_NO_FATAL_FAILURE(MakeEtcdLeader(0));
  const std::string etcd_a = EtcdIds(0).first;
  SilentCut(0);
  uint64_t held = 0, cut = 0;
  for (const Zone& z : zones_) {
    for (DelayProxy* p : z.proxies()) {
      held += p->held();
      cut += p->cut();
    }
  }
  EXPECT_GT(held, 0u);
  EXPECT_EQ(cut, 0u);  // silent: no connection was closed
  std::cerr << "silent cut of zone a: " << held << " proxied connections held\n";
  const absl::Time cut_at = absl::Now();
  // A write in b at once, before b and c noticed that their leader went
  // silent: etcd-b holds its proposal until the metad's etcd deadline, so
  // it may answer a prompt 503 (the client retries) but never hangs.
  absl::StatusOr<HttpResponse> early;
  const absl::Duration early_took = Timed(
      [&] { early = fe_b.PutTag("silent/before", "early", before[0].id); });
  ASSERT_TRUE(early.ok()) << early.status();
  if (early->status == 200) {
    std::cerr << "zone b: tag PUT during the election answered 200 in "
              << absl::FormatDuration(early_took) << "\n";
  } else {
    ExpectPrompt503(early, early_took, "zone b: tag PUT during the election");
  }
  ASSERT_TRUE(WaitForLeaderInBAndC(etcd_a));
  std::cerr << "etcd b/c have a new leader "
            << absl::FormatDuration(absl::Now() - cut_at)
            << " after the cut (checked after the early write)\n";

  // (1) pushes in b and c, each bounded; tags linearizable across them.
  auto d1 = MakeImage("silent-cut/d1", "", "synthetic_hello.tar");
  auto d2 = MakeImage("silent-cut/d2", d1.ok() ? d1->id : "",
                      "46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457/layer.tar");
  auto e1 = MakeImage("silent-cut/e1", "", "collision/collision-0.tar");
  ASSERT_TRUE(d1.ok() && d2.ok() && e1.ok());
  const std::vector<PushImage> during = {*d1, *d2};
  push.tags = {{"latest", d2->id}};
  const absl::Duration push_b = Timed(
      [&] { report = PushChain(fe_b, "silent/during", during, push); });
  ASSERT_TRUE(report.ok()) << "push in zone b during the cut: " << report.status();
  push.tags = {{"v1", e1->id}};
  const absl::Duration push_c =
      Timed([&] { report = PushChain(fe_c, "silent/c", {*e1}, push); });
  ASSERT_TRUE(report.ok()) << "push in zone c during the cut: " << report.status();
  std::cerr << "push of 2 images in zone b: " << absl::FormatDuration(push_b)
            << " during the silent cut (" << absl::FormatDuration(push_before)
            << " for 3 before it); push of 1 image in zone c: "
            << absl::FormatDuration(push_c) << "\n";
  EXPECT_LT(push_b, kPushBound);
  EXPECT_LT(push_c, kPushBound);
  // The early write, retried once the election is over.
  put = fe_b.PutTag("silent/before", "early", before[0].id);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->status, 200) << put->body;
  auto tags = fe_c.GetTags("silent/during");
  ASSERT_TRUE(tags.ok()) << tags.status();
  ASSERT_EQ(tags->status, 200) << tags->body;
  EXPECT_EQ(Tags(*tags)["latest"], d2->id);
  const std::string moved_to = before[1].id;
  put = fe_c.PutTag("silent/before", "latest", moved_to);
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->status, 200) << put->body;
  tags = fe_b.GetTags("silent/before");
  ASSERT_TRUE(tags.ok()) << tags.status();
  ASSERT_EQ(tags->status, 200) << tags->body;
  EXPECT_EQ(Tags(*tags)["latest"], moved_to);
  // Pulls in b and c read their own zone's copies: never a wait on
  // blobd-a (chunks from before the cut have a copy there too).
  for (const RegistryClient* fe : {&fe_b, &fe_c}) {
    for (const char* repo : {"silent/before", "silent/during"}) {
      absl::StatusOr<PullResult> pulled;
      const absl::Duration took = Timed([&] { pulled = PullAndVerify(*fe, repo); });
      ASSERT_TRUE(pulled.ok()) << repo << ": " << pulled.status();
      std::cerr << "pull of " << repo << " in zone "
                << (fe == &fe_b ? "b" : "c") << " during the silent cut: "
                << absl::FormatDuration(took) << "\n";
      EXPECT_LT(took, kPullBound) << repo;
    }
  }

  // (2) inside zone a: complete images from before, 503 for the rest.
  Inside(0, [&] {
    const RegistryClient fe_a = zones_[0].Frontend();
    for (const PushImage& image : before) {
      const absl::Duration took = Timed([&] { ExpectServed(fe_a, image); });
      EXPECT_LT(took, absl::Seconds(3)) << image.id;
    }
    absl::StatusOr<HttpResponse> r;
    absl::Duration took = Timed([&] { r = fe_a.GetTags("silent/before"); });
    ExpectPrompt503(r, took, "zone a: GET tags silent/before (silent cut)");
    took = Timed([&] { r = fe_a.GetImageJson(d1->id); });
    ExpectPrompt503(r, took, "zone a: GET json of d1 (silent cut)");
  });
  if (HasFatalFailure()) return;

  // (3) heal: the held connections flow again; zone a catches up.
  ASSERT_NO_FATAL_FAILURE(Heal(0));
  const absl::Time healed = absl::Now();
  const std::string converged_after = WaitConverged(absl::Seconds(60));
  ASSERT_FALSE(converged_after.empty());
  EXPECT_NE(converged_after, converged_before);
  std::cerr << "zone a caught up " << absl::FormatDuration(absl::Now() - healed)
            << " after healing the silent cut (applied, digest: "
            << converged_after << ")\n";
  Inside(0, [&] {
    const RegistryClient fe_a = zones_[0].Frontend();
    auto pulled = PullAndVerify(fe_a, "silent/during");
    ASSERT_TRUE(pulled.ok()) << pulled.status();
    EXPECT_EQ(pulled->tags, (std::map<std::string, std::string>{{"latest", d2->id}}));
    for (const PushImage& image : during) {
      ASSERT_EQ(pulled->images.count(image.id), 1u) << image.id;
      EXPECT_TRUE(pulled->images.at(image.id).layer == image.layer) << image.id;
    }
    auto c_pulled = PullAndVerify(fe_a, "silent/c");
    ASSERT_TRUE(c_pulled.ok()) << c_pulled.status();
    ASSERT_EQ(c_pulled->images.count(e1->id), 1u);
    EXPECT_TRUE(c_pulled->images.at(e1->id).layer == e1->layer);
    auto tags_a = fe_a.GetTags("silent/before");
    ASSERT_TRUE(tags_a.ok()) << tags_a.status();
    EXPECT_EQ(tags_a->status, 200) << tags_a->body;
    EXPECT_EQ(Tags(*tags_a)["latest"], moved_to);
    EXPECT_EQ(Tags(*tags_a)["early"], before[0].id);
  });
  std::cerr << "silent zone cut test took "
            << absl::FormatDuration(absl::Now() - test_start) << " after setup\n";
}

}  // namespace
}  // namespace berth::testing

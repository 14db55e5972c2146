// 3 etcd + 3 real `berth metad` processes: concurrent writers on every
// replica converge to one digest; kill -9 under load; the log applied from
// scratch gives the same digest; reads agree on every replica.
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "metadata/password.h"
#include "tests/metad_cluster.h"

namespace berth::testing {
namespace {

using meta::Command;

#define ASSERT_OK(expr)                      \
  do {                                       \
    const absl::Status _st = (expr);         \
    ASSERT_TRUE(_st.ok()) << _st.ToString(); \
  } while (0)

std::unique_ptr<MetadCluster> StartCluster() {
  auto c = MetadCluster::Start(3, 3, {"--trim-interval", "0"});
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

TEST(MetadClusterTest, ConcurrentWritersOnAllReplicasConvergeAndReplayFromScratch) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  // Writers on every replica at once, each through its own replica.
  std::vector<std::unique_ptr<WriteLoad>> loads;
  for (int i = 0; i < 3; ++i) {
    loads.push_back(std::make_unique<WriteLoad>(&cluster->one(i), 4, 300,
                                                absl::StrCat("r", i)));
  }
  // Meanwhile: tags, properties, users and a shard map, also spread out.
  for (int k = 0; k < 10; ++k) {
    meta::MetadataClient& c = cluster->one(k % 3);
    Command json = PutJsonCommand(ImageId("tagged", k), 100);
    auto r = c.Execute(json);
    ASSERT_TRUE(r.ok()) << r.status();
    Command tag;
    tag.mutable_put_tag()->set_repository(absl::StrCat("ns/Repo", k));
    tag.mutable_put_tag()->set_tag("latest");
    tag.mutable_put_tag()->set_image_id(ImageId("tagged", k));
    r = cluster->one((k + 1) % 3).Execute(tag);
    ASSERT_TRUE(r.ok() && r->error().reason() == REASON_UNSPECIFIED);
    Command props;
    auto* p = props.mutable_set_repository_properties();
    p->set_name(absl::StrCat("ns/Repo", k));
    p->set_has_description(true);
    p->set_description(k % 2 ? "Busybox BASE image" : "other");
    p->set_has_private(true);
    p->set_is_private(k == 3);
    r = cluster->one((k + 2) % 3).Execute(props);
    ASSERT_TRUE(r.ok() && r->error().reason() == REASON_UNSPECIFIED);
  }
  auto user = cluster->one(1).CreateUser("alice", "s3cret-pw", "a@x", false,
                                         true, 1700000000);
  ASSERT_TRUE(user.ok() && user->error().reason() == REASON_UNSPECIFIED);
  auto dup = cluster->one(2).CreateUser("alice", "other", "b@x", false, true, 0);
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(dup->error().reason(), USER_ALREADY_EXISTS);
  absl::SleepFor(absl::Seconds(3));  // let the writers overlap for a while
  for (auto& l : loads) l->Stop();
  size_t acked = 0;
  for (auto& l : loads) acked += l->acked().size();
  EXPECT_GT(acked, 100u);

  auto digest = cluster->WaitConverged(absl::Seconds(30));
  ASSERT_TRUE(digest.ok()) << digest.status();

  // Every acknowledged write is on every replica (stale read = local).
  for (int i = 0; i < 3; ++i) {
    for (auto& l : loads) {
      std::vector<std::string> ids = l->acked();
      for (size_t k = 0; k < ids.size(); k += 7) {
        meta::GetImageRequest req;
        req.set_id(ids[k]);
        req.mutable_read()->set_stale_ok(true);
        auto got = cluster->one(i).GetImage(req);
        ASSERT_TRUE(got.ok());
        ASSERT_EQ(got->error().reason(), REASON_UNSPECIFIED) << ids[k];
      }
    }
  }
  // Linearizable reads agree on every replica: search, users.
  for (int i = 0; i < 3; ++i) {
    meta::SearchRequest s;
    s.set_query("busybox");
    s.set_n(2);
    s.set_page(2);
    auto found = cluster->one(i).Search(s);
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_EQ(found->total(), 4u);  // k = 1, 5, 7, 9 (3 is private)
    ASSERT_EQ(found->results_size(), 2);
    EXPECT_EQ(found->results(0).name(), "ns/Repo7");
    s.set_query("REPO3");
    s.set_username("ns");
    auto past = cluster->one(i).Search(s);  // page 2 of 1: empty page
    EXPECT_EQ(past->total(), 1u);
    EXPECT_EQ(past->results_size(), 0);
    s.set_page(1);
    EXPECT_EQ(cluster->one(i).Search(s)->total(), 1u);  // namespace user
    s.set_username("bob");
    EXPECT_EQ(cluster->one(i).Search(s)->total(), 0u);  // private
    auto check = cluster->one(i).VerifyPassword("alice", "s3cret-pw");
    ASSERT_TRUE(check.ok());
    EXPECT_TRUE(check->known && check->matches);
    EXPECT_FALSE(check->user.password_hash().find("s3cret") != std::string::npos);
    EXPECT_FALSE(cluster->one(i).VerifyPassword("alice", "wrong")->matches);
    EXPECT_FALSE(cluster->one(i).VerifyPassword("nobody", "x")->known);
  }

  // Determinism: a fourth replica applies the whole log from position 0
  // (no checkpoint) and reaches the very same digest.
  auto fresh = cluster->AddMetad({"--bootstrap", "never"});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  auto again = cluster->WaitConverged(absl::Seconds(60));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *digest);
}

TEST(MetadClusterTest, KilledReplicaCatchesUpUnderLoad) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  WriteLoad load(&cluster->all(), 8, 300, "load");
  ASSERT_TRUE(WaitFor([&] { return load.acked().size() > 200; },
                      absl::Seconds(30)));
  ASSERT_OK(cluster->KillMetad(2));
  const size_t at_kill = load.acked().size();
  ASSERT_TRUE(WaitFor([&] { return load.acked().size() > at_kill + 300; },
                      absl::Seconds(30)))
      << "writes stalled with one replica down";
  ASSERT_OK(cluster->StartMetad(2));
  // Some writes while it catches up.
  const size_t at_restart = load.acked().size();
  ASSERT_TRUE(WaitFor([&] { return load.acked().size() > at_restart + 100; },
                      absl::Seconds(30)));
  load.Stop();
  auto digest = cluster->WaitConverged(absl::Seconds(60));
  ASSERT_TRUE(digest.ok()) << digest.status();
  // Its own reads see everything acknowledged, also the writes it missed.
  std::vector<std::string> ids = load.acked();
  for (size_t k = 0; k < ids.size(); k += 5) {
    meta::GetImageRequest req;
    req.set_id(ids[k]);
    auto got = cluster->one(2).GetImage(req);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->error().reason(), REASON_UNSPECIFIED);
  }
}

TEST(MetadClusterTest, RetriesKeepTheFirstResultAndLimitsHold) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  Command c = PutJsonCommand(ImageId("retry", 1), 100);
  c.set_request_id("fixed-request-id");
  auto first = cluster->one(0).Execute(c);
  ASSERT_TRUE(first.ok());
  // Same request id through another replica: the first answer, no second
  // application (which would have failed nothing, but moved nothing).
  auto second = cluster->one(1).Execute(c);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->position(), first->position());
  // A command above etcd's request limit is refused before the log.
  Command big = PutJsonCommand(ImageId("big", 1), 1600 * 1024);
  auto refused = cluster->one(2).Execute(big);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->error().reason(), TOO_LARGE);
  // 1 MiB json (the cap) fits etcd's default 1.5 MiB limit.
  Command max = PutJsonCommand(ImageId("max", 1), 1 << 20);
  auto fits = cluster->one(2).Execute(max);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->error().reason(), REASON_UNSPECIFIED);
  meta::GetImageRequest req;
  req.set_id(ImageId("max", 1));
  req.set_include_json(true);
  auto got = cluster->one(0).GetImage(req);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->image().json().size(), size_t{1} << 20);
  // Token secret: generated once, the same everywhere.
  auto config = cluster->one(0).EnsureTokenSecret();
  ASSERT_TRUE(config.ok()) << config.status();
  auto config2 = cluster->one(1).EnsureTokenSecret();
  ASSERT_TRUE(config2.ok());
  ASSERT_EQ(config->token_secrets_size(), 1);
  EXPECT_EQ(config->token_secrets(0), config2->token_secrets(0));
  EXPECT_EQ(config->token_secrets(0).size(), 32u);
  // The client fails over when the replica it would use is down.
  ASSERT_OK(cluster->KillMetad(0));
  for (int k = 0; k < 6; ++k) {
    auto r = cluster->all().Execute(PutJsonCommand(ImageId("failover", k), 50));
    ASSERT_TRUE(r.ok()) << r.status();
  }
}

TEST(MetadClusterTest, StoreAheadOfANewLogRefusesToStart) {
  // A store restored against an etcd whose log is behind it (here: a
  // brand-new etcd) must not start: it would skip the new log's entries.
  auto first = MetadCluster::Start(1, 1, {"--trim-interval", "0"});
  ASSERT_TRUE(first.ok()) << first.status();
  for (int k = 0; k < 5; ++k) {
    auto r = (*first)->all().Execute(PutJsonCommand(ImageId("ahead", k), 100));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ASSERT_OK((*first)->KillMetad(0));
  EtcdClusterOptions etcd_options;
  etcd_options.members = 1;
  auto other = EtcdCluster::Start(etcd_options);
  ASSERT_TRUE(other.ok()) << other.status();
  ProcessOptions po;
  po.name = "metad-ahead";
  po.log_path = (*first)->data_dir(0) + ".ahead.log";
  po.argv = {RunfilePath("tools/berth"), "metad",
             "--listen", absl::StrCat("127.0.0.1:", FreePort()),
             "--data", (*first)->data_dir(0),
             "--etcd", absl::StrJoin((*other)->endpoints(), ","),
             "--replica-id", "metad-ahead"};
  auto p = Process::Start(std::move(po));
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<int> code = (*p)->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status() << (*p)->LogTail();
  EXPECT_NE(*code, 0);
  EXPECT_NE((*p)->LogTail().find("belongs to another log"), std::string::npos)
      << (*p)->LogTail();
  // The original log still serves the store.
  ASSERT_OK((*first)->StartMetad(0));
  auto converged = (*first)->WaitConverged(absl::Seconds(30));
  EXPECT_TRUE(converged.ok()) << converged.status();
}

}  // namespace
}  // namespace berth::testing

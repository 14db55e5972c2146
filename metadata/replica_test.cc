// Replica over the local log and a real RocksDB on disk.
#include "metadata/replica.h"

#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

#include "gtest/gtest.h"
#include "metadata/local_log.h"

namespace berth::meta {
namespace {

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::unique_ptr<Replica> StartReplica(const std::string& dir,
                                      ReplicaOptions options = {}) {
  auto store = Store::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  auto log = LocalLog::Open(store->get());
  EXPECT_TRUE(log.ok()) << log.status();
  auto replica =
      Replica::Start(std::move(*store), std::move(*log), std::move(options));
  EXPECT_TRUE(replica.ok()) << replica.status();
  return std::move(*replica);
}

Command PutJson(const std::string& request_id, const std::string& id) {
  Command c;
  c.set_request_id(request_id);
  c.mutable_put_image_json()->set_id(id);
  c.mutable_put_image_json()->set_json("{}");
  return c;
}

TEST(ReplicaTest, ExecuteReturnsApplyResultAndRetriesReturnTheFirst) {
  auto replica = StartReplica(TempDir("replica1"));
  const std::string id(64, 'c');
  auto first = replica->Execute(PutJson("r1", id));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->error().reason(), REASON_UNSPECIFIED);
  EXPECT_EQ(first->position(), 1u);

  Command confirm;
  confirm.set_request_id("r2");
  confirm.mutable_confirm_checksum()->set_id(id);
  confirm.mutable_confirm_checksum()->set_payload_checksum("sha256:x");
  auto refused = replica->Execute(confirm);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->error().reason(), NO_LAYER);

  // Same request id again: the first answer, not a second application.
  auto again = replica->Execute(PutJson("r1", id));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->position(), 1u);
  EXPECT_EQ(replica->applied(), 3u);
}

TEST(ReplicaTest, StateAndPositionSurviveRestart) {
  const std::string dir = TempDir("replica2");
  const std::string id(64, 'd');
  {
    auto replica = StartReplica(dir);
    ASSERT_TRUE(replica->Execute(PutJson("a", id)).ok());
  }
  auto replica = StartReplica(dir);
  EXPECT_EQ(replica->applied(), 1u);
  GetImageRequest get;
  get.set_id(id);
  get.set_include_json(true);
  auto image = replica->GetImage(get);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->image().json(), "{}");
  EXPECT_EQ(image->image().state(), JSON_UPLOADED);
  get.set_id(std::string(64, 'e'));
  auto missing = replica->GetImage(get);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->error().reason(), IMAGE_NOT_FOUND);
}

TEST(ReplicaTest, UnappliedLogEntriesAreAppliedAtStart) {
  const std::string dir = TempDir("replica3");
  const std::string id(64, 'f');
  {
    // An entry appended to the log whose apply never ran (as after kill -9
    // between the two writes).
    auto store = Store::Open(dir);
    ASSERT_TRUE(store.ok());
    auto log = LocalLog::Open(store->get());
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(PutJson("x", id).SerializeAsString()).ok());
  }
  auto replica = StartReplica(dir);
  GetImageRequest get;
  get.set_id(id);
  auto image = replica->GetImage(get);  // linearizable: waits for apply
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->error().reason(), REASON_UNSPECIFIED);
  EXPECT_EQ(replica->applied(), 1u);
}

TEST(ReplicaTest, ConcurrentCommandsShareLogEntriesAndKeepTheirResults) {
  ReplicaOptions options;
  options.max_appends_in_flight = 1;
  auto replica = StartReplica(TempDir("replica_batch"), options);
  constexpr int kThreads = 16, kEach = 20;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kEach; ++n) {
        const std::string id = std::string(60, 'a' + t) + std::to_string(1000 + n);
        // Odd n: a parent that does not exist, so the command fails.
        Command c = PutJson(absl::StrCat("w", t, "-", n), id);
        if (n % 2) c.mutable_put_image_json()->set_parent(std::string(64, 'z'));
        auto r = replica->Execute(c);
        const Reason want = n % 2 ? PARENT_NOT_FOUND : REASON_UNSPECIFIED;
        if (!r.ok() || r->error().reason() != want) wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // Several commands per log entry (one append at a time, 16 proposers).
  EXPECT_LT(replica->appends(), uint64_t{kThreads * kEach});
  EXPECT_EQ(replica->applied(), replica->appends());
  std::printf("%d commands in %llu log entries\n", kThreads * kEach,
              static_cast<unsigned long long>(replica->appends()));
  // A client cannot smuggle a batch in.
  Command batch;
  batch.set_request_id("b");
  *batch.mutable_batch()->add_commands() = PutJson("x", std::string(64, 'e'));
  EXPECT_TRUE(absl::IsInvalidArgument(replica->Execute(batch).status()));
}

TEST(ReplicaTest, RetriesWithinTheRetentionGetTheFirstResult) {
  std::atomic<int64_t> now_ms{1700000000000};
  ReplicaOptions options;
  options.result_retention = absl::Seconds(60);
  options.now_unix_ms = [&] { return now_ms.load(); };
  auto replica = StartReplica(TempDir("replica_retention"), options);
  const std::string id(64, 'c');
  auto first = replica->Execute(PutJson("r1", id));
  ASSERT_TRUE(first.ok());
  now_ms += 59000;  // within the window
  ASSERT_TRUE(replica->Execute(PutJson("other", std::string(64, 'd'))).ok());
  auto retry = replica->Execute(PutJson("r1", id));
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->position(), first->position());
  now_ms += 2000;  // r1 is now older than the window: the next entry prunes
  ASSERT_TRUE(replica->Execute(PutJson("later", std::string(64, 'e'))).ok());
  std::string bytes;
  EXPECT_TRUE(replica->store()
                  ->db()
                  ->Get(rocksdb::ReadOptions(), replica->store()->results(),
                        "r1", &bytes)
                  .IsNotFound());
  auto late = replica->Execute(PutJson("r1", id));  // applied anew
  ASSERT_TRUE(late.ok());
  EXPECT_GT(late->position(), first->position());
}

Command TagCmd(const std::string& rid, const std::string& repo,
               const std::string& id) {
  Command c;
  c.set_request_id(rid);
  c.mutable_put_tag()->set_repository(repo);
  c.mutable_put_tag()->set_tag("latest");
  c.mutable_put_tag()->set_image_id(id);
  return c;
}

TEST(ReplicaTest, ImageRepositoriesFollowListsTagsAndDeletes) {
  auto replica = StartReplica(TempDir("replica_image_repos"));
  const std::string base(64, 'a'), child(64, 'b');
  ASSERT_TRUE(replica->Execute(PutJson("j1", base)).ok());
  Command c = PutJson("j2", child);
  c.mutable_put_image_json()->set_parent(base);
  ASSERT_TRUE(replica->Execute(c).ok());
  // A tag lists the image and its ancestry.
  ASSERT_TRUE(replica->Execute(TagCmd("t1", "alice/app", child)).ok());
  Command merge;
  merge.set_request_id("m1");
  merge.mutable_merge_image_list()->set_name("bob/base");
  merge.mutable_merge_image_list()->add_images()->set_id(base);
  ASSERT_TRUE(replica->Execute(merge).ok());
  Command props;
  props.set_request_id("p1");
  props.mutable_set_repository_properties()->set_name("alice/app");
  props.mutable_set_repository_properties()->set_has_private(true);
  props.mutable_set_repository_properties()->set_is_private(true);
  props.mutable_set_repository_properties()->set_has_owner(true);
  props.mutable_set_repository_properties()->set_owner("alice");
  ASSERT_TRUE(replica->Execute(props).ok());

  GetImageRepositoriesRequest req;
  req.set_id(base);
  auto got = replica->GetImageRepositories(req);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->repositories_size(), 2);
  EXPECT_EQ(got->repositories(0).name(), "alice/app");
  EXPECT_TRUE(got->repositories(0).is_private());
  EXPECT_EQ(got->repositories(0).owner(), "alice");
  EXPECT_EQ(got->repositories(1).name(), "bob/base");
  EXPECT_FALSE(got->repositories(1).is_private());
  req.set_id(child);
  got = replica->GetImageRepositories(req);
  ASSERT_EQ(got->repositories_size(), 1);
  EXPECT_EQ(got->repositories(0).name(), "alice/app");

  Command del;
  del.set_request_id("d1");
  del.mutable_delete_repository()->set_name("alice/app");
  ASSERT_TRUE(replica->Execute(del).ok());
  req.mutable_read()->set_stale_ok(true);
  got = replica->GetImageRepositories(req);
  EXPECT_EQ(got->repositories_size(), 0);
  req.set_id(base);
  got = replica->GetImageRepositories(req);
  ASSERT_EQ(got->repositories_size(), 1);
  EXPECT_EQ(got->repositories(0).name(), "bob/base");
  req.set_id(std::string(64, 'f'));  // unknown image: no repositories
  EXPECT_EQ(replica->GetImageRepositories(req)->repositories_size(), 0);
}

// A log that appends (positions 1, 2, ...) but delivers nothing until the
// test says so: writes stay parked. on_error can be raised by the test.
class HeldLog : public Log {
 public:
  absl::StatusOr<uint64_t> Append(const std::string&) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++appending_;
    gate_cv_.wait(lock, [this] { return open_; });
    --appending_;
    return ++last_;
  }
  // While closed, appends wait (like appends to an etcd without quorum).
  void SetGate(bool open) {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = open;
    gate_cv_.notify_all();
  }
  int appending() {
    std::lock_guard<std::mutex> lock(mu_);
    return appending_;
  }
  absl::StatusOr<uint64_t> LastPosition() override {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  absl::Status StartTailing(
      uint64_t, std::function<absl::Status(const LogEntry&)>,
      std::function<void(const absl::Status&)> on_error) override {
    std::lock_guard<std::mutex> lock(mu_);
    on_error_ = std::move(on_error);
    return absl::OkStatus();
  }
  void StopTailing() override {}
  void RaiseTailError(const absl::Status& error) {
    std::function<void(const absl::Status&)> f;
    {
      std::lock_guard<std::mutex> lock(mu_);
      f = on_error_;
    }
    f(error);
  }
  uint64_t last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  std::mutex mu_;
  std::condition_variable gate_cv_;
  bool open_ = true;
  int appending_ = 0;
  uint64_t last_ = 0;
  std::function<void(const absl::Status&)> on_error_;
};

// Outcomes of async writes, filled by their callbacks (any thread).
struct Outcomes {
  std::mutex mu;
  std::vector<absl::StatusOr<CommandResult>> results;
  Replica::ExecuteCallback Callback() {
    return [this](absl::StatusOr<CommandResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(std::move(r));
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return results.size();
  }
  bool WaitFor(size_t n) {
    const absl::Time end = absl::Now() + absl::Seconds(30);
    while (size() < n && absl::Now() < end) absl::SleepFor(absl::Milliseconds(5));
    return size() >= n;
  }
};

bool WaitForCondition(const std::function<bool()>& condition) {
  const absl::Time end = absl::Now() + absl::Seconds(30);
  while (!condition() && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return condition();
}

bool WaitForLog(HeldLog* log, uint64_t position) {
  const absl::Time end = absl::Now() + absl::Seconds(30);
  while (log->last() < position && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return log->last() >= position;
}

std::pair<std::unique_ptr<Replica>, HeldLog*> StartHeld(
    const std::string& dir, ReplicaOptions options = {}) {
  auto store = Store::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  auto log = std::make_unique<HeldLog>();
  HeldLog* held = log.get();
  auto replica =
      Replica::Start(std::move(*store), std::move(log), std::move(options));
  EXPECT_TRUE(replica.ok()) << replica.status();
  return {std::move(*replica), held};
}

TEST(ReplicaTest, AsyncWritesNeedNoThreadPerCommand) {
  auto replica = StartReplica(TempDir("replica_async"));
  constexpr int kWrites = 300;
  std::vector<Command> commands;
  for (int n = 0; n < kWrites; ++n) {
    commands.push_back(PutJson(absl::StrCat("a", n),
                               std::string(60, 'f') + std::to_string(1000 + n)));
  }
  Outcomes out;
  // All from this one thread; none of the calls blocks.
  for (const Command& c : commands) replica->ExecuteAsync(c, out.Callback());
  ASSERT_TRUE(out.WaitFor(kWrites)) << out.size() << " of " << kWrites;
  std::lock_guard<std::mutex> lock(out.mu);
  for (const auto& r : out.results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->error().reason(), REASON_UNSPECIFIED);
    EXPECT_GT(r->position(), 0u);
  }
  EXPECT_LT(replica->appends(), uint64_t{kWrites}) << "commands share entries";
  for (const Command& c : commands) {
    GetImageRequest get;
    get.set_id(c.put_image_json().id());
    EXPECT_TRUE(replica->GetImage(get).ok()) << get.id();
  }
}

TEST(ReplicaTest, ParkedWritesExpireAfterTheApplyTimeout) {
  ReplicaOptions options;
  options.apply_timeout = absl::Milliseconds(300);
  auto [replica, log] = StartHeld(TempDir("replica_expire"), options);
  Command c = PutJson("e1", std::string(64, 'a'));
  Outcomes out;
  const absl::Time start = absl::Now();
  replica->ExecuteAsync(c, out.Callback());
  ASSERT_TRUE(out.WaitFor(1));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(log->last(), 1u) << "appended, never applied";
  std::lock_guard<std::mutex> lock(out.mu);
  EXPECT_TRUE(absl::IsUnavailable(out.results[0].status()))
      << out.results[0].status();
  EXPECT_TRUE(absl::StrContains(out.results[0].status().message(),
                                "timed out waiting for log position 1"))
      << out.results[0].status();
}

TEST(ReplicaTest, WritesQueuedPastTheCallersDeadlineAreNotAppended) {
  auto [replica, log] = StartHeld(TempDir("replica_abandon"));
  log->SetGate(false);
  Outcomes first, late;
  Command a = PutJson("q1", std::string(64, 'a'));
  Command b = PutJson("q2", std::string(64, 'b'));
  replica->ExecuteAsync(a, first.Callback());
  ASSERT_TRUE(WaitForCondition([&] { return log->appending() == 1; }));
  // b queues behind the stuck append; its caller gives up at `deadline`.
  const absl::Time deadline = absl::Now() + absl::Milliseconds(50);
  replica->ExecuteAsync(b, late.Callback(), deadline);
  ASSERT_TRUE(WaitForCondition([&] { return absl::Now() > deadline; }));
  log->SetGate(true);
  ASSERT_TRUE(late.WaitFor(1));
  {
    std::lock_guard<std::mutex> lock(late.mu);
    EXPECT_TRUE(absl::IsUnavailable(late.results[0].status()));
    EXPECT_TRUE(absl::StrContains(late.results[0].status().message(),
                                  "it was not appended"))
        << late.results[0].status();
  }
  EXPECT_EQ(log->last(), 1u) << "only the first command was appended";
  EXPECT_EQ(replica->appends(), 1u);
  EXPECT_EQ(first.size(), 0u) << "appended, never applied (held log)";
}

TEST(ReplicaTest, StopAndTailErrorsAnswerEveryPendingWrite) {
  std::vector<Command> commands;
  for (int n = 0; n < 20; ++n) {
    commands.push_back(PutJson(absl::StrCat("s", n), std::string(64, 'b')));
  }
  {
    auto [replica, log] = StartHeld(TempDir("replica_stop"));
    Outcomes out;
    for (const Command& c : commands) replica->ExecuteAsync(c, out.Callback());
    ASSERT_TRUE(WaitForLog(log, 1));
    EXPECT_EQ(out.size(), 0u) << "nothing applied, nothing answered";
    replica->Stop();
    ASSERT_EQ(out.size(), commands.size()) << "Stop answers every write";
    for (const auto& r : out.results) {
      EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
    }
    // After Stop, a new write is refused at once.
    Outcomes late;
    replica->ExecuteAsync(commands[0], late.Callback());
    ASSERT_EQ(late.size(), 1u);
    EXPECT_TRUE(absl::IsUnavailable(late.results[0].status()));
  }
  {
    auto [replica, log] = StartHeld(TempDir("replica_tail_error"));
    Outcomes out;
    for (const Command& c : commands) replica->ExecuteAsync(c, out.Callback());
    ASSERT_TRUE(WaitForLog(log, 1));
    // Parked writes (appended) are answered by the tail error, and so
    // are those appended after it.
    log->RaiseTailError(absl::OutOfRangeError("compacted"));
    ASSERT_TRUE(out.WaitFor(commands.size()));
    std::lock_guard<std::mutex> lock(out.mu);
    for (const auto& r : out.results) {
      EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
      EXPECT_TRUE(absl::StrContains(r.status().message(), "cannot follow the log") ||
                  absl::StrContains(r.status().message(), "stopping"))
          << r.status();
    }
  }
}

}  // namespace
}  // namespace berth::meta

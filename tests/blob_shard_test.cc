// One real blobd process: concurrent puts of one chunk, paged list,
// delete, verify, capacity, leftover temp files, and storage errors (disk
// full, read-only) as clear gRPC errors that leave no partial chunk.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "blobstore/blob_client.h"
#include "blobstore/errors.h"
#include "blobstore/shard_connection.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "tests/blob_testutil.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;

std::string Pattern(uint64_t seed, size_t n) {
  std::string s(n, '\0');
  FillPattern(seed, 0, s.data(), n);
  return s;
}

absl::Time Deadline() { return absl::Now() + absl::Seconds(20); }

std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (!it->is_directory()) out.push_back(it->path().string());
  }
  return out;
}

struct Shard {
  std::unique_ptr<Process> process;
  std::shared_ptr<blob::ShardConnection> conn;
  std::string data;
  int port = 0;
};

// Starts blobd on `data`; with `wrap` (e.g. an unshare command line
// ending in "sh -c"), the script `wrap_script` runs first and execs blobd.
absl::StatusOr<Shard> StartShard(const std::string& data,
                                 const std::string& setup_script = "") {
  Shard s;
  s.data = data;
  s.port = FreePort();
  std::vector<std::string> blobd = {
      RunfilePath("tools/berth"), "blobd", "--listen",
      absl::StrCat("127.0.0.1:", s.port), "--data", data, "--shard-id",
      "shard-x", "--log-level", "warn"};
  ProcessOptions o;
  o.name = "blobd";
  if (setup_script.empty()) {
    o.argv = blobd;
  } else {
    std::string cmd = setup_script + " && exec";
    for (const std::string& a : blobd) cmd += " '" + a + "'";
    o.argv = {"/usr/bin/unshare", "-m", "--propagation", "private",
              "/bin/sh", "-c", cmd};
  }
  auto p = Process::Start(o);
  if (!p.ok()) return p.status();
  s.process = std::move(*p);
  if (!BlobdAnswers(s.port, absl::Seconds(20))) {
    return absl::UnavailableError(
        absl::StrCat("blobd did not answer: ", s.process->LogTail()));
  }
  s.conn = blob::NewGrpcShardConnection(
      "shard-x", grpc::CreateChannel(absl::StrCat("127.0.0.1:", s.port),
                                     grpc::InsecureChannelCredentials()));
  return s;
}

TEST(BlobShardTest, ConcurrentPutsOfOneChunkStoreItOnce) {
  auto shard = StartShard(MakeTempDir("shard-") + "/d");
  ASSERT_TRUE(shard.ok()) << shard.status();
  const std::string data = Pattern(1, 3 << 20);
  const std::string digest = Sha256Hex(data);
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<bool>> results(8, false);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      results[i] = shard->conn->PutChunk("r", digest, data, Deadline());
    });
  }
  for (auto& t : threads) t.join();
  int created = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    if (!*r) ++created;
  }
  EXPECT_EQ(created, 1);
  auto cap = shard->conn->Capacity(Deadline());
  ASSERT_TRUE(cap.ok()) << cap.status();
  EXPECT_EQ(cap->chunk_count, 1u);
  EXPECT_EQ(cap->used_bytes, data.size());
  EXPECT_GT(cap->total_bytes, cap->free_bytes);
  EXPECT_TRUE(FilesUnder(shard->data + "/tmp").empty());
  auto v = shard->conn->VerifyChunk(digest, false, Deadline());
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->good);
}

TEST(BlobShardTest, PagedListDeleteVerifyAndCapacity) {
  const std::string dir = MakeTempDir("shard-") + "/d";
  auto shard = StartShard(dir);
  ASSERT_TRUE(shard.ok()) << shard.status();
  std::vector<std::string> digests;
  uint64_t bytes = 0;
  for (int i = 0; i < 25; ++i) {
    std::string data = Pattern(100 + i, 1000 + i);
    digests.push_back(Sha256Hex(data));
    bytes += data.size();
    ASSERT_TRUE(shard->conn->PutChunk("r", digests.back(), data, Deadline()).ok());
  }
  std::sort(digests.begin(), digests.end());
  std::vector<std::string> listed;
  std::string after;
  int pages = 0;
  do {
    auto page = shard->conn->ListChunks(after, 10, Deadline());
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->chunks.size(), 10u);
    for (const auto& c : page->chunks) {
      listed.push_back(c.digest);
      EXPECT_GT(c.mtime_unix_nanos, 0);
    }
    after = page->next_start_after;
    ++pages;
  } while (!after.empty());
  EXPECT_EQ(listed, digests);
  EXPECT_EQ(pages, 3);
  auto cap = shard->conn->Capacity(Deadline());
  ASSERT_TRUE(cap.ok());
  EXPECT_EQ(cap->chunk_count, 25u);
  EXPECT_EQ(cap->used_bytes, bytes);

  // Delete: gone, counted, and a second delete is CHUNK_NOT_FOUND.
  auto deleted = shard->conn->DeleteChunk(digests[0], 0, Deadline());
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(*deleted);
  EXPECT_EQ(blob::ReasonOf(shard->conn->StatChunk(digests[0], Deadline()).status()),
            berth::CHUNK_NOT_FOUND);
  EXPECT_EQ(blob::ReasonOf(
                shard->conn->DeleteChunk(digests[0], 0, Deadline()).status()),
            berth::CHUNK_NOT_FOUND);
  // A conditional delete keeps a chunk written after the cutoff.
  auto kept = shard->conn->DeleteChunk(
      digests[1], absl::ToUnixNanos(absl::Now() - absl::Hours(1)), Deadline());
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(*kept);
  cap = shard->conn->Capacity(Deadline());
  EXPECT_EQ(cap->chunk_count, 24u);

  // Verify re-hashes on disk; quarantine moves a corrupt copy aside.
  const std::string path = blob::ChunkPath(dir, digests[2]);
  { std::ofstream(path, std::ios::in | std::ios::out | std::ios::binary) << "X"; }
  auto v = shard->conn->VerifyChunk(digests[2], false, Deadline());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_FALSE(v->good);
  EXPECT_NE(v->actual_digest, digests[2]);
  v = shard->conn->VerifyChunk(digests[2], true, Deadline());
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->quarantined);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(FilesUnder(dir + "/quarantine").size(), 1u);
  EXPECT_EQ(shard->conn->Capacity(Deadline())->chunk_count, 23u);
  EXPECT_EQ(blob::ReasonOf(
                shard->conn->VerifyChunk(digests[2], false, Deadline()).status()),
            berth::CHUNK_NOT_FOUND);

  // Counts survive a restart (kill -9, then start on the same directory).
  ASSERT_TRUE(shard->process->Stop(SIGKILL).ok());
  auto again = StartShard(dir);
  ASSERT_TRUE(again.ok()) << again.status();
  cap = again->conn->Capacity(Deadline());
  ASSERT_TRUE(cap.ok());
  EXPECT_EQ(cap->chunk_count, 23u);
}

TEST(BlobShardTest, LeftoverTempFilesAreRemovedAtStart) {
  const std::string dir = MakeTempDir("shard-") + "/d";
  fs::create_directories(dir + "/tmp");
  std::ofstream(dir + "/tmp/" + std::string(64, 'a') + ".XXXXXX") << "partial";
  auto shard = StartShard(dir);
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_TRUE(FilesUnder(dir + "/tmp").empty());
}

// A private tmpfs for one blobd: needs CAP_SYS_ADMIN (tests run as root).
bool CanMountTmpfs() {
  ProcessOptions o;
  o.argv = {"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh",
            "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"};
  auto p = Process::Start(o);
  if (!p.ok()) return false;
  auto code = (*p)->Wait(absl::Seconds(10));
  return code.ok() && *code == 0;
}

TEST(BlobShardTest, DiskFullIsResourceExhaustedAndLeavesNothing) {
  // Skipped only without CAP_SYS_ADMIN (not root, or a container that
  // forbids mounts): a full or read-only disk cannot be faked otherwise
  // without touching the host. CI runs as root, so there it runs.
  if (!CanMountTmpfs()) GTEST_SKIP() << "cannot mount a private tmpfs here";
  const std::string dir = MakeTempDir("shard-full-");
  auto shard = StartShard(
      dir, absl::StrCat("mount -t tmpfs -o size=2m tmpfs '", dir, "'"));
  ASSERT_TRUE(shard.ok()) << shard.status();
  // The shard's view of its directory (its own mount namespace).
  const std::string seen =
      absl::StrCat("/proc/", shard->process->pid(), "/root", dir);
  const std::string data = Pattern(7, 3 << 20);
  auto r = shard->conn->PutChunk("r", Sha256Hex(data), data, Deadline());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "No space left"))
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "shard-x"));
  EXPECT_TRUE(FilesUnder(seen + "/tmp").empty());
  EXPECT_TRUE(FilesUnder(seen + "/chunks").empty());
  // A chunk that fits still goes in afterwards.
  const std::string small = Pattern(8, 100000);
  EXPECT_TRUE(shard->conn->PutChunk("r", Sha256Hex(small), small, Deadline()).ok());
  EXPECT_EQ(shard->conn->Capacity(Deadline())->chunk_count, 1u);
}

TEST(BlobShardTest, ReadOnlyDiskIsPermissionDenied) {
  // Skipped only without CAP_SYS_ADMIN (not root, or a container that
  // forbids mounts): a full or read-only disk cannot be faked otherwise
  // without touching the host. CI runs as root, so there it runs.
  if (!CanMountTmpfs()) GTEST_SKIP() << "cannot mount a private tmpfs here";
  const std::string dir = MakeTempDir("shard-ro-");
  // The shard's tmp/ is a read-only file system: every write fails (EROFS).
  auto shard = StartShard(
      dir, absl::StrCat("mount -t tmpfs -o size=8m tmpfs '", dir,
                        "' && mkdir '", dir, "/tmp' && mount -t tmpfs -o ro "
                        "tmpfs '", dir, "/tmp'"));
  ASSERT_TRUE(shard.ok()) << shard.status();
  const std::string data = Pattern(9, 5000);
  auto r = shard->conn->PutChunk("r", Sha256Hex(data), data, Deadline());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied)
      << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "Read-only"))
      << r.status();
  EXPECT_TRUE(FilesUnder(absl::StrCat("/proc/", shard->process->pid(),
                                      "/root", dir, "/chunks"))
                  .empty());
}

}  // namespace
}  // namespace berth::testing

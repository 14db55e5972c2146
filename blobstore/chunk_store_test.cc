#include "blobstore/chunk_store.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "blobstore/errors.h"
#include "common/sha256.h"
#include "gtest/gtest.h"

namespace berth::blob {
namespace {

namespace fs = std::filesystem;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// A fresh directory per test under Bazel's TEST_TMPDIR.
std::string TestDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(
      base ? base : "/tmp", "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  return dir;
}

std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_directory()) files.push_back(e.path().string());
  }
  return files;
}

std::unique_ptr<ChunkStore> OpenOrDie(const std::string& dir) {
  auto store = ChunkStore::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

absl::StatusOr<bool> WriteChunk(ChunkStore* store, absl::string_view digest,
                                uint64_t size, absl::string_view data,
                                size_t piece = 64 << 10) {
  auto writer = store->BeginWrite(digest, size);
  if (!writer.ok()) return writer.status();
  for (size_t pos = 0; pos < data.size(); pos += piece) {
    absl::Status s = (*writer)->Append(data.substr(pos, piece));
    if (!s.ok()) return s;
  }
  return (*writer)->Commit();
}

absl::StatusOr<std::string> ReadRange(const ChunkStore& store,
                                      absl::string_view digest, uint64_t offset,
                                      uint64_t length,
                                      size_t* max_piece = nullptr) {
  std::string out;
  absl::Status s = store.Read(digest, offset, length, [&](absl::string_view p) {
    if (max_piece != nullptr) *max_piece = std::max(*max_piece, p.size());
    out.append(p.data(), p.size());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

TEST(ChunkStoreTest, RoundTrip) {
  const std::string dir = TestDir();
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes((5 << 19) + 17, 1);  // > 2 pieces
  const std::string digest = Sha256Hex(data);
  auto present = WriteChunk(store.get(), digest, data.size(), data, 300 << 10);
  ASSERT_TRUE(present.ok()) << present.status();
  EXPECT_FALSE(*present);
  auto size = store->Stat(digest);
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, data.size());
  EXPECT_TRUE(fs::is_regular_file(ChunkPath(dir, digest)));
  EXPECT_EQ(ChunkPath(dir, digest),
            absl::StrCat(dir, "/chunks/", digest.substr(0, 2), "/",
                         digest.substr(2, 2), "/", digest));
  size_t max_piece = 0;
  auto back = ReadRange(*store, digest, 0, 0, &max_piece);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == data);
  EXPECT_EQ(max_piece, kPieceSize);
  EXPECT_TRUE(FilesUnder(dir + "/tmp").empty());
}

TEST(ChunkStoreTest, SecondWriteReportsAlreadyPresent) {
  auto store = OpenOrDie(TestDir());
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(1000, 2);
  const std::string digest = Sha256Hex(data);
  auto first = WriteChunk(store.get(), digest, data.size(), data);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(*first);
  auto second = WriteChunk(store.get(), digest, data.size(), data);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*second);
  EXPECT_TRUE(FilesUnder(store->dir() + "/tmp").empty());
}

TEST(ChunkStoreTest, DigestMismatchLeavesNothing) {
  const std::string dir = TestDir();
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(200 << 10, 3);
  const std::string claimed = Sha256Hex("something else");
  auto r = WriteChunk(store.get(), claimed, data.size(), data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReasonOf(r.status()), berth::CHUNK_DIGEST_MISMATCH);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(FilesUnder(dir + "/chunks").empty());
  EXPECT_TRUE(FilesUnder(dir + "/tmp").empty());
  EXPECT_EQ(ReasonOf(store->Stat(claimed).status()), berth::CHUNK_NOT_FOUND);
}

TEST(ChunkStoreTest, ShortChunkIsSizeMismatch) {
  const std::string dir = TestDir();
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(5000, 4);
  auto r = WriteChunk(store.get(), Sha256Hex(data), data.size() + 1, data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReasonOf(r.status()), berth::CHUNK_SIZE_MISMATCH);
  EXPECT_TRUE(FilesUnder(dir + "/chunks").empty());
  EXPECT_TRUE(FilesUnder(dir + "/tmp").empty());
}

TEST(ChunkStoreTest, LongChunkIsRefusedAtOnce) {
  const std::string dir = TestDir();
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(5000, 5);
  auto writer = store->BeginWrite(Sha256Hex(data), data.size() - 1);
  ASSERT_TRUE(writer.ok()) << writer.status();
  absl::Status s = (*writer)->Append(data);
  EXPECT_EQ(ReasonOf(s), berth::CHUNK_SIZE_MISMATCH) << s;
  EXPECT_TRUE(FilesUnder(dir + "/tmp").empty());
  EXPECT_EQ((*writer)->Commit().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(FilesUnder(dir + "/chunks").empty());
}

TEST(ChunkStoreTest, ConcurrentWritersOfTheSameChunk) {
  const std::string dir = TestDir();
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(1 << 20, 6);
  const std::string digest = Sha256Hex(data);
  constexpr int kWriters = 8;
  std::vector<absl::StatusOr<bool>> results(kWriters, false);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      results[i] = WriteChunk(store.get(), digest, data.size(), data, 8 << 10);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(FilesUnder(dir + "/chunks"),
            std::vector<std::string>{ChunkPath(dir, digest)});
  EXPECT_TRUE(FilesUnder(dir + "/tmp").empty());
  auto back = ReadRange(*store, digest, 0, 0);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == data);
}

TEST(ChunkStoreTest, AbortAndDestructorRemoveTheTempFile) {
  const std::string dir = TestDir();
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(4096, 7);
  {
    auto writer = store->BeginWrite(Sha256Hex(data), data.size());
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append(data).ok());
    EXPECT_EQ(FilesUnder(dir + "/tmp").size(), 1u);
    (*writer)->Abort();
    EXPECT_TRUE(FilesUnder(dir + "/tmp").empty());
  }
  {
    auto writer = store->BeginWrite(Sha256Hex(data), data.size());
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append(data.substr(0, 100)).ok());
    EXPECT_EQ(FilesUnder(dir + "/tmp").size(), 1u);
  }
  EXPECT_TRUE(FilesUnder(dir + "/tmp").empty());
  EXPECT_TRUE(FilesUnder(dir + "/chunks").empty());
}

TEST(ChunkStoreTest, OpenRemovesLeftoverTempFiles) {
  const std::string dir = TestDir();
  const std::string data = RandomBytes(3000, 8);
  const std::string digest = Sha256Hex(data);
  {
    auto store = OpenOrDie(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(WriteChunk(store.get(), digest, data.size(), data).ok());
  }
  // What a crash mid-write leaves behind.
  std::ofstream(dir + "/tmp/" + digest + ".a1b2c3") << "partial";
  fs::create_directories(dir + "/tmp/stray/dir");
  ASSERT_EQ(FilesUnder(dir + "/tmp").size(), 1u);
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(fs::is_empty(dir + "/tmp"));
  auto back = ReadRange(*store, digest, 0, 0);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == data);
}

TEST(ChunkStoreTest, SecondStoreOnTheSameDirIsRefused) {
  const std::string dir = TestDir();
  auto first = OpenOrDie(dir);
  ASSERT_NE(first, nullptr);
  auto second = ChunkStore::Open(dir);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  first.reset();
  EXPECT_TRUE(ChunkStore::Open(dir).ok());
}

TEST(ChunkStoreTest, RangeReads) {
  auto store = OpenOrDie(TestDir());
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(3 * kPieceSize + 99, 9);
  const std::string digest = Sha256Hex(data);
  ASSERT_TRUE(WriteChunk(store.get(), digest, data.size(), data).ok());
  const uint64_t n = data.size();
  struct Case {
    uint64_t offset, length;
  };
  for (Case c : {Case{0, 0}, Case{100, 50}, Case{kPieceSize - 10, 20},
                 Case{1, 2 * kPieceSize + 5}, Case{n - 5, 0}, Case{n - 5, 5},
                 Case{n, 0}}) {
    size_t max_piece = 0;
    auto got = ReadRange(*store, digest, c.offset, c.length, &max_piece);
    ASSERT_TRUE(got.ok()) << c.offset << "+" << c.length << ": "
                          << got.status();
    uint64_t len = c.length == 0 ? n - c.offset : c.length;
    EXPECT_TRUE(*got == data.substr(c.offset, len))
        << c.offset << "+" << c.length;
    EXPECT_LE(max_piece, kPieceSize);
  }
  for (Case c : {Case{n - 5, 6}, Case{n + 1, 0}, Case{0, n + 1}}) {
    auto got = ReadRange(*store, digest, c.offset, c.length);
    EXPECT_EQ(ReasonOf(got.status()), berth::INVALID_ARGUMENT)
        << c.offset << "+" << c.length;
  }
  uint64_t chunk_size = 0;
  ASSERT_TRUE(store
                  ->Read(
                      digest, n, 0,
                      [](absl::string_view) { return absl::OkStatus(); },
                      &chunk_size)
                  .ok());
  EXPECT_EQ(chunk_size, n);
}

TEST(ChunkStoreTest, SinkErrorStopsTheRead) {
  auto store = OpenOrDie(TestDir());
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(3 * kPieceSize, 10);
  const std::string digest = Sha256Hex(data);
  ASSERT_TRUE(WriteChunk(store.get(), digest, data.size(), data).ok());
  int calls = 0;
  absl::Status s = store->Read(digest, 0, 0, [&](absl::string_view) {
    ++calls;
    return absl::AbortedError("stop");
  });
  EXPECT_EQ(s, absl::AbortedError("stop"));
  EXPECT_EQ(calls, 1);
}

TEST(ChunkStoreTest, MissingChunkIsNotFound) {
  auto store = OpenOrDie(TestDir());
  ASSERT_NE(store, nullptr);
  const std::string digest = Sha256Hex("never stored");
  absl::Status s = ReadRange(*store, digest, 0, 0).status();
  EXPECT_EQ(ReasonOf(s), berth::CHUNK_NOT_FOUND);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReasonOf(store->Stat(digest).status()), berth::CHUNK_NOT_FOUND);
}

TEST(ChunkStoreTest, MalformedDigestsAreInvalidArguments) {
  auto store = OpenOrDie(TestDir());
  ASSERT_NE(store, nullptr);
  std::string upper = Sha256Hex("x");
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  for (const std::string& bad :
       {std::string("../../../etc/passwd"), std::string(""), upper,
        Sha256Hex("x").substr(1)}) {
    EXPECT_EQ(ReasonOf(store->BeginWrite(bad, 1).status()),
              berth::INVALID_ARGUMENT)
        << bad;
    EXPECT_EQ(ReasonOf(ReadRange(*store, bad, 0, 0).status()),
              berth::INVALID_ARGUMENT)
        << bad;
    EXPECT_EQ(ReasonOf(store->Stat(bad).status()), berth::INVALID_ARGUMENT)
        << bad;
  }
  EXPECT_EQ(
      ReasonOf(store->BeginWrite(Sha256Hex("x"), kMaxChunkSize + 1).status()),
      berth::INVALID_ARGUMENT);
}

// Tests may run as root, so permissions cannot provoke errors; a path
// through a regular file can (ENOTDIR).
TEST(ChunkStoreTest, OpenUnderARegularFileIsAnError) {
  const std::string dir = TestDir();
  fs::create_directories(dir);
  const std::string file = dir + "/plain-file";
  std::ofstream(file) << "x";
  auto store = ChunkStore::Open(file + "/store");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(ReasonOf(store.status()), berth::STORAGE_ERROR);
  EXPECT_NE(store.status().message().find(file), absl::string_view::npos)
      << store.status();
}

TEST(ChunkStoreTest, UnwritableTmpIsAnError) {
  const std::string dir = TestDir();
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  fs::remove_all(dir + "/tmp");
  std::ofstream(dir + "/tmp") << "not a directory";
  auto writer = store->BeginWrite(Sha256Hex("x"), 1);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(ReasonOf(writer.status()), berth::STORAGE_ERROR);
}

TEST(ChunkStoreTest, BlockedFanOutFailsCommitCleanly) {
  const std::string dir = TestDir();
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(10000, 11);
  const std::string digest = Sha256Hex(data);
  const std::string blocker = dir + "/chunks/" + digest.substr(0, 2);
  std::ofstream(blocker) << "in the way";
  auto r = WriteChunk(store.get(), digest, data.size(), data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReasonOf(r.status()), berth::STORAGE_ERROR);
  EXPECT_TRUE(FilesUnder(dir + "/tmp").empty());
  EXPECT_EQ(FilesUnder(dir + "/chunks"), std::vector<std::string>{blocker});

  fs::remove(blocker);
  r = WriteChunk(store.get(), digest, data.size(), data);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(*r);
}

TEST(ErrorsTest, ReasonSurvivesTheWire) {
  for (berth::Reason reason :
       {berth::INVALID_ARGUMENT, berth::CHUNK_NOT_FOUND,
        berth::CHUNK_DIGEST_MISMATCH, berth::CHUNK_SIZE_MISMATCH,
        berth::STORAGE_ERROR, berth::IMAGE_ALREADY_EXISTS}) {
    absl::Status s = MakeError(reason, "msg");
    berth::Error wire = ToError(s);
    EXPECT_EQ(wire.reason(), reason);
    EXPECT_EQ(wire.message(), "msg");
    absl::Status back = FromError(wire);
    EXPECT_EQ(ReasonOf(back), reason);
    EXPECT_EQ(back.code(), ReasonCode(reason));
    EXPECT_FALSE(back.ok());
  }
  EXPECT_TRUE(FromError(berth::Error()).ok());
  EXPECT_EQ(ToError(absl::OkStatus()).reason(), berth::REASON_UNSPECIFIED);
  absl::Status full = ErrnoError(ENOSPC, "write x");
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(full), berth::STORAGE_ERROR);
  EXPECT_EQ(ErrnoError(EACCES, "open").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoError(EIO, "read").code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ReasonOf(absl::NotFoundError("x")), berth::CHUNK_NOT_FOUND);
}

// gc (issue 9): re-putting a stored chunk refreshes its mtime, and a
// conditional delete keeps a chunk modified after the sweep's cutoff.
TEST(ChunkStoreTest, RePutRefreshesAgeAndConditionalDeleteKeepsIt) {
  const std::string dir = TestDir();
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  const std::string reput = RandomBytes(5000, 41), idle = RandomBytes(5000, 42);
  const std::string reput_digest = Sha256Hex(reput), idle_digest = Sha256Hex(idle);
  ASSERT_FALSE(*WriteChunk(store.get(), reput_digest, reput.size(), reput));
  ASSERT_FALSE(*WriteChunk(store.get(), idle_digest, idle.size(), idle));
  // Both written an hour ago.
  const int64_t now_s = static_cast<int64_t>(time(nullptr));
  const timespec old[2] = {{now_s - 3600, 0}, {now_s - 3600, 0}};
  for (const auto& d : {reput_digest, idle_digest}) {
    ASSERT_EQ(utimensat(AT_FDCWD, ChunkPath(dir, d).c_str(), old, 0), 0);
  }
  auto present = WriteChunk(store.get(), reput_digest, reput.size(), reput);
  ASSERT_TRUE(present.ok()) << present.status();
  EXPECT_TRUE(*present);
  auto listed = store->List("", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  for (const ChunkEntry& e : *listed) {
    if (e.digest == reput_digest) {
      EXPECT_GE(e.mtime_unix_nanos, (now_s - 60) * 1000000000) << "not refreshed";
    } else {
      EXPECT_LT(e.mtime_unix_nanos, (now_s - 3000) * 1000000000);
    }
  }
  // A sweep with its cutoff 30 minutes ago: the re-put chunk stays.
  const int64_t cutoff = (now_s - 1800) * int64_t{1000000000};
  auto kept = store->Delete(reput_digest, cutoff);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(*kept);
  EXPECT_TRUE(store->Stat(reput_digest).ok());
  auto gone = store->Delete(idle_digest, cutoff);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_TRUE(*gone);
  EXPECT_FALSE(store->Stat(idle_digest).ok());
}

}  // namespace
}  // namespace berth::blob

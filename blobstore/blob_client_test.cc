// BlobClient against a real BlobServer on 127.0.0.1 (port 0) in-process.
#include "blobstore/blob_client.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "blobstore/blobd.h"
#include "blobstore/chunk_store.h"
#include "blobstore/errors.h"
#include "blobstore/limits.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"
#include "common/sha256.h"
#include "gtest/gtest.h"

namespace berth::blob {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunk = 64 << 10;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::string TestDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(
      base ? base : "/tmp", "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  return dir;
}

bool TreeHasFiles(const std::string& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_directory()) return true;
  }
  return false;
}

class BlobClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = TestDir() + "/blobd";
    BlobdOptions options;
    options.listen = "127.0.0.1:0";
    options.data = data_dir_;
    options.shard_id = "shard-t";
    auto server = BlobServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    BlobClientOptions opts;
    opts.chunk_size = kChunk;
    opts.rpc_timeout = absl::Seconds(30);
    ShardInfo info;
    info.id = "shard-t";
    client_ = std::make_unique<BlobClient>(
        std::vector<Shard>{{info, NewGrpcShardConnection("shard-t", channel_)}},
        opts);
  }

  // Writes `data` through a LayerWriter in writes of `step` bytes.
  absl::StatusOr<LayerManifest> Push(const std::string& data,
                                     size_t step = 10007) {
    auto writer = client_->NewLayerWriter("req-1");
    for (size_t pos = 0; pos < data.size(); pos += step) {
      absl::Status s = writer->Write(absl::string_view(data).substr(pos, step));
      if (!s.ok()) return s;
    }
    return writer->Finish();
  }

  // Reads a range; `got` holds whatever reached the sink, even on error.
  absl::Status Pull(const LayerManifest& m, uint64_t offset, uint64_t length,
                    std::string* got) {
    got->clear();
    return client_->ReadLayer(m, offset, length, [&](absl::string_view p) {
      got->append(p.data(), p.size());
      return absl::OkStatus();
    });
  }

  std::string data_dir_;
  std::unique_ptr<BlobServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<BlobClient> client_;
};

TEST_F(BlobClientTest, MultiChunkLayerRoundTrips) {
  const std::string data = RandomBytes(300 * 1024 + 123, 1);
  auto m = Push(data);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->total_size(), data.size());
  ASSERT_EQ(m->chunks_size(), 5);
  for (int i = 0; i < m->chunks_size(); ++i) {
    const ChunkRef& ref = m->chunks(i);
    std::string slice = data.substr(i * kChunk, kChunk);
    EXPECT_EQ(ref.size(), slice.size());
    EXPECT_EQ(ref.digest(), Sha256Hex(slice));
    ASSERT_EQ(ref.shards_size(), 1);
    EXPECT_EQ(ref.shards(0), "shard-t");
    EXPECT_TRUE(fs::is_regular_file(ChunkPath(data_dir_, ref.digest())));
  }
  EXPECT_EQ(m->chunks(4).size(), data.size() - 4 * kChunk);
  std::string got;
  ASSERT_TRUE(Pull(*m, 0, 0, &got).ok());
  EXPECT_TRUE(got == data);
}

TEST_F(BlobClientTest, RangeReadsAcrossChunkBoundaries) {
  const std::string data = RandomBytes(300 * 1024, 2);
  auto m = Push(data, 65536 + 1);
  ASSERT_TRUE(m.ok()) << m.status();
  const uint64_t n = data.size();
  struct Case {
    uint64_t offset, length;
  };
  for (Case c :
       {Case{kChunk - 10, 20}, Case{1, 3 * kChunk}, Case{kChunk, kChunk},
        Case{2 * kChunk + 5, 0}, Case{n - 1, 0}, Case{n, 0}}) {
    std::string got;
    absl::Status s = Pull(*m, c.offset, c.length, &got);
    ASSERT_TRUE(s.ok()) << c.offset << "+" << c.length << ": " << s;
    uint64_t len = c.length == 0 ? n - c.offset : c.length;
    EXPECT_TRUE(got == data.substr(c.offset, len))
        << c.offset << "+" << c.length;
  }
  std::string got;
  EXPECT_EQ(Pull(*m, n - 1, 2, &got).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Pull(*m, n + 1, 0, &got).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(got.empty());
}

TEST_F(BlobClientTest, EmptyLayer) {
  auto writer = client_->NewLayerWriter("req-empty");
  ASSERT_TRUE(writer->Write("").ok());
  auto m = writer->Finish();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->chunks_size(), 0);
  EXPECT_EQ(m->total_size(), 0u);
  int calls = 0;
  absl::Status s = client_->ReadLayer(*m, 0, 0, [&](absl::string_view) {
    ++calls;
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(TreeHasFiles(data_dir_ + "/chunks"));
}

TEST_F(BlobClientTest, WriterRefusesUseAfterFinishOrAbort) {
  auto writer = client_->NewLayerWriter("req-2");
  ASSERT_TRUE(writer->Write("abc").ok());
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(writer->Write("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer->Finish().status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto aborted = client_->NewLayerWriter("req-3");
  ASSERT_TRUE(aborted->Write("xyz").ok());
  aborted->Abort();
  EXPECT_EQ(aborted->Write("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(aborted->Finish().ok());
  // "xyz" was below one chunk, so Abort stored nothing; "abc" was stored.
  EXPECT_TRUE(fs::exists(ChunkPath(data_dir_, Sha256Hex("abc"))));
  EXPECT_FALSE(fs::exists(ChunkPath(data_dir_, Sha256Hex("xyz"))));
}

TEST_F(BlobClientTest, CorruptChunkIsDataLossBeforeItsBytes) {
  const std::string data = RandomBytes(3 * kChunk + 500, 3);
  auto m = Push(data);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->chunks_size(), 4);
  const std::string path = ChunkPath(data_dir_, m->chunks(1).digest());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << path;
    f.seekg(1000);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    f.seekp(1000);
    f.write(&c, 1);
    ASSERT_TRUE(f.good());
  }
  ASSERT_EQ(fs::file_size(path), kChunk);  // Same size: only the hash tells.

  std::string got;
  absl::Status s = Pull(*m, 0, 0, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(got == data.substr(0, kChunk)) << got.size();  // chunk 0 only

  s = Pull(*m, kChunk + 10, 100, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(got.empty());

  // Chunks around it are still fine.
  ASSERT_TRUE(Pull(*m, 2 * kChunk, 0, &got).ok());
  EXPECT_TRUE(got == data.substr(2 * kChunk));
}

TEST_F(BlobClientTest, TruncatedChunkIsDataLoss) {
  const std::string data = RandomBytes(2 * kChunk, 4);
  auto m = Push(data);
  ASSERT_TRUE(m.ok()) << m.status();
  fs::resize_file(ChunkPath(data_dir_, m->chunks(0).digest()), kChunk - 1);
  std::string got;
  absl::Status s = Pull(*m, 0, 0, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(got.empty());
}

TEST_F(BlobClientTest, MissingChunkIsChunkNotFound) {
  const std::string data = RandomBytes(2 * kChunk, 5);
  auto m = Push(data);
  ASSERT_TRUE(m.ok()) << m.status();
  fs::remove(ChunkPath(data_dir_, m->chunks(1).digest()));
  std::string got;
  absl::Status s = Pull(*m, 0, 0, &got);
  EXPECT_EQ(ReasonOf(s), berth::CHUNK_NOT_FOUND) << s;
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(got == data.substr(0, kChunk));
}

TEST_F(BlobClientTest, PutChunkWithWrongDigestIsRefusedAndLeavesNoFile) {
  const std::string data = RandomBytes(3 * kPieceSize / 2, 6);
  const std::string claimed = Sha256Hex("not these bytes");

  auto stub = Blobstore::NewStub(channel_);
  grpc::ClientContext ctx;
  PutChunkResponse response;
  auto stream = stub->PutChunk(&ctx, &response);
  PutChunkRequest request;
  request.mutable_header()->set_digest(claimed);
  request.mutable_header()->set_size(data.size());
  ASSERT_TRUE(stream->Write(request));
  for (size_t pos = 0; pos < data.size(); pos += kPieceSize) {
    request.set_data(data.substr(pos, kPieceSize));
    ASSERT_TRUE(stream->Write(request));
  }
  ASSERT_TRUE(stream->WritesDone());
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.error().reason(), berth::CHUNK_DIGEST_MISMATCH);
  EXPECT_FALSE(response.already_present());

  // The same through the client library keeps the reason.
  auto r = client_->PutChunk(0, "req-4", claimed, data);
  EXPECT_EQ(ReasonOf(r.status()), berth::CHUNK_DIGEST_MISMATCH) << r.status();

  EXPECT_FALSE(TreeHasFiles(data_dir_ + "/chunks"));
  EXPECT_FALSE(TreeHasFiles(data_dir_ + "/tmp"));
}

TEST_F(BlobClientTest, PutChunkWithoutHeaderIsInvalidArgument) {
  auto stub = Blobstore::NewStub(channel_);
  grpc::ClientContext ctx;
  PutChunkResponse response;
  auto stream = stub->PutChunk(&ctx, &response);
  PutChunkRequest request;
  request.set_data("bytes before any header");
  stream->Write(request);  // May fail once the server has answered.
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.error().reason(), berth::INVALID_ARGUMENT);
  EXPECT_FALSE(TreeHasFiles(data_dir_ + "/chunks"));
}

TEST_F(BlobClientTest, GetChunkStreamsPiecesAndStatReportsSize) {
  const std::string data = RandomBytes(5 * kPieceSize / 2, 7);
  const std::string digest = Sha256Hex(data);
  auto stored = client_->PutChunk(0, "req-5", digest, data);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_FALSE(*stored);
  stored = client_->PutChunk(0, "req-6", digest, data);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(*stored);

  auto stub = Blobstore::NewStub(channel_);
  grpc::ClientContext ctx;
  GetChunkRequest request;
  request.set_digest(digest);
  request.set_offset(10);
  auto reader = stub->GetChunk(&ctx, request);
  GetChunkResponse response;
  std::string got;
  int messages = 0;
  while (reader->Read(&response)) {
    if (messages++ == 0) {
      EXPECT_EQ(response.chunk_size(), data.size());
    }
    EXPECT_EQ(response.error().reason(), berth::REASON_UNSPECIFIED);
    EXPECT_LE(response.data().size(), kPieceSize);
    got += response.data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(messages, 3);
  EXPECT_TRUE(got == data.substr(10));

  grpc::ClientContext stat_ctx;
  StatChunkRequest stat;
  stat.set_digest(digest);
  StatChunkResponse answer;
  ASSERT_TRUE(stub->StatChunk(&stat_ctx, stat, &answer).ok());
  EXPECT_TRUE(answer.present());
  EXPECT_EQ(answer.size(), data.size());
}

TEST_F(BlobClientTest, MissingChunkOverTheWire) {
  auto stub = Blobstore::NewStub(channel_);
  const std::string digest = Sha256Hex("absent");
  grpc::ClientContext ctx;
  GetChunkRequest request;
  request.set_digest(digest);
  auto reader = stub->GetChunk(&ctx, request);
  GetChunkResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.error().reason(), berth::CHUNK_NOT_FOUND);
  EXPECT_FALSE(reader->Read(&response));
  ASSERT_TRUE(reader->Finish().ok());

  grpc::ClientContext stat_ctx;
  StatChunkRequest stat;
  stat.set_digest(digest);
  StatChunkResponse answer;
  ASSERT_TRUE(stub->StatChunk(&stat_ctx, stat, &answer).ok());
  EXPECT_FALSE(answer.present());
  EXPECT_EQ(answer.error().reason(), berth::REASON_UNSPECIFIED);

  grpc::ClientContext bad_ctx;
  stat.set_digest("../x");
  ASSERT_TRUE(stub->StatChunk(&bad_ctx, stat, &answer).ok());
  EXPECT_EQ(answer.error().reason(), berth::INVALID_ARGUMENT);
}

TEST_F(BlobClientTest, ServerStartErrors) {
  BlobdOptions busy;
  busy.listen = absl::StrCat("127.0.0.1:", server_->port());
  busy.data = data_dir_ + "-other";
  auto second = BlobServer::Start(busy);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("cannot listen on"),
            absl::string_view::npos)
      << second.status();

  BlobdOptions bad_address = busy;
  bad_address.listen = "no-port-here";
  EXPECT_EQ(BlobServer::Start(bad_address).status().code(),
            absl::StatusCode::kInvalidArgument);

  BlobdOptions same_dir;
  same_dir.listen = "127.0.0.1:0";
  same_dir.data = data_dir_;  // Held by the running server.
  EXPECT_EQ(BlobServer::Start(same_dir).status().code(),
            absl::StatusCode::kFailedPrecondition);

  const std::string file = data_dir_ + "-file";
  std::ofstream(file) << "x";
  BlobdOptions bad_dir;
  bad_dir.listen = "127.0.0.1:0";
  bad_dir.data = file + "/data";
  auto bad = BlobServer::Start(bad_dir);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(file), absl::string_view::npos)
      << bad.status();
}

// The in-process binding hashes a chunk once: the local shard trusts the
// client's digest (here deliberately wrong), and reads still verify.
TEST(LocalShardTest, TrustsTheWritersHashAndReadsStillVerify) {
  const std::string dir = TestDir() + "/local";
  auto store = ChunkStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  ShardInfo info;
  info.id = "local";
  BlobClientOptions opts;
  opts.chunk_size = kChunk;
  opts.replicas = 3;        // clamped to the one active shard
  opts.write_quorum = 2;
  BlobClient client({{info, NewLocalShardConnection("local", store->get())}},
                    opts);
  EXPECT_EQ(client.replicas(), 1u);
  EXPECT_EQ(client.write_quorum(), 1u);

  const std::string data = RandomBytes(1000, 9);
  const std::string claimed = Sha256Hex("something else");
  auto stored = client.PutChunk(0, "r", claimed, data);
  ASSERT_TRUE(stored.ok()) << stored.status();  // not re-hashed
  EXPECT_TRUE(fs::is_regular_file(ChunkPath(dir, claimed)));

  LayerManifest m;
  ChunkRef* ref = m.add_chunks();
  ref->set_digest(claimed);
  ref->set_size(data.size());
  ref->add_shards("local");
  m.set_total_size(data.size());
  std::string got;
  ReadReport report;
  absl::Status s = client.ReadLayer(
      m, 0, 0,
      [&](absl::string_view p) {
        got.append(p.data(), p.size());
        return absl::OkStatus();
      },
      &report);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(report.bad_copies.size(), 1u);
  EXPECT_EQ(report.bad_copies[0].kind, BadCopy::kCorrupt);

  // A real layer through the local shard round-trips.
  auto writer = client.NewLayerWriter("w");
  const std::string layer = RandomBytes(3 * kChunk + 5, 10);
  ASSERT_TRUE(writer->Write(layer).ok());
  auto lm = writer->Finish();
  ASSERT_TRUE(lm.ok()) << lm.status();
  EXPECT_TRUE(writer->under_replicated().empty());
  got.clear();
  ASSERT_TRUE(client.ReadLayer(*lm, 0, 0, [&](absl::string_view p) {
    got.append(p.data(), p.size());
    return absl::OkStatus();
  }).ok());
  EXPECT_TRUE(got == layer);
}


// ---- The raw (zero-copy) GetChunk reader against bad data ----

namespace raw_test {

// Flips one byte of the file at `pos`.
void FlipByte(const std::string& path, uint64_t pos) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(static_cast<std::streamoff>(pos));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x40);
  f.seekp(static_cast<std::streamoff>(pos));
  f.write(&c, 1);
  ASSERT_TRUE(f.good());
}

}  // namespace raw_test

// A multi-message chunk (3 pieces) from the real blobd: a byte flipped in
// the last piece, after the first pieces were received and hashed, is
// still DATA_LOSS with nothing handed on; a longer file is a corrupt copy.
TEST_F(BlobClientTest, RawReaderVerifiesMultiPieceChunks) {
  const std::string data = RandomBytes(5 * kPieceSize / 2, 11);
  const std::string digest = Sha256Hex(data);
  ASSERT_TRUE(client_->PutChunk(0, "raw-1", digest, data).ok());
  ChunkRef ref;
  ref.set_digest(digest);
  ref.set_size(data.size());
  ref.add_shards("shard-t");
  LayerManifest m;
  *m.add_chunks() = ref;
  m.set_total_size(data.size());

  std::string got;
  ASSERT_TRUE(client_->FetchChunk(ref, &got, nullptr).ok());
  EXPECT_TRUE(got == data);

  const std::string path = ChunkPath(data_dir_, digest);
  raw_test::FlipByte(path, data.size() - 3);
  std::vector<BadCopy> bad;
  absl::Status s = client_->FetchChunk(ref, &got, &bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].kind, BadCopy::kCorrupt);
  ASSERT_EQ(Pull(m, 0, 0, &got).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(got.empty());
  raw_test::FlipByte(path, data.size() - 3);  // repaired
  ASSERT_TRUE(Pull(m, 0, 0, &got).ok());
  EXPECT_TRUE(got == data);

  std::ofstream(path, std::ios::app | std::ios::binary) << "extra";
  bad.clear();
  s = client_->FetchChunk(ref, &got, &bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].kind, BadCopy::kCorrupt);
  EXPECT_NE(bad[0].detail.find("expected"), std::string::npos) << bad[0].detail;
}

// A shard that answers GetChunk with canned wire messages, so the client
// meets what a buggy or hostile peer (or a plain protobuf server) sends.
class CannedShard final : public Blobstore::Service {
 public:
  CannedShard() {
    MarkMethodStreamed(
        1, new grpc::internal::SplitServerStreamingHandler<GetChunkRequest,
                                                           grpc::ByteBuffer>(
               [this](grpc::ServerContext*,
                      grpc::ServerSplitStreamer<GetChunkRequest,
                                                grpc::ByteBuffer>* stream) {
                 GetChunkRequest request;
                 if (!stream->Read(&request)) return grpc::Status::CANCELLED;
                 for (const std::string& wire : messages) {
                   grpc::Slice slice(wire);
                   if (!stream->Write(grpc::ByteBuffer(&slice, 1))) break;
                 }
                 return grpc::Status::OK;
               }));
  }
  std::vector<std::string> messages;  // Set before the server starts.
};

class RawReaderTest : public ::testing::Test {
 protected:
  // Serves `messages` and fetches a chunk of `data`'s size and digest.
  absl::Status Fetch(const std::vector<std::string>& messages,
                     const std::string& data, std::string* got,
                     std::vector<BadCopy>* bad) {
    CannedShard service;
    service.messages = messages;
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    EXPECT_GT(port, 0);
    ShardInfo info;
    info.id = "canned";
    BlobClient client(
        {{info, NewGrpcShardConnection(
                    "canned", grpc::CreateChannel(
                                  absl::StrCat("127.0.0.1:", port),
                                  grpc::InsecureChannelCredentials()))}},
        {});
    ChunkRef ref;
    ref.set_digest(Sha256Hex(data));
    ref.set_size(data.size());
    ref.add_shards("canned");
    absl::Status s = client.FetchChunk(ref, got, bad);
    server->Shutdown();
    return s;
  }

  // Protobuf's own encoding (data before chunk_size), in `pieces` messages.
  static std::vector<std::string> Protobuf(const std::string& data,
                                           int pieces) {
    std::vector<std::string> out;
    const size_t step = (data.size() + pieces - 1) / pieces;
    for (size_t pos = 0; pos < data.size(); pos += step) {
      GetChunkResponse r;
      r.set_data(data.substr(pos, step));
      if (pos == 0) r.set_chunk_size(data.size());
      out.push_back(r.SerializeAsString());
    }
    return out;
  }
};

TEST_F(RawReaderTest, ReadsPlainProtobufServers) {
  const std::string data = RandomBytes(300000, 12);
  std::string got;
  ASSERT_TRUE(Fetch(Protobuf(data, 3), data, &got, nullptr).ok());
  EXPECT_TRUE(got == data);
}

TEST_F(RawReaderTest, CorruptShortLongAndMalformedAnswers) {
  const std::string data = RandomBytes(300000, 13);
  std::string got;
  std::vector<BadCopy> bad;

  std::string flipped = data;
  flipped[299999] ^= 1;
  absl::Status s = Fetch(Protobuf(flipped, 3), data, &got, &bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].kind, BadCopy::kCorrupt);
  EXPECT_NE(bad[0].detail.find("hash to"), std::string::npos);

  // More bytes than the chunk has, in a later message.
  std::vector<std::string> longer = Protobuf(data, 3);
  GetChunkResponse extra;
  extra.set_data("x");
  longer.push_back(extra.SerializeAsString());
  bad.clear();
  s = Fetch(longer, data, &got, &bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].kind, BadCopy::kCorrupt);
  EXPECT_NE(bad[0].detail.find("longer than"), std::string::npos);

  // The stream ends early.
  std::vector<std::string> shorter = Protobuf(data, 3);
  shorter.pop_back();
  bad.clear();
  s = Fetch(shorter, data, &got, &bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(bad.at(0).detail.find("ended after"), std::string::npos);

  // Malformed wire bytes: the copy is unusable (not proven corrupt).
  std::vector<std::string> malformed = Protobuf(data, 3);
  malformed[1].resize(malformed[1].size() / 2);
  bad.clear();
  s = Fetch(malformed, data, &got, &bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].kind, BadCopy::kUnavailable);
  EXPECT_NE(bad[0].detail.find("malformed"), std::string::npos);

  // A domain error after some data.
  std::vector<std::string> failing = Protobuf(data, 3);
  GetChunkResponse error;
  error.mutable_error()->set_reason(berth::CHUNK_NOT_FOUND);
  error.mutable_error()->set_message("gone");
  failing[2] = error.SerializeAsString();
  bad.clear();
  s = Fetch(failing, data, &got, &bad);
  EXPECT_EQ(ReasonOf(s), berth::CHUNK_NOT_FOUND) << s;
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace berth::blob

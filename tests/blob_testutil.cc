#include "tests/blob_testutil.h"

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/grpcpp.h"
#include "proto/blobstore.grpc.pb.h"

namespace berth::testing {
namespace {

uint64_t SplitMix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

void FillPattern(uint64_t seed, uint64_t offset, char* dst, size_t n) {
  const uint64_t key = SplitMix(seed);
  size_t i = 0;
  // Unaligned head, whole 8-byte words, tail.
  while (i < n && (offset + i) % 8 != 0) {
    uint64_t w = SplitMix(key ^ ((offset + i) / 8));
    dst[i] = static_cast<char>(w >> (8 * ((offset + i) % 8)));
    ++i;
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t w = SplitMix(key ^ ((offset + i) / 8));
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) {
    uint64_t w = SplitMix(key ^ ((offset + i) / 8));
    dst[i] = static_cast<char>(w >> (8 * ((offset + i) % 8)));
  }
}

absl::Status WritePattern(blob::LayerWriter* writer, uint64_t seed,
                          uint64_t size, size_t piece) {
  std::string buf(piece, '\0');
  for (uint64_t pos = 0; pos < size; pos += piece) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(piece, size - pos));
    FillPattern(seed, pos, buf.data(), n);
    if (absl::Status s = writer->Write(absl::string_view(buf.data(), n));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPattern(const blob::BlobClient& client,
                          const blob::LayerManifest& m, uint64_t seed,
                          uint64_t offset, uint64_t length,
                          blob::ReadReport* report) {
  uint64_t pos = offset;
  std::string expect;
  absl::Status s = client.ReadLayer(
      m, offset, length,
      [&](absl::string_view piece) {
        expect.resize(piece.size());
        FillPattern(seed, pos, expect.data(), piece.size());
        if (std::memcmp(expect.data(), piece.data(), piece.size()) != 0) {
          return absl::DataLossError(
              absl::StrCat("bytes differ in [", pos, ", ", pos + piece.size(),
                           ")"));
        }
        pos += piece.size();
        return absl::OkStatus();
      },
      report);
  if (!s.ok()) return s;
  const uint64_t want = length == 0 ? m.total_size() - offset : length;
  if (pos - offset != want) {
    return absl::DataLossError(
        absl::StrCat("read ", pos - offset, " bytes, wanted ", want));
  }
  return absl::OkStatus();
}

int64_t ProcStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream fields(line.substr(field.size() + 1));
      int64_t kb = -1;
      fields >> kb;
      return kb;
    }
  }
  return -1;
}

bool BlobdAnswers(int port, absl::Duration deadline) {
  return WaitFor(
      [&] {
        // A fresh channel each time: a failed connect would otherwise put
        // a shared one into reconnect backoff (1 s, 1.6 s, ...).
        grpc::ChannelArguments args;
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        auto stub = blob::Blobstore::NewStub(grpc::CreateCustomChannel(
            absl::StrCat("127.0.0.1:", port),
            grpc::InsecureChannelCredentials(), args));
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(500));
        blob::CapacityRequest req;
        blob::CapacityResponse resp;
        return stub->Capacity(&ctx, req, &resp).ok();
      },
      deadline);
}

absl::StatusOr<std::unique_ptr<BlobdCluster>> BlobdCluster::Start(
    const std::vector<BlobdSpec>& specs) {
  auto cluster = std::make_unique<BlobdCluster>();
  cluster->root_ = MakeTempDir("blobd-cluster-");
  for (const BlobdSpec& spec : specs) {
    Member m;
    m.spec = spec;
    m.data = absl::StrCat(cluster->root_, "/", spec.id);
    m.port = FreePort();
    ProcessOptions o;
    o.name = spec.id;
    o.argv = {RunfilePath("tools/berth"), "blobd",
              "--listen", absl::StrCat("127.0.0.1:", m.port),
              "--data", m.data, "--shard-id", spec.id, "--log-level", "warn"};
    auto p = Process::Start(o);
    if (!p.ok()) return p.status();
    m.process = std::move(*p);
    cluster->shards_.push_back(std::move(m));
  }
  for (Member& m : cluster->shards_) {
    if (!BlobdAnswers(m.port, absl::Seconds(30))) {
      return absl::UnavailableError(
          absl::StrCat(m.spec.id, " did not answer: ", m.process->LogTail()));
    }
  }
  return cluster;
}

std::unique_ptr<blob::BlobClient> BlobdCluster::Client(
    blob::BlobClientOptions options,
    const std::vector<blob::ShardState>& states) const {
  std::vector<blob::Shard> shards;
  for (size_t i = 0; i < shards_.size(); ++i) {
    const Member& m = shards_[i];
    blob::ShardInfo info;
    info.id = m.spec.id;
    info.address = absl::StrCat("127.0.0.1:", m.port);
    info.zone = m.spec.zone;
    if (i < states.size()) info.state = states[i];
    shards.push_back(
        {info, blob::DialGrpcShard(info.id, info.address,
                                   grpc::InsecureChannelCredentials(),
                                   grpc::ChannelArguments())});
  }
  return std::make_unique<blob::BlobClient>(std::move(shards),
                                            std::move(options));
}

std::string BlobdCluster::Spec() const {
  std::vector<std::string> items;
  for (const Member& m : shards_) {
    items.push_back(
        absl::StrCat(m.spec.id, "=127.0.0.1:", m.port, "@", m.spec.zone));
  }
  return absl::StrJoin(items, ",");
}

void BlobdCluster::Kill(size_t i) { (void)shards_[i].process->Stop(SIGKILL); }

void BlobdCluster::RemoveData() {
  std::error_code ec;
  for (const Member& m : shards_) std::filesystem::remove_all(m.data, ec);
}

}  // namespace berth::testing

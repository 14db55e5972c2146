// Blobstore benchmark: upload and download MB/s of 64 MiB layers through
// the client library, R=1 and R=3, into blobd processes on loopback (gRPC)
// and into in-process shards (the embedded binding), next to this
// machine's SHA-256 MB/s per core and fdatasync'd sequential write MB/s
// measured in the same run. Prints the figures, then one JSON line.
//
//   blob_bench [--dir DIR] [--layers N] [--rounds N] [--only NAME,...]
//
// DIR (default: a new directory under /tmp) is removed at the end. Each
// row uploads its layers once, then downloads all of them --rounds times
// (default 5) and reports the median download pass (the machine is shared:
// single passes are noisy); every pass is listed too. --only limits the
// run to some of grpc_r1, grpc_r3, local_r1, local_r3.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "blobstore/blob_client.h"
#include "blobstore/chunk_store.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "tests/blob_testutil.h"

namespace berth {
namespace {

constexpr uint64_t kLayer = 64ull << 20;
constexpr uint64_t kChunk = 8ull << 20;

double Mbps(uint64_t bytes, absl::Duration d) {
  return bytes / 1e6 / absl::ToDoubleSeconds(d);
}

double ShaMbps() {
  std::string buf(kChunk, 'x');
  testing::FillPattern(1, 0, buf.data(), buf.size());
  const int rounds = 64;  // 512 MiB
  absl::Time start = absl::Now();
  for (int i = 0; i < rounds; ++i) Sha256Hex(buf);
  return Mbps(rounds * kChunk, absl::Now() - start);
}

double DiskMbps(const std::string& dir) {
  std::string buf(kChunk, '\0');
  testing::FillPattern(2, 0, buf.data(), buf.size());
  const std::string path = dir + "/disk-probe";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 0;
  const int rounds = 64;  // 512 MiB, fdatasync per 8 MiB chunk
  absl::Time start = absl::Now();
  for (int i = 0; i < rounds; ++i) {
    if (write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) ||
        fdatasync(fd) != 0) {
      close(fd);
      return 0;
    }
  }
  absl::Duration d = absl::Now() - start;
  close(fd);
  unlink(path.c_str());
  return Mbps(rounds * kChunk, d);
}

// CPU seconds (user + system) used so far by this process and `pids`.
double CpuSeconds(const std::vector<pid_t>& pids) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (pid_t pid : pids) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string stat((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
    double utime = 0, stime = 0;
    if (f.size() > 12 && absl::SimpleAtod(f[11], &utime) &&
        absl::SimpleAtod(f[12], &stime)) {
      cpu += (utime + stime) / tick;
    }
  }
  return cpu;
}

struct Result {
  std::string name;
  double up = 0, down = 0;  // down: the median pass
  std::vector<double> passes;
  // CPU seconds per GB downloaded, client and shard processes together,
  // over all passes: the cost per byte, which load on the machine does
  // not change much (unlike MB/s).
  double down_cpu_s_per_gb = 0;
  bool ok = true;
};

Result Run(const std::string& name, blob::BlobClient* client,
           const std::vector<std::string>& layers, int rounds,
           const std::vector<pid_t>& shard_pids = {}) {
  Result r;
  r.name = name;
  std::vector<blob::LayerManifest> manifests;
  absl::Time start = absl::Now();
  for (size_t i = 0; i < layers.size(); ++i) {
    auto w = client->NewLayerWriter(absl::StrCat(name, "-", i));
    for (size_t pos = 0; pos < layers[i].size(); pos += 1 << 20) {
      if (!w->Write(absl::string_view(layers[i]).substr(pos, 1 << 20)).ok()) {
        r.ok = false;
      }
    }
    auto m = w->Finish();
    if (!m.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(),
                   m.status().ToString().c_str());
      r.ok = false;
      return r;
    }
    manifests.push_back(*m);
  }
  r.up = Mbps(layers.size() * kLayer, absl::Now() - start);
  std::fprintf(stderr, "%s: uploaded, downloading %d passes\n", name.c_str(),
               rounds);
  const double cpu_start = CpuSeconds(shard_pids);
  uint64_t all = 0;
  for (int round = 0; round < rounds; ++round) {
    start = absl::Now();
    uint64_t got = 0;
    for (const auto& m : manifests) {
      absl::Status s = client->ReadLayer(m, 0, 0, [&](absl::string_view p) {
        got += p.size();
        return absl::OkStatus();
      });
      if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(), s.ToString().c_str());
        r.ok = false;
      }
    }
    r.passes.push_back(Mbps(got, absl::Now() - start));
    all += got;
    if (got != layers.size() * kLayer) r.ok = false;
  }
  if (all > 0) {
    r.down_cpu_s_per_gb = (CpuSeconds(shard_pids) - cpu_start) / (all / 1e9);
  }
  std::vector<double> sorted = r.passes;
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty()) r.down = sorted[sorted.size() / 2];
  return r;
}

int Main(int argc, char** argv) {
  std::string dir;
  int n_layers = 8;
  int rounds = 5;
  std::string only;
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (i + 1 >= argc) {
      flag = "";
    } else if (flag == "--dir") {
      dir = argv[i + 1];
      continue;
    } else if (flag == "--only") {
      only = argv[i + 1];
      continue;
    }
    if ((flag == "--layers" && absl::SimpleAtoi(argv[i + 1], &n_layers) &&
         n_layers > 0) ||
        (flag == "--rounds" && absl::SimpleAtoi(argv[i + 1], &rounds) &&
         rounds > 0)) {
      continue;
    }
    std::fprintf(stderr,
                 "usage: blob_bench [--dir DIR] [--layers N] [--rounds N] "
                 "[--only NAME,...]\n");
    return 2;
  }
  auto wanted = [&](absl::string_view name) {
    if (only.empty()) return true;
    for (absl::string_view n : absl::StrSplit(only, ',')) {
      if (n == name) return true;
    }
    return false;
  };
  (void)InitLogging("warn", "blob_bench");
  if (dir.empty()) dir = testing::MakeTempDir("blob-bench-");
  std::filesystem::create_directories(dir);

  const double sha = ShaMbps();
  const double disk = DiskMbps(dir);

  // Distinct layers (no chunk is shared, so nothing dedupes).
  std::vector<std::string> layers;
  for (int i = 0; i < n_layers; ++i) {
    layers.emplace_back(kLayer, '\0');
    testing::FillPattern(1000 + i, 0, layers.back().data(), kLayer);
  }
  auto fresh = [&](int base) {
    std::vector<std::string> copy = layers;
    for (size_t i = 0; i < copy.size(); ++i) {
      for (uint64_t pos = 0; pos < kLayer; pos += kChunk) {
        copy[i][pos] = static_cast<char>(base);  // a new digest per chunk
      }
    }
    return copy;
  };

  std::vector<Result> results;
  blob::BlobClientOptions o;
  o.chunk_size = kChunk;
  o.rpc_timeout = absl::Seconds(120);
  if (wanted("grpc_r1") || wanted("grpc_r3")) {
    auto cluster = testing::BlobdCluster::Start(
        {{"blobd-1", "zone-a"}, {"blobd-2", "zone-b"}, {"blobd-3", "zone-c"}});
    if (!cluster.ok()) {
      std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
      return 1;
    }
    std::vector<pid_t> shard_pids;
    for (size_t i = 0; i < (*cluster)->size(); ++i) {
      shard_pids.push_back((*cluster)->process(i)->pid());
    }
    o.replicas = 1;
    o.write_quorum = 1;
    using S = blob::ShardState;
    if (wanted("grpc_r1")) {
      auto r1 = (*cluster)->Client(o, {S::kActive, S::kDown, S::kDown});
      results.push_back(
          Run("grpc_r1", r1.get(), fresh(1), rounds, shard_pids));
    }
    o.replicas = 3;
    o.write_quorum = 2;
    if (wanted("grpc_r3")) {
      auto r3 = (*cluster)->Client(o);
      results.push_back(
          Run("grpc_r3", r3.get(), fresh(2), rounds, shard_pids));
    }
    (*cluster)->RemoveData();
  }
  {
    std::vector<std::unique_ptr<blob::ChunkStore>> stores;
    std::vector<blob::Shard> shards;
    for (int i = 0; i < 3; ++i) {
      auto store = blob::ChunkStore::Open(absl::StrCat(dir, "/local-", i));
      if (!store.ok()) return 1;
      stores.push_back(std::move(*store));
      blob::ShardInfo info;
      info.id = absl::StrCat("local-", i);
      info.zone = info.id;
      shards.push_back(
          {info, blob::NewLocalShardConnection(info.id, stores.back().get())});
    }
    o.replicas = 1;
    o.write_quorum = 1;
    if (wanted("local_r1")) {
      blob::BlobClient c1({shards[0]}, o);
      results.push_back(Run("local_r1", &c1, fresh(3), rounds));
    }
    o.replicas = 3;
    o.write_quorum = 2;
    if (wanted("local_r3")) {
      blob::BlobClient c3(shards, o);
      results.push_back(Run("local_r3", &c3, fresh(4), rounds));
    }
  }
  std::filesystem::remove_all(dir);

  std::printf("blobstore benchmark: %d layers of 64 MiB, 8 MiB chunks, "
              "download = median of %d passes\n",
              n_layers, rounds);
  std::printf("  SHA-256 (OpenSSL EVP), 1 core      %8.0f MB/s\n", sha);
  std::printf("  sequential write + fdatasync/8 MiB %8.0f MB/s\n", disk);
  std::vector<std::string> json = {
      absl::StrCat("\"sha256_mb_s_per_core\":", static_cast<int>(sha)),
      absl::StrCat("\"fdatasync_write_mb_s\":", static_cast<int>(disk))};
  bool ok = true;
  for (const Result& r : results) {
    std::printf("  %-9s upload %6.0f MB/s (%3.0f%% of disk)  download %6.0f "
                "MB/s%s\n",
                r.name.c_str(), r.up, 100 * r.up / disk, r.down,
                r.ok ? "" : "  FAILED");
    std::vector<std::string> passes;
    for (double p : r.passes) passes.push_back(absl::StrCat(static_cast<int>(p)));
    std::printf("            download passes: %s MB/s; %.2f CPU s/GB\n",
                absl::StrJoin(passes, " ").c_str(), r.down_cpu_s_per_gb);
    json.push_back(absl::StrCat("\"", r.name, "_upload_mb_s\":",
                                static_cast<int>(r.up), ",\"", r.name,
                                "_download_mb_s\":", static_cast<int>(r.down),
                                ",\"", r.name, "_download_cpu_s_per_gb\":",
                                absl::SixDigits(r.down_cpu_s_per_gb)));
    ok = ok && r.ok;
  }
  std::printf("{%s}\n", absl::StrJoin(json, ",").c_str());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) { return berth::Main(argc, argv); }

// blob_load: uploads one generated layer through the client library, for
// memory measurements from outside the process.
//
//   blob_load --blobd SPEC --size BYTES [--replicas R] [--write-quorum W]
//             [--chunk-size BYTES] [--seed N] [--window BYTES]
//             [--io-threads N]
//
// Prints "READY" once connected and idle, then waits for SIGUSR1; uploads
// (data generated on the fly, never held whole); prints
// "RESULT {json}"; waits for SIGUSR1 again (so VmHWM can be read from the
// live process) and exits 0 (1 if the upload failed).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "blobstore/blob_client.h"
#include "common/logging.h"
#include "grpcpp/grpcpp.h"
#include "tests/blob_testutil.h"

namespace {

void WaitForUsr1(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
}

}  // namespace

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // Before any thread starts.

  std::string spec;
  uint64_t size = 0, seed = 1;
  berth::blob::BlobClientOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    uint64_t n = 0;
    bool numeric = absl::SimpleAtoi(value, &n);
    if (flag == "--blobd") {
      spec = value;
    } else if (flag == "--size" && numeric) {
      size = n;
    } else if (flag == "--replicas" && numeric) {
      options.replicas = static_cast<int>(n);
    } else if (flag == "--write-quorum" && numeric) {
      options.write_quorum = static_cast<int>(n);
    } else if (flag == "--chunk-size" && numeric) {
      options.chunk_size = n;
    } else if (flag == "--window" && numeric) {
      options.upload_window_bytes = n;
    } else if (flag == "--io-threads" && numeric) {
      options.io_threads = static_cast<int>(n);
    } else if (flag == "--seed" && numeric) {
      seed = n;
    } else {
      std::fprintf(stderr, "blob_load: bad flag %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
  (void)berth::InitLogging("warn", "blob_load");
  auto map = berth::blob::ParseShardMap(spec);
  if (!map.ok()) {
    std::fprintf(stderr, "blob_load: %s\n", map.status().ToString().c_str());
    return 2;
  }
  std::vector<berth::blob::Shard> shards;
  for (const auto& info : *map) {
    auto channel = grpc::CreateChannel(info.address,
                                       grpc::InsecureChannelCredentials());
    shards.push_back(
        {info, berth::blob::NewGrpcShardConnection(info.id, channel)});
  }
  berth::blob::BlobClient client(std::move(shards), options);
  for (const auto& s : client.shards()) {  // Connect every channel now.
    auto c = s.conn->Capacity(client.Deadline());
    if (!c.ok()) {
      std::fprintf(stderr, "blob_load: %s\n", c.status().ToString().c_str());
      return 1;
    }
  }
  std::printf("READY\n");
  std::fflush(stdout);
  WaitForUsr1(set);

  absl::Time start = absl::Now();
  auto writer = client.NewLayerWriter("blob-load");
  absl::Status s = berth::testing::WritePattern(writer.get(), seed, size,
                                                1 << 20);
  absl::StatusOr<berth::blob::LayerManifest> m =
      s.ok() ? writer->Finish() : absl::StatusOr<berth::blob::LayerManifest>(s);
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  if (m.ok()) {
    std::printf("RESULT {\"ok\":true,\"bytes\":%llu,\"chunks\":%d,"
                "\"seconds\":%.3f,\"mb_per_s\":%.1f}\n",
                static_cast<unsigned long long>(m->total_size()),
                m->chunks_size(), secs, size / 1e6 / secs);
  } else {
    std::printf("RESULT {\"ok\":false,\"error\":\"%s\"}\n",
                std::string(m.status().message()).c_str());
  }
  std::fflush(stdout);
  WaitForUsr1(set);
  return m.ok() ? 0 : 1;
}

// Helpers for the blobstore integration tests: real `berth blobd`
// processes, deterministic random-access test data, /proc memory figures.
// Driven by the test's main thread only.
#ifndef BERTH_TESTS_BLOB_TESTUTIL_H_
#define BERTH_TESTS_BLOB_TESTUTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "blobstore/blob_client.h"
#include "tests/harness/process.h"

namespace berth::testing {

// Byte i of stream `seed` is a pure function of (seed, i): data of any
// size can be generated, and any range re-generated, on the fly.
void FillPattern(uint64_t seed, uint64_t offset, char* dst, size_t n);

// Feeds `size` pattern bytes to `writer` in pieces of `piece` bytes.
absl::Status WritePattern(blob::LayerWriter* writer, uint64_t seed,
                          uint64_t size, size_t piece = 256 << 10);

// Reads [offset, offset+length) and compares it with the pattern as it
// streams; returns the first difference or read error.
absl::Status CheckPattern(const blob::BlobClient& client,
                          const blob::LayerManifest& m, uint64_t seed,
                          uint64_t offset, uint64_t length,
                          blob::ReadReport* report = nullptr);

// A kB figure ("VmRSS", "VmHWM") from /proc/<pid>/status; -1 if absent.
int64_t ProcStatusKb(pid_t pid, const std::string& field);

struct BlobdSpec {
  std::string id;
  std::string zone;
};

// Real blobd processes on loopback, each with its own data directory.
class BlobdCluster {
 public:
  // Starts one blobd per spec and waits (up to 30 s) until each answers.
  static absl::StatusOr<std::unique_ptr<BlobdCluster>> Start(
      const std::vector<BlobdSpec>& specs);

  // A client over every shard (states from `states` if given, by index).
  std::unique_ptr<blob::BlobClient> Client(
      blob::BlobClientOptions options,
      const std::vector<blob::ShardState>& states = {}) const;

  // The --blobd flag value: id=127.0.0.1:port@zone,...
  std::string Spec() const;

  size_t size() const { return shards_.size(); }
  const std::string& id(size_t i) const { return shards_[i].spec.id; }
  const std::string& data_dir(size_t i) const { return shards_[i].data; }
  int port(size_t i) const { return shards_[i].port; }
  Process* process(size_t i) { return shards_[i].process.get(); }
  // SIGKILLs shard i and waits for it to die.
  void Kill(size_t i);
  // Removes every data directory (call at the end of big tests).
  void RemoveData();

 private:
  struct Member {
    BlobdSpec spec;
    std::string data;
    int port = 0;
    std::unique_ptr<Process> process;
  };
  std::string root_;
  std::vector<Member> shards_;
};

// Waits until a blobd on `port` answers a Capacity call.
bool BlobdAnswers(int port, absl::Duration deadline);

}  // namespace berth::testing

#endif  // BERTH_TESTS_BLOB_TESTUTIL_H_

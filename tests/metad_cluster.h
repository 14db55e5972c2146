// Test fixture helpers: a real etcd cluster plus real `berth metad`
// processes on loopback, and a write workload. Driven by the test thread.
#ifndef BERTH_TESTS_METAD_CLUSTER_H_
#define BERTH_TESTS_METAD_CLUSTER_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "metadata/metadata_client.h"
#include "tests/harness/etcd_cluster.h"
#include "tests/harness/process.h"

namespace berth::testing {

class MetadCluster {
 public:
  // Starts `etcd_members` etcd members (each given `etcd_flags`) and
  // `metads` metad processes, each given `metad_flags`, and waits until
  // every metad serves.
  static absl::StatusOr<std::unique_ptr<MetadCluster>> Start(
      int etcd_members, int metads, std::vector<std::string> metad_flags = {},
      std::vector<std::string> etcd_flags = {});
  // Stops the metads, then removes their data dirs and logs (benchmarks
  // run outside Bazel's TEST_TMPDIR and would leave them in /tmp).
  ~MetadCluster();

  EtcdCluster& etcd() { return *etcd_; }
  int size() const { return static_cast<int>(metads_.size()); }
  std::string address(int i) const;
  std::string addresses() const;  // all, comma-separated
  const std::string& data_dir(int i) const { return metads_[i].dir; }
  std::string log_path(int i) const { return metads_[i].dir + ".log"; }
  // A client of every replica / of replica i only.
  meta::MetadataClient& all() { return *all_; }
  meta::MetadataClient& one(int i) { return *one_[i]; }

  // (Re)starts metad i (extra flags appended) and waits until it serves.
  absl::Status StartMetad(int i, std::vector<std::string> extra = {});
  absl::Status KillMetad(int i);  // SIGKILL, waits for the exit
  // Adds a replica (new port and data dir); returns its index.
  absl::StatusOr<int> AddMetad(std::vector<std::string> extra = {});
  // Waits until every running replica applied the log's last position and
  // all digests are equal; returns the common digest.
  absl::StatusOr<std::string> WaitConverged(absl::Duration timeout,
                                            std::vector<int> replicas = {});

 private:
  struct Metad {
    int port = 0;
    std::string dir;
    std::vector<std::string> extra;
    std::unique_ptr<Process> process;
  };
  MetadCluster() = default;
  void RebuildClients();

  std::unique_ptr<EtcdCluster> etcd_;
  std::vector<std::string> flags_;
  std::vector<Metad> metads_;
  std::unique_ptr<meta::MetadataClient> all_;
  std::vector<std::unique_ptr<meta::MetadataClient>> one_;
};

// Writers that push PutImageJson commands (unique ids, `json_bytes` of
// json) through a client until stopped, recording every acknowledged id.
class WriteLoad {
 public:
  WriteLoad(meta::MetadataClient* client, int writers, size_t json_bytes,
            const std::string& prefix);
  ~WriteLoad();  // stops
  void Stop();
  std::vector<std::string> acked();
  uint64_t failures() const { return failures_.load(); }

 private:
  void Run(int w);
  meta::MetadataClient* const client_;
  const size_t json_bytes_;
  const std::string prefix_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> failures_{0};
  std::mutex mu_;
  std::vector<std::string> acked_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

// A 64-hex image id made of `prefix` and `n`.
std::string ImageId(const std::string& prefix, uint64_t n);
// PutImageJson of `id` with `json_bytes` bytes of json.
meta::Command PutJsonCommand(const std::string& id, size_t json_bytes);

}  // namespace berth::testing

#endif  // BERTH_TESTS_METAD_CLUSTER_H_

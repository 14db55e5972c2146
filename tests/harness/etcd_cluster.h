// A real etcd cluster (Debian's /usr/bin/etcd) on loopback for tests.
//
// Each member gets free client and peer ports and a data dir under a fresh
// temp dir; Start returns once every member answers GET /health with
// {"health":"true"} (it has a leader and no alarm). Members' logs go to
// <dir>/<name>.log and are printed if the test fails (see Process).
#ifndef BERTH_TESTS_HARNESS_ETCD_CLUSTER_H_
#define BERTH_TESTS_HARNESS_ETCD_CLUSTER_H_

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/harness/process.h"

namespace berth::testing {

struct EtcdClusterOptions {
  int members = 3;  // 1, 3 or 5
  // Parent of the members' data dirs and logs; default: a new temp dir.
  std::string dir;
  // Default: $BERTH_ETCD_BIN, else /usr/bin/etcd.
  std::string etcd_binary;
  // Appended to every member's flags, e.g. "--quota-backend-bytes=...".
  std::vector<std::string> extra_flags;
  absl::Duration start_timeout = absl::Seconds(60);
};

class EtcdCluster {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(
      EtcdClusterOptions options = {});
  ~EtcdCluster();  // SIGKILLs every member

  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  // Client endpoints "127.0.0.1:port", in member order (for gRPC).
  std::vector<std::string> endpoints() const;
  std::string endpoint(int i) const;
  int client_port(int i) const { return members_[i].client_port; }
  std::string client_url(int i) const;  // http://127.0.0.1:port
  std::string name(int i) const { return members_[i].name; }
  const std::string& dir() const { return options_.dir; }

  // Whether member i's process is running.
  bool Running(int i);
  // GET /health on member i answers {"health":"true"}.
  bool Healthy(int i);
  absl::Status WaitHealthy(int i, absl::Duration timeout);

  // Sends `signal` to member i and waits until it has exited.
  absl::Status Kill(int i, int signal = SIGKILL);
  // Starts member i again (same name, ports and data dir; killed first if
  // running). With wait_healthy it returns once the member is healthy,
  // which needs a quorum of running members.
  absl::Status Restart(int i, bool wait_healthy = true);

  Process* process(int i) { return members_[i].process.get(); }

 private:
  struct Member {
    std::string name;
    std::string data_dir;
    std::string log_path;
    int client_port = 0;
    int peer_port = 0;
    std::unique_ptr<Process> process;
  };

  explicit EtcdCluster(EtcdClusterOptions options)
      : options_(std::move(options)) {}
  absl::Status StartMember(int i);

  EtcdClusterOptions options_;
  std::string token_;
  bool owns_dir_ = false;  // options_.dir was made by Start
  std::string initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_HARNESS_ETCD_CLUSTER_H_

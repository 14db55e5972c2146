// Drives tools/berth-cluster from a test: `up` into a fresh directory,
// the state it records (DIR/cluster.json: pid, argv, url, log per
// process), SIGKILL and restart of one member, and `down` at the end.
//
// Not thread-safe: one test thread owns a LauncherCluster. The cluster's
// processes run in their own sessions (not children of the test); Down()
// (also run by the destructor) stops them.
#ifndef BERTH_TESTS_CLUSTER_LAUNCHER_H_
#define BERTH_TESTS_CLUSTER_LAUNCHER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::testing {

// The launcher script: $BERTH_CLUSTER or the runfile tools/berth-cluster.
std::string BerthClusterScript();

class LauncherCluster {
 public:
  // Runs `berth-cluster up --dir <dir>/cluster --base-port <free range>
  // --berth <berth binary> <extra_args...>` and loads its state.
  static absl::StatusOr<std::unique_ptr<LauncherCluster>> Up(
      const std::vector<std::string>& extra_args);
  ~LauncherCluster();

  // `berth-cluster down`. Idempotent.
  absl::Status Down();
  // `berth-cluster up` again on the same directory (after Down): the
  // launcher restarts every process on its recorded data.
  absl::Status UpAgain();
  // SIGKILL of one member (by the pid in cluster.json).
  absl::Status Kill(const std::string& name);
  // `berth-cluster restart NAME`: starts it again with its recorded argv
  // and waits until it answers; reloads the state.
  absl::Status Restart(const std::string& name);
  absl::Status Reload();

  const nlohmann::json& state() const { return state_; }
  bool Has(const std::string& name) const { return state_.contains(name); }
  std::string Url(const std::string& name) const;
  // "host:port" of a gRPC member (metad-K, blobd-K).
  std::string Address(const std::string& name) const;
  int Pid(const std::string& name) const;
  // Every metad's address, comma-separated (berthctl --endpoint).
  std::string MetadEndpoints() const;
  // The value of `flag` in the recorded argv of `name` ("" if absent).
  std::string ArgOf(const std::string& name, const std::string& flag) const;
  std::string dir() const { return cluster_dir_; }
  int base_port() const { return base_port_; }
  // The last 3000 bytes of every member's log, for failure messages.
  std::string LogTails() const;

 private:
  LauncherCluster() = default;
  absl::Status RunScript(const std::vector<std::string>& args,
                         const std::string& log_name, int timeout_s);

  std::string work_dir_;
  std::string cluster_dir_;
  int base_port_ = 0;
  std::vector<std::string> up_args_;
  nlohmann::json state_;
  bool down_ = false;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_CLUSTER_LAUNCHER_H_

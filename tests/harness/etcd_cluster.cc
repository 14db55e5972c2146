#include "tests/harness/etcd_cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/harness/http.h"

namespace berth::testing {

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(
    EtcdClusterOptions options) {
  static std::atomic<int> counter{0};
  if (options.members < 1) {
    return absl::InvalidArgumentError("EtcdCluster: members must be >= 1");
  }
  if (options.etcd_binary.empty()) {
    const char* env = getenv("BERTH_ETCD_BIN");
    options.etcd_binary =
        env != nullptr && *env != '\0' ? env : "/usr/bin/etcd";
  }
  if (access(options.etcd_binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "etcd binary not found or not executable: ", options.etcd_binary,
        " (install etcd-server)"));
  }
  const bool owns_dir = options.dir.empty();
  if (owns_dir) options.dir = MakeTempDir("etcd-");

  std::unique_ptr<EtcdCluster> cluster(new EtcdCluster(std::move(options)));
  cluster->owns_dir_ = owns_dir;
  cluster->token_ =
      absl::StrCat("berth-test-", getpid(), "-", counter.fetch_add(1), "-",
                   absl::ToUnixNanos(absl::Now()));
  std::vector<std::string> peers;
  for (int i = 0; i < cluster->options_.members; ++i) {
    Member m;
    m.name = absl::StrCat("etcd", i);
    m.data_dir = absl::StrCat(cluster->options_.dir, "/", m.name, ".data");
    m.log_path = absl::StrCat(cluster->options_.dir, "/", m.name, ".log");
    m.client_port = FreePort();
    m.peer_port = FreePort();
    peers.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
    cluster->members_.push_back(std::move(m));
  }
  cluster->initial_cluster_ = absl::StrJoin(peers, ",");
  // All members first: none is healthy before a quorum runs.
  for (int i = 0; i < cluster->size(); ++i) {
    absl::Status s = cluster->StartMember(i);
    if (!s.ok()) return s;
  }
  const absl::Time deadline = absl::Now() + cluster->options_.start_timeout;
  for (int i = 0; i < cluster->size(); ++i) {
    absl::Status s = cluster->WaitHealthy(i, deadline - absl::Now());
    if (!s.ok()) return s;
  }
  return cluster;
}

EtcdCluster::~EtcdCluster() {
  // Kill all first (fast), then let each Process reap and maybe dump.
  for (Member& m : members_) {
    if (m.process != nullptr) (void)m.process->Kill(SIGKILL);
  }
  members_.clear();
  // A directory we made (hundreds of MiB of WAL) goes with the cluster;
  // benchmarks run outside Bazel's per-test temp dir.
  if (owns_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(options_.dir, ec);
  }
}

absl::Status EtcdCluster::StartMember(int i) {
  Member& m = members_[i];
  std::string client = absl::StrCat("http://127.0.0.1:", m.client_port);
  std::string peer = absl::StrCat("http://127.0.0.1:", m.peer_port);
  ProcessOptions po;
  po.name = m.name;
  po.log_path = m.log_path;
  po.argv = {options_.etcd_binary,
             "--name=" + m.name,
             "--data-dir=" + m.data_dir,
             "--listen-client-urls=" + client,
             "--advertise-client-urls=" + client,
             "--listen-peer-urls=" + peer,
             "--initial-advertise-peer-urls=" + peer,
             "--initial-cluster=" + initial_cluster_,
             "--initial-cluster-state=new",
             "--initial-cluster-token=" + token_,
             "--logger=zap",
             "--log-outputs=stderr"};
  for (const std::string& f : options_.extra_flags) po.argv.push_back(f);
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Start(std::move(po));
  if (!p.ok()) return p.status();
  m.process = *std::move(p);
  return absl::OkStatus();
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(endpoint(i));
  return out;
}

std::string EtcdCluster::endpoint(int i) const {
  return absl::StrCat("127.0.0.1:", members_[i].client_port);
}

std::string EtcdCluster::client_url(int i) const {
  return absl::StrCat("http://127.0.0.1:", members_[i].client_port);
}

bool EtcdCluster::Running(int i) {
  return members_[i].process != nullptr && members_[i].process->Alive();
}

bool EtcdCluster::Healthy(int i) {
  absl::StatusOr<HttpResponse> r = HttpGet("127.0.0.1", members_[i].client_port,
                                           "/health", absl::Seconds(2));
  return r.ok() && r->status == 200 &&
         absl::StrContains(r->body, "\"health\":\"true\"");
}

absl::Status EtcdCluster::WaitHealthy(int i, absl::Duration timeout) {
  bool exited = false;
  bool ok = WaitFor(
      [&] {
        if (!Running(i)) {
          exited = true;
          return true;
        }
        return Healthy(i);
      },
      timeout, absl::Milliseconds(100));
  if (exited) {
    return absl::InternalError(
        absl::StrCat(members_[i].name, " exited while starting (status ",
                     members_[i].process->exit_status().value_or(-1),
                     "); log tail:\n", members_[i].process->LogTail(30)));
  }
  if (!ok) {
    return absl::DeadlineExceededError(absl::StrCat(
        members_[i].name, " not healthy after ", absl::FormatDuration(timeout),
        "; log tail:\n", members_[i].process->LogTail(30)));
  }
  return absl::OkStatus();
}

absl::Status EtcdCluster::Kill(int i, int signal) {
  Process* p = members_[i].process.get();
  if (p == nullptr) return absl::OkStatus();
  absl::StatusOr<int> st = p->Stop(signal, absl::Seconds(30));
  return st.ok() ? absl::OkStatus() : st.status();
}

absl::Status EtcdCluster::Restart(int i, bool wait_healthy) {
  if (Running(i)) {
    absl::Status s = Kill(i, SIGKILL);
    if (!s.ok()) return s;
  }
  // The old Process is reaped; its log file is appended to.
  members_[i].process.reset();
  absl::Status s = StartMember(i);
  if (!s.ok() || !wait_healthy) return s;
  return WaitHealthy(i, options_.start_timeout);
}

}  // namespace berth::testing

#include "tests/cluster_launcher.h"

#include <signal.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "tests/conformance_util.h"
#include "tests/harness/process.h"

namespace berth::testing {

std::string BerthClusterScript() {
  const char* env = std::getenv("BERTH_CLUSTER");
  return env != nullptr && *env != '\0' ? env
                                        : RunfilePath("tools/berth-cluster");
}

absl::StatusOr<std::unique_ptr<LauncherCluster>> LauncherCluster::Up(
    const std::vector<std::string>& extra_args) {
  std::unique_ptr<LauncherCluster> c(new LauncherCluster());
  c->work_dir_ = MakeTempDir("launcher-");
  c->cluster_dir_ = c->work_dir_ + "/cluster";
  c->base_port_ = PickBasePort();
  if (c->base_port_ <= 0) return absl::InternalError("no free port range");
  c->up_args_ = {"up", "--dir", c->cluster_dir_, "--base-port",
                 std::to_string(c->base_port_), "--berth", BerthBinary()};
  c->up_args_.insert(c->up_args_.end(), extra_args.begin(), extra_args.end());
  absl::Status st = c->RunScript(c->up_args_, "up", 180);
  if (!st.ok()) {
    std::string tails = c->LogTails();
    c->Down().IgnoreError();
    return absl::Status(st.code(), absl::StrCat(st.message(), "\n", tails));
  }
  return c;
}

LauncherCluster::~LauncherCluster() { Down().IgnoreError(); }

absl::Status LauncherCluster::RunScript(const std::vector<std::string>& args,
                                        const std::string& log_name,
                                        int timeout_s) {
  ProcessOptions o;
  o.name = "berth-cluster-" + log_name;
  o.argv = {BerthClusterScript()};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.log_path = work_dir_ + "/" + log_name + ".log";
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Start(o);
  if (!p.ok()) return p.status();
  absl::StatusOr<int> code = (*p)->Wait(absl::Seconds(timeout_s));
  if (!code.ok()) return code.status();
  if (*code != 0) {
    return absl::InternalError(absl::StrCat("berth-cluster ",
                                            absl::StrJoin(args, " "),
                                            " exited ", *code, ":\n",
                                            (*p)->LogTail()));
  }
  return Reload();
}

absl::Status LauncherCluster::Reload() {
  std::string text = ReadFileOrEmpty(cluster_dir_ + "/cluster.json");
  if (text.empty()) {
    state_ = nlohmann::json::object();
    return absl::OkStatus();
  }
  state_ = nlohmann::json::parse(text, nullptr, false);
  if (!state_.is_object()) return absl::InternalError("bad cluster.json");
  return absl::OkStatus();
}

absl::Status LauncherCluster::Down() {
  if (down_) return absl::OkStatus();
  if (ReadFileOrEmpty(cluster_dir_ + "/cluster.json").empty()) {
    down_ = true;
    return absl::OkStatus();
  }
  absl::Status st = RunScript({"down", "--dir", cluster_dir_}, "down", 60);
  if (st.ok()) down_ = true;
  return st;
}

absl::Status LauncherCluster::UpAgain() {
  down_ = false;
  return RunScript(up_args_, "up-again", 180);
}

absl::Status LauncherCluster::Kill(const std::string& name) {
  int pid = Pid(name);
  if (pid <= 0) return absl::NotFoundError(name);
  if (::kill(pid, SIGKILL) != 0) {
    return absl::InternalError(absl::StrCat("kill ", name, " failed"));
  }
  if (!WaitFor([pid] { return !PidAlive(pid); }, absl::Seconds(10))) {
    return absl::DeadlineExceededError(absl::StrCat(name, " did not die"));
  }
  return absl::OkStatus();
}

absl::Status LauncherCluster::Restart(const std::string& name) {
  return RunScript({"restart", "--dir", cluster_dir_, name},
                   "restart-" + name, 120);
}

std::string LauncherCluster::Url(const std::string& name) const {
  if (!state_.contains(name)) return "";
  return state_[name].value("url", "");
}

std::string LauncherCluster::Address(const std::string& name) const {
  std::string url = Url(name);
  size_t p = url.find("://");
  return p == std::string::npos ? url : url.substr(p + 3);
}

int LauncherCluster::Pid(const std::string& name) const {
  if (!state_.contains(name)) return -1;
  return state_[name].value("pid", -1);
}

std::string LauncherCluster::MetadEndpoints() const {
  std::vector<std::string> out;
  for (int k = 1; Has("metad-" + std::to_string(k)); ++k) {
    out.push_back(Address("metad-" + std::to_string(k)));
  }
  return absl::StrJoin(out, ",");
}

std::string LauncherCluster::ArgOf(const std::string& name,
                                   const std::string& flag) const {
  if (!state_.contains(name)) return "";
  const nlohmann::json& argv = state_[name]["argv"];
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag) return argv[i + 1].get<std::string>();
  }
  return "";
}

std::string LauncherCluster::LogTails() const {
  std::string out;
  if (!state_.is_object()) return out;
  for (const auto& [name, info] : state_.items()) {
    std::string text = ReadFileOrEmpty(info.value("log", ""));
    if (text.size() > 3000) text = text.substr(text.size() - 3000);
    absl::StrAppend(&out, "==== ", name, " ====\n", text, "\n");
  }
  return out;
}

}  // namespace berth::testing

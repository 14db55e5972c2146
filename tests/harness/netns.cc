#include "tests/harness/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/harness/process.h"

namespace berth::testing {
namespace {

// "<prefix><pid>-<rest>" -> pid; 0 if `name` does not have that form.
pid_t PidOf(absl::string_view name, absl::string_view prefix) {
  if (!absl::ConsumePrefix(&name, prefix)) return 0;
  size_t dash = name.find('-');
  if (dash == absl::string_view::npos) return 0;
  int pid = 0;
  if (!absl::SimpleAtoi(name.substr(0, dash), &pid) || pid <= 0) return 0;
  return pid;
}

bool StaleOwner(pid_t pid) { return pid > 0 && pid != getpid() && !PidAlive(pid); }

}  // namespace

std::string IpBinary() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("RunCommand: no argv");
  // Everything the child needs is prepared before fork (only async-signal-
  // safe calls after it: this process has other threads).
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string output;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n > 0) {
      output.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(
        "`", absl::StrJoin(argv, " "), "` failed (status ", status, "): ",
        output));
  }
  return output;
}

absl::Status NetnsSupported() {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError("network namespaces need root");
  }
  const std::string ip = IpBinary();
  if (ip.empty()) {
    return absl::FailedPreconditionError("iproute2's `ip` is not installed");
  }
  absl::StatusOr<std::string> list = RunCommand({ip, "netns", "list"});
  return list.ok() ? absl::OkStatus() : list.status();
}

int RemoveStaleNetns(const std::string& prefix) {
  const std::string ip = IpBinary();
  if (ip.empty()) return 0;
  // Outer veths first: deleting one removes its pair at once, while a
  // namespace's own devices go away asynchronously after `netns del`.
  if (absl::StatusOr<std::string> links = RunCommand({ip, "-o", "link", "show"});
      links.ok()) {
    for (absl::string_view line : absl::StrSplit(*links, '\n')) {
      // "7: bz123-a@if6: <...> ..."
      std::vector<absl::string_view> parts = absl::StrSplit(line, ": ");
      if (parts.size() < 2) continue;
      absl::string_view ifname = parts[1].substr(0, parts[1].find('@'));
      if (StaleOwner(PidOf(ifname, "bz"))) {
        (void)RunCommand({ip, "link", "del", std::string(ifname)});
      }
    }
  }
  int removed = 0;
  absl::StatusOr<std::string> list = RunCommand({ip, "netns", "list"});
  if (!list.ok()) return 0;
  for (absl::string_view line : absl::StrSplit(*list, '\n', absl::SkipEmpty())) {
    // "berth-123-a (id: 4)" or "berth-123-a"
    absl::string_view name = line.substr(0, line.find(' '));
    if (StaleOwner(PidOf(name, prefix)) &&
        RunCommand({ip, "netns", "del", std::string(name)}).ok()) {
      ++removed;
    }
  }
  return removed;
}

absl::StatusOr<std::unique_ptr<Netns>> Netns::Create(NetnsOptions options) {
  if (options.suffix.empty() || options.suffix.size() > 4) {
    return absl::InvalidArgumentError("Netns: suffix must have 1-4 characters");
  }
  const std::string ip = IpBinary();
  if (ip.empty()) return absl::FailedPreconditionError("no `ip` binary");
  std::unique_ptr<Netns> ns(new Netns(std::move(options)));
  const NetnsOptions& o = ns->options_;
  ns->name_ = absl::StrCat(o.prefix, getpid(), "-", o.suffix);
  ns->outer_if_ = absl::StrCat("bz", getpid(), "-", o.suffix);
  const std::string inner_if = absl::StrCat("bz", getpid(), "i", o.suffix);
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), ip);
    return RunCommand(args).status();
  };
  absl::Status st = run({"netns", "add", ns->name_});
  if (!st.ok()) return st;
  ns->created_ns_ = true;
  st = run({"link", "add", ns->outer_if_, "type", "veth", "peer", "name",
            inner_if});
  if (!st.ok()) return st;
  ns->created_link_ = true;
  for (std::vector<std::string> step : std::vector<std::vector<std::string>>{
           {"link", "set", inner_if, "netns", ns->name_},
           {"addr", "add", o.outer_ip + "/24", "dev", ns->outer_if_},
           {"link", "set", ns->outer_if_, "up"},
           {"-n", ns->name_, "link", "set", "lo", "up"},
           {"-n", ns->name_, "addr", "add", o.inner_ip + "/24", "dev", inner_if},
           {"-n", ns->name_, "link", "set", inner_if, "up"},
           {"-n", ns->name_, "route", "add", "default", "via", o.outer_ip},
       }) {
    st = run(std::move(step));
    if (!st.ok()) return st;  // the destructor removes what exists
  }
  return ns;
}

Netns::~Netns() { Teardown(); }

void Netns::Teardown() {
  const std::string ip = IpBinary();
  if (created_link_) (void)RunCommand({ip, "link", "del", outer_if_});
  if (created_ns_) (void)RunCommand({ip, "netns", "del", name_});
  created_link_ = created_ns_ = false;
}

absl::Status Netns::SetLinkUp(bool up) {
  return RunCommand({IpBinary(), "link", "set", outer_if_, up ? "up" : "down"})
      .status();
}

std::vector<std::string> Netns::InsideArgv(std::vector<std::string> argv) const {
  std::vector<std::string> out = {IpBinary(), "netns", "exec", name_};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

absl::Status Netns::RunInside(const std::function<void()>& fn) const {
  absl::Status status;
  const std::string path = "/var/run/netns/" + name_;
  // setns(CLONE_NEWNET) changes only the calling thread, so a throwaway
  // thread enters the namespace and the test's thread stays outside.
  std::thread worker([&] {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      status = absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
      return;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
      status = absl::InternalError(absl::StrCat("setns ", path, ": ", strerror(errno)));
      close(fd);
      return;
    }
    close(fd);
    fn();
  });
  worker.join();
  return status;
}

}  // namespace berth::testing

#include "tests/harness/process.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace berth::testing {
namespace {

std::string ErrnoMessage(const std::string& what, int err) {
  return absl::StrCat(what, ": ", strerror(err));
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

int FreePort() {
  static std::mutex mu;
  static std::set<int>* handed_out = new std::set<int>();
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    int port = -1;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      socklen_t len = sizeof(addr);
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
      }
    }
    close(fd);
    if (port <= 0) continue;
    std::lock_guard<std::mutex> lock(mu);
    if (handed_out->insert(port).second) return port;
  }
  std::cerr << "FreePort: no free port found" << std::endl;
  abort();
}

std::string TempDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

std::string MakeTempDir(const std::string& prefix) {
  std::string templ = absl::StrCat(TempDir(), "/", prefix, "XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::cerr << ErrnoMessage("mkdtemp " + templ, errno) << std::endl;
    abort();
  }
  return buf.data();
}

std::string RunfilePath(const std::string& path, const std::string& workspace) {
  std::vector<std::string> roots;
  for (const char* var : {"TEST_SRCDIR", "RUNFILES_DIR"}) {
    const char* v = getenv(var);
    if (v != nullptr && *v != '\0') roots.push_back(v);
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) roots.push_back(std::string(exe, n) + ".runfiles");
  for (const std::string& root : roots) {
    std::string candidate = absl::StrCat(root, "/", workspace, "/", path);
    if (Exists(candidate)) return candidate;
  }
  // Not found: the first guess, so the caller's error names a path.
  return roots.empty() ? path
                       : absl::StrCat(roots[0], "/", workspace, "/", path);
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration deadline,
             absl::Duration poll) {
  const absl::Time end = absl::Now() + deadline;
  while (true) {
    if (condition()) return true;
    absl::Time now = absl::Now();
    if (now >= end) return false;
    absl::SleepFor(std::min(poll, end - now));
  }
}

absl::StatusOr<std::unique_ptr<Process>> Process::Start(
    ProcessOptions options) {
  static std::atomic<int> counter{0};
  if (options.argv.empty()) {
    return absl::InvalidArgumentError("Process::Start: empty argv");
  }
  if (options.name.empty()) options.name = Basename(options.argv[0]);
  if (options.log_path.empty()) {
    std::string dir = options.log_dir.empty() ? TempDir() : options.log_dir;
    options.log_path = absl::StrCat(dir, "/", options.name, ".", getpid(), ".",
                                    counter.fetch_add(1), ".log");
  }

  // Everything the child needs is prepared before fork: after fork only
  // async-signal-safe calls are allowed (the test has other threads).
  std::vector<char*> argv;
  for (std::string& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::map<std::string, std::string> env_map;
  std::vector<std::string> env_order;
  auto add_env = [&](const std::string& kv) {
    std::string key = kv.substr(0, kv.find('='));
    if (env_map.count(key) == 0) env_order.push_back(key);
    env_map[key] = kv;
  };
  for (char** e = environ; *e != nullptr; ++e) add_env(*e);
  for (const std::string& kv : options.env) add_env(kv);
  std::vector<std::string> env_strings;
  for (const std::string& key : env_order) env_strings.push_back(env_map[key]);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  int log_fd = open(options.log_path.c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(ErrnoMessage("open " + options.log_path, errno));
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return absl::InternalError(ErrnoMessage("pipe2", errno));
  }
  {
    std::string header = absl::StrCat("=== ", options.name, " started at ",
                                      absl::FormatTime(absl::Now()), ":");
    for (const std::string& a : options.argv) absl::StrAppend(&header, " ", a);
    header += "\n";
    (void)!write(log_fd, header.data(), header.size());
  }
  const char* workdir =
      options.working_dir.empty() ? nullptr : options.working_dir.c_str();
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    close(exec_pipe[0]);
    close(exec_pipe[1]);
    return absl::InternalError(ErrnoMessage("fork", err));
  }
  if (pid == 0) {
    // Child.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) {
      signal(sig, SIG_DFL);
    }
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    if (workdir != nullptr && chdir(workdir) != 0) {
      int err = errno;
      (void)!write(exec_pipe[1], &err, sizeof(err));
      _exit(127);
    }
    execve(argv[0], argv.data(), envp.data());
    int err = errno;
    (void)!write(exec_pipe[1], &err, sizeof(err));
    _exit(127);
  }
  // Parent.
  setpgid(pid, pid);  // also done by the child; whichever runs first
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  close(exec_pipe[1]);
  int child_errno = 0;
  ssize_t got;
  do {
    got = read(exec_pipe[0], &child_errno, sizeof(child_errno));
  } while (got < 0 && errno == EINTR);
  close(exec_pipe[0]);

  std::unique_ptr<Process> process(new Process(std::move(options)));
  process->pid_ = pid;
  if (got > 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    process->Reaped(status);
    return absl::FailedPreconditionError(
        ErrnoMessage("exec " + process->options_.argv[0], child_errno));
  }
  return process;
}

Process::~Process() {
  if (pid_ <= 0) return;
  if (options_.dump_log_on_failure && ::testing::Test::HasFailure()) {
    DumpLog(std::cerr);
  }
  if (!exit_status_.has_value()) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void Process::Reaped(int wait_status) {
  if (WIFEXITED(wait_status)) {
    exit_status_ = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    exit_status_ = 128 + WTERMSIG(wait_status);
  } else {
    exit_status_ = 255;
  }
}

bool Process::Alive() {
  if (exit_status_.has_value()) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    Reaped(status);
    return false;
  }
  return r == 0;
}

absl::Status Process::Kill(int signal) {
  if (!Alive()) return absl::OkStatus();
  if (kill(-pid_, signal) != 0 && kill(pid_, signal) != 0 && errno != ESRCH) {
    return absl::InternalError(
        ErrnoMessage(absl::StrCat("kill ", options_.name), errno));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Process::Wait(absl::Duration timeout) {
  if (exit_status_.has_value()) return *exit_status_;
  if (timeout == absl::InfiniteDuration()) {
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r != pid_) {
      return absl::InternalError(ErrnoMessage("waitpid", errno));
    }
    Reaped(status);
    return *exit_status_;
  }
  if (!WaitFor([this] { return !Alive(); }, timeout, absl::Milliseconds(10))) {
    return absl::DeadlineExceededError(absl::StrCat(
        options_.name, " still running after ", absl::FormatDuration(timeout)));
  }
  return *exit_status_;
}

absl::StatusOr<int> Process::Stop(int signal, absl::Duration timeout) {
  absl::Status s = Kill(signal);
  if (!s.ok()) return s;
  return Wait(timeout);
}

std::string Process::LogTail(int lines) const {
  std::ifstream in(options_.log_path, std::ios::binary);
  if (!in) return "(no log at " + options_.log_path + ")";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  const std::streamoff kMaxBytes = 256 * 1024;
  std::streamoff from = size > kMaxBytes ? size - kMaxBytes : 0;
  in.seekg(from);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // Walk back `lines` newlines (ignoring a trailing one).
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;
  size_t pos = end;
  int found = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++found == lines) break;
    --pos;
  }
  return text.substr(pos);
}

void Process::DumpLog(std::ostream& os, int lines) const {
  os << "\n===== last " << lines << " log lines of " << options_.name
     << " (pid " << pid_ << ", " << options_.log_path << ") =====\n"
     << LogTail(lines) << "\n===== end of " << options_.name << " =====\n";
  os.flush();
}

ProcessGroup::~ProcessGroup() {
  for (auto it = processes_.rbegin(); it != processes_.rend(); ++it) {
    (void)(*it)->Kill(SIGKILL);
  }
  while (!processes_.empty()) processes_.pop_back();
}

absl::StatusOr<Process*> ProcessGroup::Start(ProcessOptions options) {
  absl::StatusOr<std::unique_ptr<Process>> p =
      Process::Start(std::move(options));
  if (!p.ok()) return p.status();
  return Add(*std::move(p));
}

Process* ProcessGroup::Add(std::unique_ptr<Process> process) {
  processes_.push_back(std::move(process));
  return processes_.back().get();
}

void ProcessGroup::DumpLogs() const {
  for (const auto& p : processes_) p->DumpLog(std::cerr);
}

bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

int PickBasePort(int span) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int base = FreePort();
    if (base <= 0 || base + span > 65535) continue;
    bool all = true;
    for (int p = base; p <= base + span && all; ++p) all = PortFree(p);
    if (all) return base;
  }
  return 0;
}

bool PidAlive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)),
                std::istreambuf_iterator<char>());
  size_t paren = s.rfind(')');
  return paren == std::string::npos || s.size() < paren + 3 ||
         s[paren + 2] != 'Z';
}

}  // namespace berth::testing

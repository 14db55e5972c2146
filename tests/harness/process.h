// Process and environment helpers for Berth's integration tests.
//
// Not thread-safe: a Process is driven by the test's own thread. Processes
// are started in their own process group (Kill signals the group) with
// PR_SET_PDEATHSIG=SIGKILL, so they die with the test even if it crashes
// (the death signal follows the *thread* that forked: start processes from
// the test's main thread, not from a short-lived helper thread).
#ifndef BERTH_TESTS_HARNESS_PROCESS_H_
#define BERTH_TESTS_HARNESS_PROCESS_H_

#include <sys/types.h>

#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace berth::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
// the port, close). Never returns the same port twice in one process.
int FreePort();

// True if 127.0.0.1:port can be bound right now.
bool PortFree(int port);

// A base port N such that N..N+span are all free: tools/berth-cluster puts
// its processes at fixed offsets from one base port (span 50 covers its
// default layout, 3 metads, 3 blobds up to blobd-3 at N+41, and a few
// more metads, frontends and blobds).
int PickBasePort(int span = 50);

// True while process `pid` exists and is not a zombie (works for processes
// this test did not start, e.g. those of tools/berth-cluster).
bool PidAlive(pid_t pid);

// $TEST_TMPDIR, else /tmp.
std::string TempDir();
// A new empty directory under TempDir() (mkdtemp), named <prefix>XXXXXX.
std::string MakeTempDir(const std::string& prefix);

// Path of a runfile: `path` inside workspace `workspace` (Berth's is
// "berth"; external repositories by their name, e.g. "shared"). Looks under
// $TEST_SRCDIR, $RUNFILES_DIR, then <this binary>.runfiles. Tests get
// binaries there through Bazel `data` deps, e.g.
// data = ["//tools:berth"] and RunfilePath("tools/berth").
std::string RunfilePath(const std::string& path,
                        const std::string& workspace = "berth");

// Polls `condition` every `poll` until it returns true (-> true) or
// `deadline` has passed since the call (-> false; the condition is checked
// one last time at the deadline).
bool WaitFor(const std::function<bool()>& condition, absl::Duration deadline,
             absl::Duration poll = absl::Milliseconds(50));

struct ProcessOptions {
  // argv[0] is the binary's path (absolute, or found relative to the cwd).
  std::vector<std::string> argv;
  // "KEY=VALUE" entries added to (or replacing) the inherited environment.
  std::vector<std::string> env;
  // Label in logs; default: basename of argv[0].
  std::string name;
  // stdout and stderr go to log_path (appended to); default:
  // <log_dir>/<name>.<pid of the test>.<n>.log, log_dir default TempDir().
  std::string log_path;
  std::string log_dir;
  // chdir before exec, if set.
  std::string working_dir;
  // Print LogTail() to stderr in the destructor if the current gtest test
  // has failed.
  bool dump_log_on_failure = true;
};

class Process {
 public:
  // fork + exec; an exec failure (missing binary...) is an error here.
  static absl::StatusOr<std::unique_ptr<Process>> Start(ProcessOptions options);

  // Dumps the log if the current test failed, then SIGKILLs the process
  // group (if still running) and reaps it.
  ~Process();

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return options_.name; }
  const std::string& log_path() const { return options_.log_path; }

  // True until the process has exited (reaps it when it has).
  bool Alive();
  // Sends `signal` to the process group. OK if it already exited.
  absl::Status Kill(int signal = SIGKILL);
  // Waits for the exit: exit code, or 128 + signal number if killed.
  // DEADLINE_EXCEEDED if it is still running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::InfiniteDuration());
  // Kill(signal) then Wait().
  absl::StatusOr<int> Stop(int signal = SIGKILL,
                           absl::Duration timeout = absl::Seconds(30));
  // The exit status if it has been reaped.
  std::optional<int> exit_status() const { return exit_status_; }

  // The last `lines` lines of the log file.
  std::string LogTail(int lines = 80) const;
  // Writes a headed LogTail to `os`.
  void DumpLog(std::ostream& os, int lines = 80) const;

 private:
  explicit Process(ProcessOptions options) : options_(std::move(options)) {}
  void Reaped(int wait_status);

  ProcessOptions options_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// Owns several processes; stops them (SIGKILL, reverse order) on
// destruction. Each Process dumps its own log tail if the test failed.
class ProcessGroup {
 public:
  ProcessGroup() = default;
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  // Starts a process owned by the group.
  absl::StatusOr<Process*> Start(ProcessOptions options);
  Process* Add(std::unique_ptr<Process> process);
  const std::vector<std::unique_ptr<Process>>& processes() const {
    return processes_;
  }
  // Prints every member's log tail to stderr.
  void DumpLogs() const;

 private:
  std::vector<std::unique_ptr<Process>> processes_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_HARNESS_PROCESS_H_

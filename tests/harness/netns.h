// Network namespaces for tests that need real network partitions (needs
// root and iproute2's `ip`; the kernel needs no netem).
//
// A Netns is one namespace joined to the root namespace by a veth pair: the
// outer end (root namespace) has outer_ip/24, the inner end inner_ip/24 and
// a default route via outer_ip; loopback inside is up. Nothing forwards
// between namespaces unless the host has ip_forward on (tests should reach
// another namespace only through listeners in the root namespace, e.g.
// tests/delay_proxy.h, which see inner addresses as client addresses).
//
// Processes run inside through `ip netns exec` (InsideArgv; the pid is the
// program's own, so Process::Kill works); the test's own sockets through
// RunInside (a helper thread that has entered the namespace).
//
// SetLinkUp(false) takes the outer end down: what the inside sends is
// dropped (a blackhole: connect() hangs, established connections go
// silent), and the root namespace loses its route to the subnet (connect()
// from outside fails at once). SetLinkUp(true) restores the link; the
// inside's routes come back with the carrier.
//
// Names: the namespace is "<prefix><pid>-<suffix>" and the outer veth
// "bz<pid>-<suffix>", so RemoveStaleNetns can find what a crashed run left
// behind (the pid is dead). Driven by one test thread; not thread-safe.
#ifndef BERTH_TESTS_HARNESS_NETNS_H_
#define BERTH_TESTS_HARNESS_NETNS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::testing {

// Path of iproute2's `ip`, "" if not installed.
std::string IpBinary();

// Runs argv[0] (absolute path) with the rest as arguments, waits, and
// returns its stdout+stderr; an error (with that output) if it cannot run
// or exits non-zero.
absl::StatusOr<std::string> RunCommand(const std::vector<std::string>& argv);

// OK when this process may create namespaces (root, `ip` present, `ip
// netns list` works); otherwise why not (for GTEST_SKIP).
absl::Status NetnsSupported();

// Deletes namespaces "<prefix><pid>-*" and veths "bz<pid>-*" whose pid is
// no longer running (left by a crashed run). Returns how many namespaces it
// removed.
int RemoveStaleNetns(const std::string& prefix = "berth-");

struct NetnsOptions {
  std::string prefix = "berth-";
  std::string suffix;    // e.g. "a"; at most 4 characters (interface names)
  std::string outer_ip;  // root side of the veth, e.g. "10.213.1.1"
  std::string inner_ip;  // inside, e.g. "10.213.1.2" (same /24)
};

class Netns {
 public:
  // Creates the namespace and its veth pair; on any failure removes what it
  // created and returns the `ip` command's error.
  static absl::StatusOr<std::unique_ptr<Netns>> Create(NetnsOptions options);
  // Deletes the outer veth (and so its pair) and the namespace.
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }
  const std::string& outer_if() const { return outer_if_; }
  const std::string& outer_ip() const { return options_.outer_ip; }
  const std::string& inner_ip() const { return options_.inner_ip; }

  // Brings the outer veth end down (cut) or up (heal).
  absl::Status SetLinkUp(bool up);

  // {ip, "netns", "exec", name, argv...}: for ProcessOptions::argv.
  std::vector<std::string> InsideArgv(std::vector<std::string> argv) const;

  // Runs `fn` on a new thread that has joined this namespace (sockets it
  // opens live there), and waits for it. An error if setns fails (then `fn`
  // does not run).
  absl::Status RunInside(const std::function<void()>& fn) const;

 private:
  explicit Netns(NetnsOptions options) : options_(std::move(options)) {}
  void Teardown();

  NetnsOptions options_;
  std::string name_;
  std::string outer_if_;
  bool created_ns_ = false;
  bool created_link_ = false;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_HARNESS_NETNS_H_

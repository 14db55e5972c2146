// A userspace TCP proxy that stands in for a WAN link between datacenters
// (the test kernel has no netem): every connection accepted on
// listen_host:listen_port is forwarded to upstream_host:upstream_port, and
// each byte is passed on `delay` after it was read, in each direction (a
// round trip through the proxy costs 2 * delay more). Order is kept; at
// most kMaxQueuedBytes wait per direction, then reading pauses
// (back-pressure). A half-close is passed on once the queued bytes are out.
//
// Cutting: Isolate(ip) closes (RST) every connection whose client address
// is `ip` (every connection, if `ip` is the upstream host) and refuses new
// ones from it (accepted, then reset at once: the client sees a fast
// failure) until Restore(ip). Cutting a zone = isolating its address on
// every proxy, then taking its link down (tests/harness/netns.h), so the
// zone learns of its closed connections before the link goes silent.
//
// Silent cutting: Blackhole(ip) instead holds every connection of `ip`
// (every connection, if `ip` is the upstream host) open and moves no byte
// on it in either direction, and holds new ones accepted but unanswered
// (nothing is sent upstream), until Restore(ip): what a partition that
// drops packets looks like to both ends (no RST, no FIN; only timeouts and
// keepalives notice). On Restore the held bytes flow on, in order, as
// after TCP retransmission, and held new connections dial upstream.
//
// Threads: one acceptor plus, per connection, an owner thread (connects
// upstream, pumps client -> upstream, joins its helper, closes the sockets)
// and one helper pumping upstream -> client. All are owned by the proxy:
// the acceptor joins finished connections, the destructor joins the rest.
// The isolation set and the connection list are guarded by mu_; counters
// are atomics.
#ifndef BERTH_TESTS_DELAY_PROXY_H_
#define BERTH_TESTS_DELAY_PROXY_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace berth::testing {

struct DelayProxyOptions {
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;  // 0: any free port (see port())
  std::string upstream_host = "127.0.0.1";
  int upstream_port = 0;
  absl::Duration delay = absl::Milliseconds(10);  // one way, per direction
  std::string name;  // for failure messages
};

class DelayProxy {
 public:
  static constexpr size_t kMaxQueuedBytes = 4 << 20;

  static absl::StatusOr<std::unique_ptr<DelayProxy>> Start(
      DelayProxyOptions options);
  ~DelayProxy();  // closes every connection and joins every thread
  DelayProxy(const DelayProxy&) = delete;
  DelayProxy& operator=(const DelayProxy&) = delete;

  int port() const { return port_; }
  // "listen_host:port": what clients dial.
  std::string address() const;
  const DelayProxyOptions& options() const { return options_; }

  // See the file comment. All are idempotent; Restore ends both kinds of
  // cut of `ip`.
  void Isolate(const std::string& ip);
  void Blackhole(const std::string& ip);
  void Restore(const std::string& ip);

  uint64_t accepted() const { return accepted_.load(); }  // forwarded connections
  uint64_t refused() const { return refused_.load(); }    // reset while isolated
  uint64_t cut() const { return cut_.load(); }  // closed by Isolate
  uint64_t held() const { return held_.load(); }  // by Blackhole
  uint64_t bytes() const { return bytes_.load(); }  // forwarded, both ways
  size_t open_connections();

 private:
  struct Conn;
  explicit DelayProxy(DelayProxyOptions options);  // in the .cc: Conn is incomplete here
  void AcceptLoop();
  void Serve(Conn* conn);
  void Pump(Conn* conn, int from, int to);
  bool IsolatedLocked(const std::string& client_ip) const;
  bool BlackholedLocked(const std::string& client_ip) const;
  void ReapFinished(bool all);

  const DelayProxyOptions options_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::atomic<uint64_t> accepted_{0}, refused_{0}, cut_{0}, held_{0},
      bytes_{0};

  std::mutex mu_;
  std::set<std::string> isolated_;       // guarded by mu_
  std::set<std::string> blackholed_;     // guarded by mu_
  std::list<std::unique_ptr<Conn>> conns_;  // guarded by mu_
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_DELAY_PROXY_H_

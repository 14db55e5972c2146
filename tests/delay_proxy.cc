#include "tests/delay_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace berth::testing {
namespace {

constexpr absl::Duration kConnectTimeout = absl::Seconds(5);
constexpr int kPollSliceMs = 100;  // how often idle loops look at stop flags

bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void NoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Makes the eventual close() send RST instead of FIN.
void ResetOnClose(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

bool ParseAddress(const std::string& host, int port, sockaddr_in* out) {
  *out = sockaddr_in{};
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, host.c_str(), &out->sin_addr) == 1;
}

}  // namespace

// One proxied connection. The sockets are closed only by the owner thread,
// under mu_, after both pumps stopped; Kill may run on any thread that
// holds mu_ or is one of this connection's pumps (the fds are open then).
struct DelayProxy::Conn {
  int client = -1;
  std::atomic<int> upstream{-1};
  std::string client_ip;
  std::atomic<bool> dead{false};
  // Blackholed: the pumps move nothing and a pending upstream dial waits.
  // Set under the proxy's mu_; read by the pumps without it.
  std::atomic<bool> held{false};
  std::atomic<bool> finished{false};  // sockets closed; owner may be joined
  std::thread owner;

  // Wakes both pumps (and a pending connect); with `reset` the sockets'
  // close sends RST.
  void Kill(bool reset) {
    dead.store(true);
    for (int fd : {client, upstream.load()}) {
      if (fd < 0) continue;
      if (reset) ResetOnClose(fd);
      ::shutdown(fd, SHUT_RDWR);
    }
  }
};

DelayProxy::DelayProxy(DelayProxyOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<DelayProxy>> DelayProxy::Start(
    DelayProxyOptions options) {
  sockaddr_in addr;
  if (!ParseAddress(options.listen_host, options.listen_port, &addr)) {
    return absl::InvalidArgumentError("DelayProxy: bad listen host " +
                                      options.listen_host);
  }
  sockaddr_in upstream;
  if (!ParseAddress(options.upstream_host, options.upstream_port, &upstream)) {
    return absl::InvalidArgumentError("DelayProxy: bad upstream host " +
                                      options.upstream_host);
  }
  std::unique_ptr<DelayProxy> proxy(new DelayProxy(std::move(options)));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 128) != 0) {
    std::string err = strerror(errno);
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("DelayProxy ", proxy->options_.name, ": cannot listen on ",
                     proxy->options_.listen_host, ":",
                     proxy->options_.listen_port, ": ", err));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  proxy->listen_fd_ = fd;
  proxy->port_ = ntohs(addr.sin_port);
  proxy->acceptor_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

DelayProxy::~DelayProxy() {
  stop_.store(true);
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : conns_) {
      if (!c->finished.load()) c->Kill(/*reset=*/true);
    }
  }
  ReapFinished(/*all=*/true);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

std::string DelayProxy::address() const {
  return absl::StrCat(options_.listen_host, ":", port_);
}

bool DelayProxy::IsolatedLocked(const std::string& client_ip) const {
  return isolated_.count(client_ip) > 0 ||
         isolated_.count(options_.upstream_host) > 0;
}

void DelayProxy::Isolate(const std::string& ip) {
  std::lock_guard<std::mutex> lock(mu_);
  isolated_.insert(ip);
  for (auto& c : conns_) {
    if (c->finished.load() || c->dead.load()) continue;
    if (c->client_ip == ip || ip == options_.upstream_host) {
      c->Kill(/*reset=*/true);
      cut_.fetch_add(1);
    }
  }
}

bool DelayProxy::BlackholedLocked(const std::string& client_ip) const {
  return blackholed_.count(client_ip) > 0 ||
         blackholed_.count(options_.upstream_host) > 0;
}

void DelayProxy::Blackhole(const std::string& ip) {
  std::lock_guard<std::mutex> lock(mu_);
  blackholed_.insert(ip);
  for (auto& c : conns_) {
    if (c->finished.load() || c->dead.load() || c->held.load()) continue;
    if (c->client_ip == ip || ip == options_.upstream_host) {
      c->held.store(true);
      held_.fetch_add(1);
    }
  }
}

void DelayProxy::Restore(const std::string& ip) {
  std::lock_guard<std::mutex> lock(mu_);
  isolated_.erase(ip);
  blackholed_.erase(ip);
  for (auto& c : conns_) {
    if (c->held.load() && !BlackholedLocked(c->client_ip)) c->held.store(false);
  }
}

size_t DelayProxy::open_connections() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& c : conns_) n += c->finished.load() ? 0 : 1;
  return n;
}

void DelayProxy::ReapFinished(bool all) {
  std::list<std::unique_ptr<Conn>> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (all || (*it)->finished.load()) {
        done.push_back(std::move(*it));
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : done) {
    if (c->owner.joinable()) c->owner.join();
  }
}

void DelayProxy::AcceptLoop() {
  while (!stop_.load()) {
    ReapFinished(/*all=*/false);
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollSliceMs) <= 0) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                       SOCK_CLOEXEC);
    if (fd < 0) continue;
    char ip[INET_ADDRSTRLEN] = {0};
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
    std::lock_guard<std::mutex> lock(mu_);
    if (IsolatedLocked(ip)) {
      ResetOnClose(fd);
      ::close(fd);
      refused_.fetch_add(1);
      continue;
    }
    NoDelay(fd);
    auto conn = std::make_unique<Conn>();
    conn->client = fd;
    conn->client_ip = ip;
    if (BlackholedLocked(ip)) {
      conn->held.store(true);
      held_.fetch_add(1);
    }
    Conn* raw = conn.get();
    conns_.push_back(std::move(conn));
    accepted_.fetch_add(1);
    raw->owner = std::thread([this, raw] { Serve(raw); });
  }
}

void DelayProxy::Serve(Conn* conn) {
  sockaddr_in addr;
  ParseAddress(options_.upstream_host, options_.upstream_port, &addr);
  // A connection accepted during a blackhole stays unanswered until then.
  while (conn->held.load() && !conn->dead.load() && !stop_.load()) {
    ::poll(nullptr, 0, kPollSliceMs);
  }
  int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  conn->upstream.store(up);
  bool connected = false;
  if (up >= 0 && !conn->dead.load()) {
    int r = ::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (r == 0) {
      connected = true;
    } else if (errno == EINPROGRESS) {
      const absl::Time until = absl::Now() + kConnectTimeout;
      while (!conn->dead.load() && !stop_.load() && absl::Now() < until) {
        pollfd p{up, POLLOUT, 0};
        if (::poll(&p, 1, kPollSliceMs) <= 0) continue;
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(up, SOL_SOCKET, SO_ERROR, &err, &len);
        connected = err == 0;
        break;
      }
    }
  }
  if (connected && !conn->dead.load()) {
    ::fcntl(up, F_SETFL, ::fcntl(up, F_GETFL) & ~O_NONBLOCK);
    NoDelay(up);
    std::thread back([this, conn, up] { Pump(conn, up, conn->client); });
    Pump(conn, conn->client, up);
    back.join();
  } else {
    conn->Kill(/*reset=*/true);  // the client sees the upstream refuse
  }
  std::lock_guard<std::mutex> lock(mu_);
  ::close(conn->client);
  if (up >= 0) ::close(up);
  conn->client = -1;
  conn->upstream.store(-1);
  conn->finished.store(true);
}

void DelayProxy::Pump(Conn* conn, int from, int to) {
  struct Segment {
    absl::Time due;
    std::string data;
  };
  std::deque<Segment> queue;
  size_t queued = 0;
  bool eof = false;
  std::vector<char> buf(64 << 10);
  while (!conn->dead.load()) {
    if (conn->held.load()) {  // blackholed: neither read nor send
      ::poll(nullptr, 0, kPollSliceMs);
      continue;
    }
    absl::Time now = absl::Now();
    while (!queue.empty() && queue.front().due <= now) {
      const std::string& data = queue.front().data;
      if (!SendAll(to, data.data(), data.size())) {
        conn->Kill(/*reset=*/true);
        return;
      }
      bytes_.fetch_add(data.size());
      queued -= data.size();
      queue.pop_front();
      now = absl::Now();
    }
    if (eof && queue.empty()) {
      ::shutdown(to, SHUT_WR);  // pass the half-close on
      return;
    }
    int timeout_ms = kPollSliceMs;
    if (!queue.empty()) {
      const int64_t due_ms =
          absl::ToInt64Milliseconds(absl::Ceil(queue.front().due - now,
                                               absl::Milliseconds(1)));
      timeout_ms = static_cast<int>(
          std::clamp<int64_t>(due_ms, 0, kPollSliceMs));
    }
    const bool want_read = !eof && queued < kMaxQueuedBytes;
    pollfd p{from, POLLIN, 0};
    int ready = ::poll(want_read ? &p : nullptr, want_read ? 1 : 0, timeout_ms);
    if (ready <= 0 || !want_read) continue;
    ssize_t n = ::recv(from, buf.data(), buf.size(), 0);
    if (n > 0) {
      queue.push_back({absl::Now() + options_.delay,
                       std::string(buf.data(), static_cast<size_t>(n))});
      queued += static_cast<size_t>(n);
    } else if (n == 0) {
      eof = true;
    } else if (errno != EINTR && errno != EAGAIN) {
      conn->Kill(/*reset=*/true);
      return;
    }
  }
}

}  // namespace berth::testing

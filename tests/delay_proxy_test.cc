// DelayProxy on loopback: delay per direction, byte-exact forwarding with
// back-pressure, half-close, and cut (reset or silent)/restore by client
// address.
#include "tests/delay_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/harness/process.h"

namespace berth::testing {
namespace {

// Echoes every connection until the peer closes; one thread per
// connection, all joined by the destructor.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 16);
    acceptor_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        workers_.emplace_back([c] {
          char buf[65536];
          for (;;) {
            ssize_t n = ::recv(c, buf, sizeof(buf), 0);
            if (n <= 0) break;
            if (::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
          }
          ::close(c);
        });
      }
    });
  }
  ~EchoServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : workers_) t.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;  // touched by the acceptor only
};

int Dial(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Reads exactly n bytes; fewer if the connection ends first.
std::string ReadN(int fd, size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    ssize_t r = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

// A connection to `port` that has carried one byte ("a") there and back;
// -1 if it could not.
int DialAndEcho(int port) {
  int fd = Dial(port);
  if (fd < 0) return -1;
  if (::send(fd, "a", 1, MSG_NOSIGNAL) != 1 || ReadN(fd, 1) != "a") {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::unique_ptr<DelayProxy> StartProxy(int upstream, absl::Duration delay) {
  DelayProxyOptions o;
  o.upstream_port = upstream;
  o.delay = delay;
  o.name = "test";
  auto p = DelayProxy::Start(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(*p) : nullptr;
}

TEST(DelayProxyTest, AddsTheDelayEachWayAndForwardsBytesExactly) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port(), absl::Milliseconds(40));
  ASSERT_NE(proxy, nullptr);
  int fd = Dial(proxy->port());
  ASSERT_GE(fd, 0);
  // Round trip of a small message: 40 ms there, 40 ms back.
  for (int i = 0; i < 3; ++i) {
    absl::Time start = absl::Now();
    ASSERT_EQ(::send(fd, "ping", 4, MSG_NOSIGNAL), 4);
    EXPECT_EQ(ReadN(fd, 4), "ping");
    absl::Duration rtt = absl::Now() - start;
    EXPECT_GE(rtt, absl::Milliseconds(80));
    EXPECT_LT(rtt, absl::Seconds(2));
  }
  // 16 MiB (four times the per-direction queue limit) comes back intact
  // while the writer keeps sending (back-pressure, no loss, no reordering).
  std::string big(16 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  std::thread writer([&] {
    size_t off = 0;
    while (off < big.size()) {
      ssize_t w = ::send(fd, big.data() + off, std::min<size_t>(1 << 20, big.size() - off),
                         MSG_NOSIGNAL);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
  });
  std::string back = ReadN(fd, big.size());
  writer.join();
  EXPECT_TRUE(back == big) << "echoed " << back.size() << " bytes";
  // Half-close: the echo server sees EOF and closes; we see EOF too.
  ::shutdown(fd, SHUT_WR);
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);
  ::close(fd);
  EXPECT_EQ(proxy->accepted(), 1u);
  EXPECT_GE(proxy->bytes(), 2 * big.size());
  EXPECT_TRUE(WaitFor([&] { return proxy->open_connections() == 0; },
                      absl::Seconds(5)));
}

TEST(DelayProxyTest, IsolateClosesConnectionsAndRefusesUntilRestored) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port(), absl::Milliseconds(5));
  ASSERT_NE(proxy, nullptr);
  int fd = DialAndEcho(proxy->port());
  ASSERT_GE(fd, 0) << "no connection through the proxy, or no echo";

  // Another client's address: nothing happens to this connection.
  proxy->Isolate("10.9.9.9");
  ASSERT_EQ(::send(fd, "b", 1, MSG_NOSIGNAL), 1);
  ASSERT_EQ(ReadN(fd, 1), "b");
  proxy->Restore("10.9.9.9");

  proxy->Isolate("127.0.0.1");
  EXPECT_EQ(proxy->cut(), 1u);
  char c;
  // The open connection ends (FIN or RST), well before the 10 s timeout.
  absl::Time start = absl::Now();
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ::close(fd);
  // New connections are reset at once.
  fd = Dial(proxy->port());
  if (fd >= 0) {
    (void)::send(fd, "x", 1, MSG_NOSIGNAL);
    EXPECT_LE(::recv(fd, &c, 1, 0), 0);
    ::close(fd);
  }
  EXPECT_TRUE(WaitFor([&] { return proxy->refused() >= 1; }, absl::Seconds(5)));
  EXPECT_EQ(proxy->accepted(), 1u);

  proxy->Restore("127.0.0.1");
  fd = Dial(proxy->port());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::send(fd, "c", 1, MSG_NOSIGNAL), 1);
  EXPECT_EQ(ReadN(fd, 1), "c");
  ::close(fd);
  EXPECT_EQ(proxy->accepted(), 2u);
}

// Nothing arrives within `wait` (a timeout, not an end of stream).
bool SilentFor(int fd, absl::Duration wait) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) == 0;
}

TEST(DelayProxyTest, BlackholeHoldsConnectionsSilentlyUntilRestored) {
  EchoServer echo;
  auto proxy = StartProxy(echo.port(), absl::Milliseconds(5));
  ASSERT_NE(proxy, nullptr);
  int fd = DialAndEcho(proxy->port());
  ASSERT_GE(fd, 0) << "no connection through the proxy, or no echo";

  proxy->Blackhole("127.0.0.1");
  EXPECT_EQ(proxy->held(), 1u);
  // The open connection neither answers nor ends: no echo, no FIN/RST.
  ASSERT_EQ(::send(fd, "b", 1, MSG_NOSIGNAL), 1);
  EXPECT_TRUE(SilentFor(fd, absl::Milliseconds(500)));
  // A new connection is accepted but never answered.
  int fresh = Dial(proxy->port());
  ASSERT_GE(fresh, 0);
  ASSERT_EQ(::send(fresh, "x", 1, MSG_NOSIGNAL), 1);
  EXPECT_TRUE(SilentFor(fresh, absl::Milliseconds(500)));
  EXPECT_EQ(proxy->held(), 2u);
  EXPECT_EQ(proxy->cut(), 0u);
  EXPECT_EQ(proxy->refused(), 0u);

  // Healing delivers what was held, in order, on both connections.
  proxy->Restore("127.0.0.1");
  EXPECT_EQ(ReadN(fd, 1), "b");
  EXPECT_EQ(ReadN(fresh, 1), "x");
  ASSERT_EQ(::send(fd, "c", 1, MSG_NOSIGNAL), 1);
  EXPECT_EQ(ReadN(fd, 1), "c");
  ::close(fd);
  ::close(fresh);
}

}  // namespace
}  // namespace berth::testing

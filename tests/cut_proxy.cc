#include "tests/cut_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace berth::testing {
namespace {

bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

CutProxy::CutProxy(int upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  ::listen(listen_fd_, 64);
  acceptor_ = std::thread([this] { Accept(); });
}

CutProxy::~CutProxy() {
  stop_ = true;
  acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> l(mu_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  ::close(listen_fd_);
}

void CutProxy::AddRule(const std::string& needle, uint64_t cut_after, int times) {
  std::lock_guard<std::mutex> l(mu_);
  rules_.push_back({needle, cut_after, times});
}

void CutProxy::ClearRules() {
  std::lock_guard<std::mutex> l(mu_);
  rules_.clear();
}

std::vector<ProxiedRequest> CutProxy::log() const {
  std::lock_guard<std::mutex> l(mu_);
  return log_;
}

void CutProxy::ClearLog() {
  std::lock_guard<std::mutex> l(mu_);
  log_.clear();
}

void CutProxy::Accept() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> l(mu_);
    workers_.emplace_back([this, fd] { Serve(fd); });
  }
}

void CutProxy::Serve(int client) {
  ProxiedRequest rec;
  // Read the request head to learn what is asked.
  std::string head;
  char buf[64 * 1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
    pollfd p{client, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::recv(client, buf, sizeof(buf), 0);
    if (n <= 0) break;
    head.append(buf, static_cast<size_t>(n));
  }
  rec.request_line = head.substr(0, head.find("\r\n"));
  for (absl::string_view line : absl::StrSplit(head.substr(0, head.find("\r\n\r\n")), "\r\n")) {
    if (absl::StartsWithIgnoreCase(line, "Range:")) {
      rec.range = std::string(absl::StripAsciiWhitespace(line.substr(6)));
    }
  }
  uint64_t limit = UINT64_MAX;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (Rule& r : rules_) {
      if (r.times != 0 && absl::StrContains(rec.request_line, r.needle)) {
        limit = r.cut_after;
        if (r.times > 0) --r.times;
        break;
      }
    }
  }
  int up = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  bool ok = ::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            SendAll(up, head.data(), head.size());
  bool client_open = true;
  while (ok && !stop_) {
    pollfd p[2] = {{up, POLLIN, 0}, {client, static_cast<short>(client_open ? POLLIN : 0), 0}};
    if (::poll(p, 2, 100) < 0) break;
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(client, buf, sizeof(buf), 0);
      if (n <= 0) {
        ::shutdown(up, SHUT_WR);
        client_open = false;
      } else if (!SendAll(up, buf, static_cast<size_t>(n))) {
        break;
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(up, buf, sizeof(buf), 0);
      if (n <= 0) break;  // upstream done
      uint64_t pass = std::min<uint64_t>(static_cast<uint64_t>(n), limit - rec.response_bytes);
      if (!SendAll(client, buf, pass)) break;
      rec.response_bytes += pass;
      if (rec.response_bytes >= limit) {
        rec.cut = true;
        break;
      }
    }
  }
  {
    // Logged before the client can see the close, so a test that waited
    // for its client has the full log.
    std::lock_guard<std::mutex> l(mu_);
    log_.push_back(rec);
  }
  ::close(up);
  ::close(client);
}

}  // namespace berth::testing

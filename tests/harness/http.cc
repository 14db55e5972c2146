#include "tests/harness/http.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace berth::testing {
namespace {

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "connection closed" : out;
}

class Connection {
 public:
  Connection(int fd, absl::Time deadline) : fd_(fd), deadline_(deadline) {}
  ~Connection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) close(fd_);
  }

  // TLS client handshake over the connected socket, verifying the server
  // against `ca_file` and `host`.
  absl::Status StartTls(const std::string& ca_file, const std::string& host) {
    ERR_clear_error();
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) return absl::InternalError("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    // A server closing without close_notify after a complete response is
    // plain EOF here (framing comes from HTTP).
    SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("CA file ", ca_file, ": ", OpenSslErrors()));
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    in6_addr ip6;
    in_addr ip4;
    if (inet_pton(AF_INET, host.c_str(), &ip4) == 1 ||
        inet_pton(AF_INET6, host.c_str(), &ip6) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
    } else {
      SSL_set1_host(ssl_, host.c_str());
      SSL_set_tlsext_host_name(ssl_, host.c_str());
    }
    while (true) {
      int r = SSL_connect(ssl_);
      if (r == 1) return absl::OkStatus();
      absl::Status s = WaitFor(SSL_get_error(ssl_, r));
      if (absl::IsUnknown(s)) {
        return absl::UnavailableError(
            absl::StrCat("TLS handshake with ", host, " failed: ",
                         s.message()));
      }
      if (!s.ok()) return s;
    }
  }

  // After an SSL_* call returned `err`: polls for what it wants (OK to
  // retry), or UNKNOWN with OpenSSL's errors.
  absl::Status WaitFor(int err) {
    if (err == SSL_ERROR_WANT_READ) return Poll(POLLIN);
    if (err == SSL_ERROR_WANT_WRITE) return Poll(POLLOUT);
    return absl::UnknownError(OpenSslErrors());
  }

  // Waits for `events` on the socket until the deadline.
  absl::Status Poll(short events) {
    while (true) {
      absl::Duration left = deadline_ - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError("HTTP request timed out");
      }
      pollfd p{fd_, events, 0};
      int ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
      int r = poll(&p, 1, ms);
      if (r > 0) return absl::OkStatus();
      if (r < 0 && errno != EINTR) {
        return absl::UnavailableError(absl::StrCat("poll: ", strerror(errno)));
      }
    }
  }

  absl::Status WriteAll(absl::string_view data) {
    if (ssl_ != nullptr) {
      while (!data.empty()) {
        size_t n = 0;
        int r = SSL_write_ex(ssl_, data.data(), data.size(), &n);
        if (r == 1) {
          data.remove_prefix(n);
          continue;
        }
        absl::Status s = WaitFor(SSL_get_error(ssl_, r));
        if (absl::IsUnknown(s)) {
          return absl::UnavailableError(absl::StrCat("TLS send: ", s.message()));
        }
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    while (!data.empty()) {
      absl::Status s = Poll(POLLOUT);
      if (!s.ok()) return s;
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return absl::UnavailableError(absl::StrCat("send: ", strerror(errno)));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  // Reads more into buf_. false with OK status on EOF.
  absl::StatusOr<bool> Fill() {
    char tmp[16384];
    if (ssl_ != nullptr) {
      while (true) {
        size_t n = 0;
        int r = SSL_read_ex(ssl_, tmp, sizeof(tmp), &n);
        if (r == 1) {
          buf_.append(tmp, n);
          return true;
        }
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_ZERO_RETURN) return false;
        absl::Status s = WaitFor(err);
        if (absl::IsUnknown(s)) {
          return absl::UnavailableError(absl::StrCat("TLS recv: ", s.message()));
        }
        if (!s.ok()) return s;
      }
    }
    absl::Status s = Poll(POLLIN);
    if (!s.ok()) return s;
    while (true) {
      ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
      if (n > 0) {
        buf_.append(tmp, static_cast<size_t>(n));
        return true;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        s = Poll(POLLIN);
        if (!s.ok()) return s;
        continue;
      }
      return absl::UnavailableError(absl::StrCat("recv: ", strerror(errno)));
    }
  }

  // Returns everything up to (not including) `delim` and consumes it.
  absl::StatusOr<std::string> ReadUntil(absl::string_view delim) {
    while (true) {
      size_t pos = buf_.find(delim.data(), 0, delim.size());
      if (pos != std::string::npos) {
        std::string out = buf_.substr(0, pos);
        buf_.erase(0, pos + delim.size());
        return out;
      }
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) {
        return absl::UnavailableError("connection closed mid-response");
      }
    }
  }

  absl::StatusOr<std::string> ReadN(size_t n) {
    while (buf_.size() < n) {
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) {
        return absl::UnavailableError(absl::StrCat(
            "connection closed after ", buf_.size(), " of ", n, " bytes"));
      }
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

  absl::StatusOr<std::string> ReadToEof() {
    while (true) {
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) break;
    }
    std::string out;
    out.swap(buf_);
    return out;
  }

 private:
  int fd_;
  absl::Time deadline_;
  std::string buf_;
  SSL_CTX* ctx_ = nullptr;  // set by StartTls
  SSL* ssl_ = nullptr;
};

absl::StatusOr<int> Connect(const std::string& host, int port,
                            absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(port);
  int gai = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res);
  if (gai != 0) {
    return absl::UnavailableError(
        absl::StrCat("resolve ", host, ": ", gai_strerror(gai)));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               ai->ai_protocol);
    if (fd < 0) continue;
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      int ms = static_cast<int>(std::max<int64_t>(
          0, absl::ToInt64Milliseconds(deadline - absl::Now())));
      pollfd p{fd, POLLOUT, 0};
      int pr;
      do {
        pr = poll(&p, 1, ms);
      } while (pr < 0 && errno == EINTR);
      if (pr == 0) {
        close(fd);
        freeaddrinfo(res);
        return absl::DeadlineExceededError(
            absl::StrCat("connect ", host, ":", port, " timed out"));
      }
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      r = err == 0 ? 0 : -1;
      errno = err;
    }
    if (r == 0) {
      freeaddrinfo(res);
      return fd;
    }
    last_error = strerror(errno);
    close(fd);
  }
  freeaddrinfo(res);
  return absl::UnavailableError(
      absl::StrCat("connect ", host, ":", port, ": ", last_error));
}

bool HasHeader(const HttpRequest& r, absl::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (absl::EqualsIgnoreCase(k, name)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> HttpResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

absl::StatusOr<HttpResponse> HttpFetch(const HttpRequest& request) {
  const absl::Time deadline = absl::Now() + request.timeout;
  absl::StatusOr<int> fd = Connect(request.host, request.port, deadline);
  if (!fd.ok()) return fd.status();
  Connection conn(*fd, deadline);
  if (!request.tls_ca_file.empty()) {
    absl::Status s = conn.StartTls(request.tls_ca_file, request.host);
    if (!s.ok()) return s;
  }

  std::string head =
      absl::StrCat(request.method, " ", request.path, " HTTP/1.1\r\n");
  if (!HasHeader(request, "Host")) {
    absl::StrAppend(&head, "Host: ", request.host, ":", request.port, "\r\n");
  }
  if (!HasHeader(request, "Connection")) {
    absl::StrAppend(&head, "Connection: close\r\n");
  }
  bool wants_length = !request.body.empty() || request.method == "POST" ||
                      request.method == "PUT" || request.method == "PATCH";
  if (wants_length && !HasHeader(request, "Content-Length") &&
      !HasHeader(request, "Transfer-Encoding")) {
    absl::StrAppend(&head, "Content-Length: ", request.body.size(), "\r\n");
  }
  for (const auto& [k, v] : request.headers) {
    absl::StrAppend(&head, k, ": ", v, "\r\n");
  }
  head += "\r\n";
  absl::Status s = conn.WriteAll(head);
  if (s.ok()) s = conn.WriteAll(request.body);
  if (!s.ok()) return s;

  HttpResponse resp;
  // Skip 1xx interim responses (e.g. 100 Continue).
  while (true) {
    absl::StatusOr<std::string> header_block = conn.ReadUntil("\r\n\r\n");
    if (!header_block.ok()) return header_block.status();
    std::vector<std::string> lines = absl::StrSplit(*header_block, "\r\n");
    // Status line: HTTP/1.1 200 OK
    std::vector<std::string> parts =
        absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    if (parts.size() < 2 || !absl::StartsWith(parts[0], "HTTP/") ||
        !absl::SimpleAtoi(parts[1], &resp.status)) {
      return absl::InternalError(
          absl::StrCat("malformed HTTP status line: '", lines[0], "'"));
    }
    resp.reason = parts.size() > 2 ? parts[2] : "";
    resp.headers.clear();
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      resp.headers.emplace_back(
          lines[i].substr(0, colon),
          std::string(absl::StripAsciiWhitespace(
              absl::string_view(lines[i]).substr(colon + 1))));
    }
    if (resp.status >= 200 || resp.status == 101) break;
  }

  if (request.method == "HEAD" || resp.status == 204 || resp.status == 304 ||
      (resp.status >= 100 && resp.status < 200)) {
    return resp;
  }
  std::optional<std::string> te = resp.Header("Transfer-Encoding");
  if (te.has_value() &&
      absl::StrContains(absl::AsciiStrToLower(*te), "chunked")) {
    while (true) {
      absl::StatusOr<std::string> size_line = conn.ReadUntil("\r\n");
      if (!size_line.ok()) return size_line.status();
      std::string hex(absl::StripAsciiWhitespace(
          absl::string_view(*size_line).substr(0, size_line->find(';'))));
      size_t size = 0;
      if (hex.empty() || !absl::SimpleHexAtoi(hex, &size)) {
        return absl::InternalError(
            absl::StrCat("malformed chunk size: '", *size_line, "'"));
      }
      if (size == 0) {
        // Trailers, up to the empty line.
        while (true) {
          absl::StatusOr<std::string> trailer = conn.ReadUntil("\r\n");
          if (!trailer.ok()) return trailer.status();
          if (trailer->empty()) break;
        }
        break;
      }
      absl::StatusOr<std::string> chunk = conn.ReadN(size + 2);
      if (!chunk.ok()) return chunk.status();
      resp.body.append(*chunk, 0, size);
    }
    return resp;
  }
  std::optional<std::string> cl = resp.Header("Content-Length");
  if (cl.has_value()) {
    size_t n = 0;
    if (!absl::SimpleAtoi(*cl, &n)) {
      return absl::InternalError(absl::StrCat("bad Content-Length: ", *cl));
    }
    absl::StatusOr<std::string> body = conn.ReadN(n);
    if (!body.ok()) return body.status();
    resp.body = *std::move(body);
    return resp;
  }
  absl::StatusOr<std::string> body = conn.ReadToEof();
  if (!body.ok()) return body.status();
  resp.body = *std::move(body);
  return resp;
}

absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port,
                                     const std::string& path,
                                     absl::Duration timeout) {
  HttpRequest req;
  req.host = host;
  req.port = port;
  req.path = path;
  req.timeout = timeout;
  return HttpFetch(req);
}

}  // namespace berth::testing

#include "frontend/http_server.h"

#include <sys/socket.h>

#include <atomic>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/options.h"
#include "common/random.h"
#include "common/tls.h"
#include "spdlog/spdlog.h"

namespace berth::frontend {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
// A connection's TLS layer over the socket its thread owns.
using TlsStream = ssl::stream<tcp::socket&>;

constexpr size_t kPiece = 256 * 1024;

// What a connection thread is blocked on, for the watchdog and the drain.
enum class Phase { kIdle, kHeader, kBody, kHandler, kWrite };

// Shared by a connection thread (writer of phase/deadline) and the
// watchdog/Shutdown (readers, under the server mutex for phase changes that
// matter to draining).
struct Conn {
  int fd = -1;
  std::atomic<Phase> phase{Phase::kIdle};
  std::atomic<int64_t> deadline_ns{0};  // 0 = none
  std::atomic<bool> timed_out{false};

  void Arm(Phase p, absl::Duration d) {
    phase = p;
    deadline_ns = absl::ToUnixNanos(absl::Now() + d);
  }
  void Disarm(Phase p) {
    phase = p;
    deadline_ns = 0;
  }
};

// A request id for requests without a sane X-Request-Id: 64 random bits
// from a per-thread generator seeded once from OpenSSL (ids are labels for
// logs, not secrets; RAND_bytes per request costs a lock and ~1 us).
std::string NewRequestId() {
  thread_local std::mt19937_64 gen([] {
    uint64_t seed = 0;
    const std::string hex = RandomHex(8);
    for (char c : hex) seed = seed * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
    return seed;
  }());
  static const char kHex[] = "0123456789abcdef";
  uint64_t v = gen();
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<size_t>(i)] = kHex[v & 15];
  return out;
}

bool SaneRequestId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return false;
  }
  return true;
}

// `Stream` is tcp::socket (HTTP) or TlsStream (HTTPS); everything else is
// the same for both.
template <class Stream>
class Exchange final : public HttpExchange {
 public:
  Exchange(Stream& socket, beast::flat_buffer& buffer,
           http::request_parser<http::buffer_body>& parser, Conn* conn,
           const HttpServerOptions& options, bool draining)
      : socket_(socket),
        buffer_(buffer),
        parser_(parser),
        conn_(conn),
        options_(options),
        method_(parser.get().method_string()),
        target_(parser.get().target()),
        close_(draining) {
    auto it = parser_.get().find("X-Request-Id");
    std::string client_id =
        it == parser_.get().end() ? "" : std::string(it->value());
    request_id_ = SaneRequestId(client_id) ? client_id : NewRequestId();
  }

  const std::string& method() const override { return method_; }
  const std::string& target() const override { return target_; }
  const std::string& request_id() const override { return request_id_; }
  void set_route_label(const std::string& label) override { route_ = label; }
  void AddResponseHeader(const std::string& name,
                         const std::string& value) override {
    extra_headers_.emplace_back(name, value);
  }
  const std::string& route() const { return route_; }

  std::optional<std::string> header(absl::string_view name) const override {
    auto it = parser_.get().find(beast::string_view(name.data(), name.size()));
    if (it == parser_.get().end()) return std::nullopt;
    return std::string(it->value());
  }

  std::optional<uint64_t> content_length() const override {
    auto len = parser_.content_length();
    if (!len) return std::nullopt;
    return *len;
  }

  absl::StatusOr<std::string> ReadBody(size_t limit) override {
    if (auto len = content_length(); len && *len > limit) {
      close_ = true;
      return absl::ResourceExhaustedError("request body too large");
    }
    std::string body;
    absl::Status st = StreamBody([&](absl::string_view piece) {
      if (body.size() + piece.size() > limit) {
        return absl::ResourceExhaustedError("request body too large");
      }
      body.append(piece.data(), piece.size());
      return absl::OkStatus();
    });
    if (!st.ok()) return st;
    return body;
  }

  absl::Status StreamBody(
      const std::function<absl::Status(absl::string_view)>& sink) override {
    SendContinueIfExpected();
    std::unique_ptr<char[]> piece(new char[kPiece]);
    while (!parser_.is_done()) {
      parser_.get().body().data = piece.get();
      parser_.get().body().size = kPiece;
      beast::error_code ec;
      // Fill the piece with read_some calls, re-arming the deadline before
      // each: only a body that makes no progress for io_timeout fails (one
      // http::read per piece would also cut a slow but steady client).
      do {
        conn_->Arm(Phase::kBody, options_.io_timeout);
        http::read_some(socket_, buffer_, parser_, ec);
      } while (!ec && !parser_.is_done() && parser_.get().body().size > 0);
      conn_->Disarm(Phase::kHandler);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        close_ = true;
        if (conn_->timed_out) {
          return absl::DeadlineExceededError("request body stalled");
        }
        return absl::DataLossError(
            absl::StrCat("request body cut off: ", ec.message()));
      }
      size_t n = kPiece - parser_.get().body().size;
      bytes_in_ += n;
      if (n == 0) continue;
      absl::Status st = sink(absl::string_view(piece.get(), n));
      if (!st.ok()) {
        close_ = true;
        return st;
      }
    }
    return absl::OkStatus();
  }

  void Respond(int status, const HeaderList& headers,
               std::string body) override {
    http::response<http::string_body> res{static_cast<http::status>(status),
                                          11};
    SetHeaders(res, headers);
    res.content_length(body.size());
    if (!IsHead()) res.body() = std::move(body);
    res.keep_alive(KeepAlive());
    status_ = status;
    beast::error_code ec;
    conn_->Arm(Phase::kWrite, options_.io_timeout);
    size_t n = http::write(socket_, res, ec);
    conn_->Disarm(Phase::kHandler);
    bytes_out_ += n;
    if (ec) close_ = true;
    responded_ = true;
  }

  void RespondStream(
      int status, const HeaderList& headers, uint64_t length,
      const std::function<absl::Status(
          const std::function<absl::Status(absl::string_view)>&)>& producer)
      override {
    http::response<http::empty_body> res{static_cast<http::status>(status),
                                         11};
    SetHeaders(res, headers);
    res.content_length(length);
    res.keep_alive(KeepAlive());
    status_ = status;
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    conn_->Arm(Phase::kWrite, options_.io_timeout);
    bytes_out_ += http::write_header(socket_, sr, ec);
    conn_->Disarm(Phase::kHandler);
    responded_ = true;
    if (ec) {
      close_ = true;
      return;
    }
    if (IsHead()) return;
    // With Content-Length framing the body goes on the wire as is.
    uint64_t sent = 0;
    absl::Status st = producer([&](absl::string_view piece) -> absl::Status {
      if (sent + piece.size() > length) {
        return absl::InternalError("producer wrote past Content-Length");
      }
      conn_->Arm(Phase::kWrite, options_.io_timeout);
      asio::write(socket_, asio::buffer(piece.data(), piece.size()), ec);
      conn_->Disarm(Phase::kHandler);
      if (ec) return absl::UnavailableError(ec.message());
      sent += piece.size();
      bytes_out_ += piece.size();
      return absl::OkStatus();
    });
    if (!st.ok() || sent != length) {
      spdlog::warn("{} {} id={}: response body ended after {} of {} bytes: {}",
                   method_, target_, request_id_, sent, length, st.ToString());
      close_ = true;
    }
  }

  bool responded() const { return responded_; }
  bool close() const { return close_; }
  int status() const { return status_; }
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

  // Reads and drops a small unread body so the connection can be reused.
  void DrainBody() {
    if (parser_.is_done() || close_) return;
    size_t drained = 0;
    absl::Status st = StreamBody([&](absl::string_view piece) {
      drained += piece.size();
      if (drained > (1 << 20)) return absl::ResourceExhaustedError("large");
      return absl::OkStatus();
    });
    if (!st.ok()) close_ = true;
  }

 private:
  bool IsHead() const { return parser_.get().method() == http::verb::head; }
  bool KeepAlive() const { return !close_ && parser_.get().keep_alive(); }

  template <class Response>
  void SetHeaders(Response& res, const HeaderList& headers) {
    res.set(http::field::server, "berth");
    res.set("X-Request-Id", request_id_);
    for (const auto& [name, value] : headers) res.insert(name, value);
    for (const auto& [name, value] : extra_headers_) res.insert(name, value);
    // An unread body would be parsed as the next request.
    if (!parser_.is_done() && !continue_sent_) close_ = true;
  }

  void SendContinueIfExpected() {
    if (continue_sent_) return;
    continue_sent_ = true;
    auto it = parser_.get().find(http::field::expect);
    if (it != parser_.get().end() &&
        beast::iequals(it->value(), "100-continue")) {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      beast::error_code ec;
      asio::write(socket_, asio::buffer(kContinue, sizeof(kContinue) - 1), ec);
    }
  }

  Stream& socket_;
  beast::flat_buffer& buffer_;
  http::request_parser<http::buffer_body>& parser_;
  Conn* const conn_;
  const HttpServerOptions& options_;
  std::string method_;
  std::string target_;
  std::string request_id_;
  std::string route_ = "other";
  HeaderList extra_headers_;
  bool responded_ = false;
  bool close_ = false;
  bool continue_sent_ = false;
  int status_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

template <class Stream>
void WriteSimpleError(Stream& socket, http::status status,
                      const std::string& message) {
  http::response<http::string_body> res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, "berth");
  res.body() = "{\"error\": \"" + message + "\"}";
  res.prepare_payload();
  res.keep_alive(false);
  beast::error_code ec;
  http::write(socket, res, ec);
}

class BeastServer final : public HttpServer {
 public:
  BeastServer(const HttpServerOptions& options, HttpHandler* handler)
      : options_(options), handler_(handler), acceptor_(ioc_) {
    if (Metrics* m = options_.metrics) {
      connections_ = m->GetGauge("berth_http_connections",
                                 "Open HTTP connections.");
      bytes_in_ = m->GetCounter("berth_http_received_bytes_total",
                                "Request body bytes received.");
      bytes_out_ = m->GetCounter("berth_http_sent_bytes_total",
                                 "Response bytes sent (headers included).");
      timeouts_ = m->GetCounter("berth_http_timeouts_total",
                                "Connections closed by a read/write timeout.");
      if (!options_.tls_cert_file.empty()) {
        handshake_failures_ = m->GetCounter(
            "berth_http_tls_handshake_failures_total",
            "HTTPS connections closed because the TLS handshake failed.");
      }
    }
  }

  ~BeastServer() override { Shutdown(); }

  absl::Status Bind() {
    if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
      if (absl::Status st = MakeTlsContext(); !st.ok()) return st;
    }
    auto hp = ParseHostPort(options_.listen);
    if (!hp.ok()) return hp.status();
    beast::error_code ec;
    auto address = asio::ip::make_address(hp->host, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("--listen '", options_.listen,
                       "': not an IP address: ", ec.message()));
    }
    tcp::endpoint endpoint(address, hp->port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", options_.listen, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    watchdog_ = std::thread([this] { Watchdog(); });
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (draining_) return;
      draining_ = true;
      // shutdown(2) wakes a thread blocked in accept/read on these sockets.
      if (acceptor_.is_open()) ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
      for (auto& [id, conn] : conns_) {
        if (conn->phase == Phase::kIdle) ::shutdown(conn->fd, SHUT_RD);
      }
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    std::unique_lock<std::mutex> lock(mu_);
    if (!idle_.wait_for(lock, absl::ToChronoMilliseconds(options_.drain_timeout),
                        [this] { return conns_.empty(); })) {
      spdlog::warn("{} connections still busy after the drain timeout; "
                   "closing them",
                   conns_.size());
      for (auto& [id, conn] : conns_) ::shutdown(conn->fd, SHUT_RDWR);
      idle_.wait(lock, [this] { return conns_.empty(); });
    }
    stop_watchdog_ = true;
    watchdog_cv_.notify_all();
    lock.unlock();
    if (watchdog_.joinable()) watchdog_.join();
  }

 private:
  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(ioc_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      std::unique_lock<std::mutex> lock(mu_);
      if (draining_) return;
      if (ec) continue;
      if (conns_.size() >= options_.max_connections) {
        lock.unlock();
        // Over TLS a plain answer would be garbage to the client, and a
        // handshake here would hold up the acceptor: just close.
        if (!tls_) {
          WriteSimpleError(socket, http::status::service_unavailable,
                           "Too many connections");
        }
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto conn = std::make_shared<Conn>();
      conn->fd = socket.native_handle();
      uint64_t id = next_id_++;
      conns_[id] = conn;
      if (connections_) connections_->Add(1);
      std::thread([this, id, conn, s = std::move(socket)]() mutable {
        Serve(s, conn.get());
        std::lock_guard<std::mutex> lock(mu_);
        conns_.erase(id);
        if (connections_) connections_->Add(-1);
        beast::error_code ec;
        s.close(ec);
        if (conns_.empty()) idle_.notify_all();
      }).detach();
    }
  }

  // Wakes every 100 ms and shuts down sockets whose deadline passed.
  void Watchdog() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_watchdog_) {
      watchdog_cv_.wait_for(lock, std::chrono::milliseconds(100));
      const int64_t now = absl::ToUnixNanos(absl::Now());
      for (auto& [id, conn] : conns_) {
        int64_t deadline = conn->deadline_ns;
        if (deadline == 0 || now < deadline || conn->timed_out) continue;
        conn->timed_out = true;
        if (timeouts_) timeouts_->Add();
        // Reads: SHUT_RD lets us still answer 408; writes: nothing to save.
        ::shutdown(conn->fd,
                   conn->phase == Phase::kWrite ? SHUT_RDWR : SHUT_RD);
      }
    }
  }

  // Marks the connection idle unless the server is draining.
  bool BeginIdle(Conn* conn, bool first) {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) return false;
    conn->Arm(Phase::kIdle,
              first ? options_.header_timeout : options_.idle_timeout);
    return true;
  }

  // Metric handles by (route, method, status), looked up in Metrics (one
  // global mutex, label maps built) only the first time a connection
  // answers such a request. Owned by the connection's thread.
  struct SeriesCache {
    struct Entry {
      std::string route;
      std::string method;
      int status;
      Counter* requests;
      Histogram* duration;
    };
    std::vector<Entry> entries;
  };

  // TLS 1.2+ with the configured certificate chain and key (checked to
  // match first, for a clear error).
  absl::Status MakeTlsContext() {
    auto pair = tls::LoadCertAndKey(options_.tls_cert_file, "--tls-cert",
                                    options_.tls_key_file, "--tls-key");
    if (!pair.ok()) return pair.status();
    tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    tls_->set_options(ssl::context::default_workarounds |
                          ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                          ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                          SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION,
                      ec);
    if (!ec) {
      tls_->use_certificate_chain(
          asio::buffer(pair->cert_pem.data(), pair->cert_pem.size()), ec);
    }
    if (!ec) {
      tls_->use_private_key(
          asio::buffer(pair->key_pem.data(), pair->key_pem.size()),
          ssl::context::pem, ec);
    }
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-cert/--tls-key: cannot use them: ", ec.message()));
    }
    return absl::OkStatus();
  }

  // Runs on the connection's own thread; owns `socket` until it returns.
  void Serve(tcp::socket& socket, Conn* conn) {
    beast::error_code ec;
    if (!tls_) {
      ServeStream(socket, conn);
      socket.shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    TlsStream stream(socket, *tls_);
    // The handshake counts as the request header (same deadline).
    conn->Arm(Phase::kHeader, options_.header_timeout);
    stream.handshake(ssl::stream_base::server, ec);
    conn->Disarm(Phase::kHandler);
    if (ec) {
      if (handshake_failures_) handshake_failures_->Add();
      spdlog::debug("TLS handshake failed: {}", ec.message());
      // A plain HTTP request on this port: say so in plain HTTP (OpenSSL
      // sent no alert) instead of only closing.
      if (ec.category() == asio::error::get_ssl_category() &&
          ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
              SSL_R_HTTP_REQUEST) {
        conn->Arm(Phase::kWrite, options_.io_timeout);
        WriteSimpleError(socket, http::status::bad_request,
                         "This port speaks HTTPS");
        conn->Disarm(Phase::kHandler);
      }
      socket.shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    ServeStream(stream, conn);
    if (!conn->timed_out) {
      // Send close_notify without waiting for the peer's: with reads shut
      // down, SSL_shutdown's read for the answer ends at once.
      ::shutdown(conn->fd, SHUT_RD);
      conn->Arm(Phase::kWrite, options_.io_timeout);
      stream.shutdown(ec);
      conn->Disarm(Phase::kHandler);
    }
    socket.shutdown(tcp::socket::shutdown_send, ec);
  }

  template <class Stream>
  void ServeStream(Stream& socket, Conn* conn) {
    SeriesCache series;
    beast::flat_buffer buffer;
    for (bool first = true;; first = false) {
      if (!BeginIdle(conn, first)) break;
      http::request_parser<http::buffer_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options_.header_limit));
      // Handlers enforce their own limits (json 1 MiB, layers unlimited).
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      beast::error_code ec;
      http::read_some(socket, buffer, parser, ec);  // first bytes: idle
      if (!ec && !parser.is_header_done()) {
        conn->Arm(Phase::kHeader, options_.header_timeout);
        http::read_header(socket, buffer, parser, ec);
      }
      conn->Disarm(Phase::kHandler);
      // Body bytes that arrived with the header wait in `buffer`.
      if (ec == http::error::need_buffer) ec = {};
      if (ec == http::error::header_limit) {
        WriteSimpleError(socket,
                         http::status::request_header_fields_too_large,
                         "Request header fields too large");
        break;
      }
      if (ec && conn->timed_out && parser.got_some()) {
        WriteSimpleError(socket, http::status::request_timeout,
                         "Request timeout");
        break;
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == asio::error::shut_down ||
          ec == asio::error::operation_aborted || conn->timed_out ||
          (ec && !parser.got_some())) {
        break;
      }
      if (ec) {
        WriteSimpleError(socket, http::status::bad_request, "Bad request");
        break;
      }
      const absl::Time start = absl::Now();
      bool draining;
      {
        std::lock_guard<std::mutex> lock(mu_);
        draining = draining_;
      }
      Exchange<Stream> exchange(socket, buffer, parser, conn, options_,
                                draining);
      handler_->Handle(exchange);
      if (!exchange.responded()) {
        exchange.Respond(500, {{"Content-Type", "application/json"}},
                         "{\"error\": \"Internal error\"}");
      }
      exchange.DrainBody();
      Record(exchange, absl::Now() - start, &series);
      if (exchange.close() || !parser.keep_alive() || conn->timed_out) break;
    }
  }

  template <class Stream>
  void Record(const Exchange<Stream>& ex, absl::Duration took, SeriesCache* series) {
    if (options_.access_log) {
      spdlog::info("{} {} {} in={} out={} {:.1f}ms id={}", ex.method(),
                   ex.target(), ex.status(), ex.bytes_in(), ex.bytes_out(),
                   absl::ToDoubleMilliseconds(took), ex.request_id());
    }
    if (Metrics* m = options_.metrics) {
      SeriesCache::Entry* e = nullptr;
      for (SeriesCache::Entry& c : series->entries) {
        if (c.status == ex.status() && c.route == ex.route() &&
            c.method == ex.method()) {
          e = &c;
          break;
        }
      }
      if (e == nullptr) {
        Labels labels = {{"route", ex.route()},
                         {"method", ex.method()},
                         {"status", absl::StrCat(ex.status())}};
        series->entries.push_back(
            {ex.route(), ex.method(), ex.status(),
             m->GetCounter("berth_http_requests_total",
                           "HTTP requests answered.", labels),
             m->GetHistogram(
                 "berth_http_request_duration_seconds",
                 "Time from request header to the end of the answer.",
                 {{"route", ex.route()}})});
        e = &series->entries.back();
      }
      e->requests->Add();
      e->duration->Observe(absl::ToDoubleSeconds(took));
      bytes_in_->Add(ex.bytes_in());
      bytes_out_->Add(ex.bytes_out());
    }
  }

  const HttpServerOptions options_;
  HttpHandler* const handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread accept_thread_;
  std::thread watchdog_;
  Gauge* connections_ = nullptr;
  Counter* bytes_in_ = nullptr;
  Counter* bytes_out_ = nullptr;
  Counter* timeouts_ = nullptr;
  Counter* handshake_failures_ = nullptr;
  // Set when serving HTTPS; shared by every connection's TLS stream.
  std::unique_ptr<ssl::context> tls_;

  std::mutex mu_;
  std::condition_variable idle_;
  std::condition_variable watchdog_cv_;
  bool draining_ = false;                             // guarded by mu_
  bool stop_watchdog_ = false;                        // guarded by mu_
  uint64_t next_id_ = 0;                              // guarded by mu_
  std::map<uint64_t, std::shared_ptr<Conn>> conns_;   // guarded by mu_
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, HttpHandler* handler) {
  auto server = std::make_unique<BeastServer>(options, handler);
  absl::Status st = server->Bind();
  if (!st.ok()) return st;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace berth::frontend

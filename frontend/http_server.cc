#include "frontend/http_server.h"

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/options.h"
#include "spdlog/spdlog.h"

namespace berth::frontend {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kPiece = 256 * 1024;

class Exchange final : public HttpExchange {
 public:
  Exchange(tcp::socket& socket, beast::flat_buffer& buffer,
           http::request_parser<http::buffer_body>& parser)
      : socket_(socket),
        buffer_(buffer),
        parser_(parser),
        method_(parser.get().method_string()),
        target_(parser.get().target()) {}

  const std::string& method() const override { return method_; }
  const std::string& target() const override { return target_; }

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
      http::read(socket_, buffer_, parser_, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        close_ = true;
        return absl::DataLossError(
            absl::StrCat("request body cut off: ", ec.message()));
      }
      size_t n = kPiece - parser_.get().body().size;
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
    beast::error_code ec;
    http::write(socket_, res, ec);
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
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    http::write_header(socket_, sr, ec);
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
      asio::write(socket_, asio::buffer(piece.data(), piece.size()), ec);
      if (ec) return absl::UnavailableError(ec.message());
      sent += piece.size();
      return absl::OkStatus();
    });
    if (!st.ok() || sent != length) {
      spdlog::warn("{} {}: response body ended after {} of {} bytes: {}",
                   method_, target_, sent, length, st.ToString());
      close_ = true;
    }
  }

  bool responded() const { return responded_; }
  bool close() const { return close_; }

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
    for (const auto& [name, value] : headers) res.insert(name, value);
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

  tcp::socket& socket_;
  beast::flat_buffer& buffer_;
  http::request_parser<http::buffer_body>& parser_;
  std::string method_;
  std::string target_;
  bool responded_ = false;
  bool close_ = false;
  bool continue_sent_ = false;
};

void WriteSimpleError(tcp::socket& socket, http::status status,
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
      : options_(options), handler_(handler), acceptor_(ioc_) {}

  ~BeastServer() override { Shutdown(); }

  absl::Status Bind() {
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
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      // shutdown(2) wakes a thread blocked in accept/read on these sockets.
      if (acceptor_.is_open()) ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
      for (int fd : live_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return live_fds_.empty(); });
  }

 private:
  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(ioc_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) return;
      if (ec) continue;
      if (live_fds_.size() >= options_.max_connections) {
        lock.unlock();
        WriteSimpleError(socket, http::status::service_unavailable,
                         "Too many connections");
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      live_fds_.insert(socket.native_handle());
      std::thread([this, s = std::move(socket)]() mutable {
        Serve(s);
      }).detach();
    }
  }

  // Runs on the connection's own thread; owns `socket` until it returns.
  void Serve(tcp::socket& socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::buffer_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options_.header_limit));
      // Handlers enforce their own limits (json 1 MiB, layers unlimited).
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      beast::error_code ec;
      http::read_header(socket, buffer, parser, ec);
      // Body bytes that arrived with the header wait in `buffer`.
      if (ec == http::error::need_buffer) ec = {};
      if (ec == http::error::header_limit) {
        WriteSimpleError(socket,
                         http::status::request_header_fields_too_large,
                         "Request header fields too large");
        break;
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == asio::error::shut_down ||
          ec == asio::error::operation_aborted) {
        break;
      }
      if (ec) {
        spdlog::debug("bad request header: {}", ec.message());
        WriteSimpleError(socket, http::status::bad_request, "Bad request");
        break;
      }
      Exchange exchange(socket, buffer, parser);
      handler_->Handle(exchange);
      if (!exchange.responded()) {
        exchange.Respond(500, {{"Content-Type", "application/json"}},
                         "{\"error\": \"Internal error\"}");
      }
      exchange.DrainBody();
      if (exchange.close() || !parser.keep_alive()) break;
    }
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_send, ec);
    std::lock_guard<std::mutex> lock(mu_);
    live_fds_.erase(socket.native_handle());
    socket.close(ec);
    if (live_fds_.empty()) idle_.notify_all();
  }

  const HttpServerOptions options_;
  HttpHandler* const handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread accept_thread_;

  std::mutex mu_;
  std::condition_variable idle_;
  bool stopping_ = false;       // guarded by mu_
  std::set<int> live_fds_;      // guarded by mu_
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

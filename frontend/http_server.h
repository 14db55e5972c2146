// A blocking HTTP/1.1 server on Boost.Beast: one acceptor thread and one
// thread per connection (capped). Request bodies stream through
// HttpExchange; nothing buffers a whole upload.
//
// Threads: the acceptor thread owns the listening socket; each connection
// thread owns its socket, parser and buffers and runs the handler; a
// watchdog thread enforces the timeouts by shutting down the socket of a
// connection whose deadline passed (which wakes its blocked read or write).
// The server owns the registry of live connections (guarded by a mutex), so
// Shutdown() can drain them and wait for their threads.
#ifndef BERTH_FRONTEND_HTTP_SERVER_H_
#define BERTH_FRONTEND_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "frontend/http_exchange.h"

namespace berth::frontend {

struct HttpServerOptions {
  std::string listen = "127.0.0.1:5000";
  size_t max_connections = 1024;
  size_t header_limit = 64 * 1024;  // larger request headers get 431
  // A request header must arrive within this (408 if it started, silent
  // close if nothing came).
  absl::Duration header_timeout = absl::Seconds(30);
  // Keep-alive connections waiting for their next request close after this.
  absl::Duration idle_timeout = absl::Seconds(60);
  // A body read or a response write that makes no progress for this long
  // fails (a slow client cannot pin a connection).
  absl::Duration io_timeout = absl::Seconds(60);
  // On Shutdown(), in-flight requests get this long to finish.
  absl::Duration drain_timeout = absl::Seconds(30);
  // Optional; request counts, latency, bytes, connections.
  Metrics* metrics = nullptr;
  // Writes one access-log line per request at info level.
  bool access_log = true;
  // Both set: serve HTTPS (TLS 1.2+) with this PEM certificate chain and
  // key instead of HTTP. A failed handshake closes the connection (debug
  // log, berth_http_tls_handshake_failures_total).
  std::string tls_cert_file;
  std::string tls_key_file;
};

class HttpServer {
 public:
  // Binds and starts accepting. `handler` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, HttpHandler* handler);
  virtual ~HttpServer() = default;

  virtual int port() const = 0;
  // Stops accepting, closes idle connections, lets in-flight requests
  // finish (up to drain_timeout), then closes the rest and waits for every
  // connection thread.
  virtual void Shutdown() = 0;
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_HTTP_SERVER_H_

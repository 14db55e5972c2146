// A blocking HTTP/1.1 server on Boost.Beast: one acceptor thread and one
// thread per connection (capped). Request bodies stream through
// HttpExchange; nothing buffers a whole upload.
//
// Threads: the acceptor thread owns the listening socket; each connection
// thread owns its socket, parser and buffers and runs the handler. The
// server object owns the registry of live connections (guarded by mu_), so
// Shutdown() can wake every blocked read and wait for the threads to end.
#ifndef BERTH_FRONTEND_HTTP_SERVER_H_
#define BERTH_FRONTEND_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "frontend/http_exchange.h"

namespace berth::frontend {

struct HttpServerOptions {
  std::string listen = "127.0.0.1:5000";
  size_t max_connections = 1024;
  size_t header_limit = 64 * 1024;  // larger request headers get 431
};

class HttpServer {
 public:
  // Binds and starts accepting. `handler` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, HttpHandler* handler);
  virtual ~HttpServer() = default;

  virtual int port() const = 0;
  // Stops accepting, wakes every connection and waits for their threads.
  virtual void Shutdown() = 0;
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_HTTP_SERVER_H_

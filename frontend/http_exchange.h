// One HTTP request/response exchange as the v1 handlers see it.
//
// The connection thread that owns the socket creates the exchange, calls the
// handler on the same thread and then decides whether the connection can be
// kept alive. Handlers read the request body at most once (as a whole or as
// a stream) and answer exactly once.
#ifndef BERTH_FRONTEND_HTTP_EXCHANGE_H_
#define BERTH_FRONTEND_HTTP_EXCHANGE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::frontend {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class HttpExchange {
 public:
  virtual ~HttpExchange() = default;

  virtual const std::string& method() const = 0;
  // The request target as sent (path and query).
  virtual const std::string& target() const = 0;
  // First value of a request header (case-insensitive name), if present.
  virtual std::optional<std::string> header(absl::string_view name) const = 0;
  // The declared Content-Length, if the request has one.
  virtual std::optional<uint64_t> content_length() const = 0;
  // This request's id (the client's X-Request-Id if sane, else random);
  // echoed in the response and written to the access log.
  virtual const std::string& request_id() const = 0;
  // Names the endpoint for metrics and the access log (default "other").
  virtual void set_route_label(const std::string& label) = 0;
  // Adds a header to whatever answer this exchange sends (e.g. Set-Cookie
  // decided during authentication).
  virtual void AddResponseHeader(const std::string& name,
                                 const std::string& value) = 0;

  // Reads the whole body. RESOURCE_EXHAUSTED if it exceeds `limit` bytes
  // (then the connection is not reused), other errors on a broken body.
  virtual absl::StatusOr<std::string> ReadBody(size_t limit) = 0;

  // Streams the body to `sink` piece by piece until its end. An error from
  // `sink` stops reading and is returned; a cut-off body is DATA_LOSS; a
  // client that stalls longer than the body timeout is DEADLINE_EXCEEDED.
  virtual absl::Status StreamBody(
      const std::function<absl::Status(absl::string_view)>& sink) = 0;

  // Sends a complete answer. For HEAD the body is not sent but
  // Content-Length stays that of the body.
  virtual void Respond(int status, const HeaderList& headers,
                       std::string body) = 0;

  // Sends the header with Content-Length `length`, then the bytes `producer`
  // writes through its argument (exactly `length` of them, unless it fails:
  // then the connection is closed so the client sees a short body, never a
  // wrong one). For HEAD the producer is not called.
  virtual void RespondStream(
      int status, const HeaderList& headers, uint64_t length,
      const std::function<absl::Status(
          const std::function<absl::Status(absl::string_view)>&)>& producer) = 0;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void Handle(HttpExchange& exchange) = 0;
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_HTTP_EXCHANGE_H_

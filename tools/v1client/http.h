// A small blocking HTTP/1.1 client (Boost.Beast over TCP or TLS) for the v1
// client library: one request per connection ("Connection: close", as docker
// 1.x did), request bodies from memory or streamed with chunked transfer
// coding, response bodies into memory or streamed to a sink.
//
// Stateless and thread-compatible: each Send owns its own socket.
#ifndef BERTH_TOOLS_V1CLIENT_HTTP_H_
#define BERTH_TOOLS_V1CLIENT_HTTP_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace berth::v1client {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Url {
  std::string scheme = "http";
  std::string host;
  uint16_t port = 80;
  std::string path = "/";  // path and query

  std::string HostPort() const;  // "host:port" (port always shown)
  std::string Origin() const;    // "scheme://host:port"
};

// "http://host[:port][/path]", "https://host[:port][/path]" (port 443) or
// "host[:port][/path]" (then http).
absl::StatusOr<Url> ParseUrl(absl::string_view text);

struct HttpResponse {
  int status = 0;
  Headers headers;   // in the order received
  std::string body;  // empty when a sink took it

  // The first header called `name` (case-insensitive).
  std::optional<std::string> Header(absl::string_view name) const;
  // Every header line called `name`, in order.
  std::vector<std::string> HeaderValues(absl::string_view name) const;
};

// Returns the next piece of a streamed request body; an empty string ends it.
using BodySource = std::function<absl::StatusOr<std::string>()>;
// Receives the body of a 2xx response piece by piece. An error aborts the
// transfer and is returned by Send.
using BodySink = std::function<absl::Status(absl::string_view)>;

// Sees the status and headers of a response before its body is read (e.g.
// to reset a resume when a Range was ignored). An error aborts the call.
using HeadFn = std::function<absl::Status(const HttpResponse&)>;

struct HttpCall {
  std::string method = "GET";
  Url url;
  Headers headers;   // Host, User-Agent, Connection and framing are added
  std::string body;  // sent with Content-Length (ignored if `source` is set)
  BodySource source;  // sent with Transfer-Encoding: chunked
  BodySink sink;      // if set, 2xx bodies go here instead of into `body`
  HeadFn on_head;
  bool head = false;  // a HEAD request: the response has no body
  // Idle timeout of each socket operation (connect, send, receive).
  absl::Duration timeout = absl::Seconds(60);
  std::string user_agent = "berthctl-v1client/1.0";
  // https: PEM CA file the server's certificate is verified against (it
  // must also name url.host); empty = the system's trusted CAs.
  std::string ca_file;
};

// Errors: UNAVAILABLE (cannot connect, TLS handshake or certificate check
// failed, connection cut before the response was complete),
// DEADLINE_EXCEEDED (a socket operation timed out), INTERNAL (malformed
// response), INVALID_ARGUMENT (unusable ca_file), or whatever the
// sink/source returned.
absl::StatusOr<HttpResponse> Send(const HttpCall& call);

}  // namespace berth::v1client

#endif  // BERTH_TOOLS_V1CLIENT_HTTP_H_

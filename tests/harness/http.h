// A tiny blocking HTTP/1.1 client over a raw socket, for readiness checks
// and simple requests in tests. One request per connection (it sends
// "Connection: close"); the body is read by Content-Length, chunked
// transfer coding, or until the server closes. HTTPS when the request names
// a CA file (the server's certificate is verified against it and must name
// the host). No redirects.
#ifndef BERTH_TESTS_HARNESS_HTTP_H_
#define BERTH_TESTS_HARNESS_HTTP_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace berth::testing {

struct HttpRequest {
  std::string method = "GET";
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/";  // with the query string, if any
  // Sent as given. Host, Connection: close and (with a body, or for
  // POST/PUT/PATCH) Content-Length are added unless present here.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Covers connecting, sending and reading the whole response.
  absl::Duration timeout = absl::Seconds(10);
  // Non-empty: HTTPS (TLS 1.2+), verifying the server against this PEM CA
  // file and `host` (IP address or DNS name).
  std::string tls_ca_file;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  // In the order received, names as sent by the server.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // de-chunked

  // The first header named `name` (case-insensitive).
  std::optional<std::string> Header(absl::string_view name) const;
};

// Errors: UNAVAILABLE (cannot connect, connection reset/closed early, TLS
// handshake failed), DEADLINE_EXCEEDED (timeout), INTERNAL (malformed
// response).
absl::StatusOr<HttpResponse> HttpFetch(const HttpRequest& request);

absl::StatusOr<HttpResponse> HttpGet(
    const std::string& host, int port, const std::string& path,
    absl::Duration timeout = absl::Seconds(10));

}  // namespace berth::testing

#endif  // BERTH_TESTS_HARNESS_HTTP_H_

// A per-session cookie jar like the one docker keeps for each pull/push
// (spec §1.5): stores cookies from every response, returns them on later
// requests to the same host. Host-only cookies (the Domain attribute is
// ignored: a v1 session talks to a handful of named hosts), Path prefix
// matching, Max-Age (0 or negative deletes) and Expires are honoured.
//
// Not thread-safe: owned by one Session.
#ifndef BERTH_TOOLS_V1CLIENT_COOKIE_JAR_H_
#define BERTH_TOOLS_V1CLIENT_COOKIE_JAR_H_

#include <map>
#include <string>
#include <tuple>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace berth::v1client {

class CookieJar {
 public:
  // Records one Set-Cookie header value received from `host` for a request
  // to `request_path`. Malformed values are ignored.
  void Store(absl::string_view host, absl::string_view request_path,
             absl::string_view set_cookie, absl::Time now = absl::Now());
  // The Cookie header value for a request to host/path ("" if none).
  std::string CookieHeader(absl::string_view host, absl::string_view path,
                           absl::Time now = absl::Now()) const;
  size_t size() const { return cookies_.size(); }

 private:
  struct Cookie {
    std::string value;
    absl::Time expires = absl::InfiniteFuture();
  };
  // (host, path, name) -> cookie
  std::map<std::tuple<std::string, std::string, std::string>, Cookie> cookies_;
};

}  // namespace berth::v1client

#endif  // BERTH_TOOLS_V1CLIENT_COOKIE_JAR_H_

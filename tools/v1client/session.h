// One docker-1.x-style conversation with a v1 index and its registries
// (spec §1.2–§1.5, §5): ping and mode detection, Basic login, tokens from
// X-Docker-Token, a cookie jar, endpoints from X-Docker-Endpoints, and the
// Authorization header docker would put on each call.
//
// Not thread-safe: a Session is driven by one thread (the push or pull).
#ifndef BERTH_TOOLS_V1CLIENT_SESSION_H_
#define BERTH_TOOLS_V1CLIENT_SESSION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/v1client/cookie_jar.h"
#include "tools/v1client/http.h"

namespace berth::v1client {

struct Credentials {
  std::string username;
  std::string password;
  bool empty() const { return username.empty(); }
  // "Basic <base64(user:password)>"; "Basic Og==" when empty (docker's form).
  std::string BasicHeader() const;
};

// X-Docker-Encrypt (spec §6.2): a flag and scheme parameters.
struct EncryptHeader {
  bool flag = false;
  std::vector<std::string> schemes;
  bool Supports(absl::string_view scheme) const;
};
absl::StatusOr<EncryptHeader> ParseEncryptHeader(absl::string_view value);

struct PingInfo {
  bool standalone = true;  // a missing header means standalone (§1.3)
  std::string version;
  std::optional<EncryptHeader> encrypt;  // absent: extension unknown
};
// docker's reading of a _ping answer (§2.1): header true/1 (any case) ->
// standalone, other non-empty -> index mode, absent -> the body's
// "standalone" field if it decodes, else standalone.
PingInfo ParsePing(const HttpResponse& response);

enum class CallKind { kIndex, kRegistry };

// The Authorization header docker sends (spec §1.2, §1.3, §5.3, §5.5);
// "" means none. `basic_always`: index calls that docker always sends with
// Basic (push: `Og==` when not logged in); otherwise Basic only when logged
// in. Registry calls carry "Token " + all tokens joined with "," (also with
// no token: docker then sends "Token "), except over TLS in standalone mode
// where docker's decorator puts Basic on every request.
std::string AuthorizationFor(CallKind kind, bool tls, bool standalone,
                             const Credentials& creds, bool basic_always,
                             const std::vector<std::string>& tokens);

// X-Docker-Endpoints (possibly several header lines, comma-separated
// host[:port]) -> base URLs with the index's scheme.
absl::StatusOr<std::vector<Url>> ParseEndpoints(
    const std::vector<std::string>& header_values, const std::string& scheme);

// Tokens and endpoints handed out by an index call.
struct Grant {
  std::vector<std::string> tokens;  // every X-Docker-Token line, in order
  std::vector<Url> endpoints;
};

struct SessionOptions {
  Url index;  // base URL; paths are appended to its origin
  Credentials credentials;
  // Sent as X-Docker-Encrypt on every request (client capability, §6.3).
  std::optional<std::string> encrypt_capability;
  absl::Duration timeout = absl::Seconds(60);
  std::string user_agent = "berthctl-v1client/1.0 (docker-v1 compatible)";
  std::string ca_file;  // https: CA to verify the registry (HttpCall)
};

class Session {
 public:
  explicit Session(SessionOptions options) : options_(std::move(options)) {}

  // GET /v1/_ping; UNAVAILABLE with a clear message if unreachable.
  absl::Status Ping();
  const PingInfo& ping() const { return ping_; }

  // docker login (§5.1) without account creation: GET /v1/users/ with
  // Basic. UNAUTHENTICATED "wrong username or password", PERMISSION_DENIED
  // for an inactive account.
  absl::Status Login();

  // An index call (Basic per AuthorizationFor, X-Docker-Token: true).
  // Records tokens/endpoints of the answer into `grant` if given.
  absl::StatusOr<HttpResponse> IndexCall(const std::string& method,
                                         const std::string& path,
                                         Headers headers, std::string body,
                                         bool basic_always);

  // A registry call on `endpoint` (path relative to the origin, e.g.
  // "/v1/images/<id>/json"), with the grant's tokens, cookies and the
  // encryption capability. GETs follow up to 5 redirects (Authorization is
  // dropped when the host changes, as docker did).
  absl::StatusOr<HttpResponse> RegistryCall(const Url& endpoint,
                                            const std::string& method,
                                            const std::string& path,
                                            Headers headers = {},
                                            std::string body = "",
                                            BodySource source = nullptr,
                                            BodySink sink = nullptr,
                                            HeadFn on_head = nullptr);

  // Fills the grant from an index answer: tokens (all X-Docker-Token lines)
  // and endpoints (X-Docker-Endpoints, or the index itself if absent and
  // `endpoints_required` is false).
  absl::Status TakeGrant(const HttpResponse& r, bool token_required,
                         bool endpoints_required);
  const Grant& grant() const { return grant_; }
  const CookieJar& cookies() const { return jar_; }
  const SessionOptions& options() const { return options_; }
  bool tls() const { return options_.index.scheme == "https"; }

 private:
  absl::StatusOr<HttpResponse> Do(HttpCall call);

  SessionOptions options_;
  PingInfo ping_;
  Grant grant_;
  CookieJar jar_;
};

// A short description of an error answer for messages: status and the
// {"error": …} text (or the start of the body).
std::string DescribeAnswer(const HttpResponse& r);

}  // namespace berth::v1client

#endif  // BERTH_TOOLS_V1CLIENT_SESSION_H_

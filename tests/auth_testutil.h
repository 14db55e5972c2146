// Helpers for the account/token/permission tests (tests/auth_*_test.cc) and
// the encryption-extension tests (tests/encrypt_*_test.cc): Basic
// credentials, token and session-cookie surgery (spec §1.4.3, §1.5),
// starting `berth serve` in an auth mode, sign-up and one-call writes.
#ifndef BERTH_TESTS_AUTH_TESTUTIL_H_
#define BERTH_TESTS_AUTH_TESTUTIL_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"

namespace berth::testing {

using HeaderVec = std::vector<std::pair<std::string, std::string>>;

// "Basic " + base64(user ":" password).
std::string Basic(const std::string& user, const std::string& password);

// The parts of a token in the form of spec §1.4.1/§1.4.3:
// signature=<expires>.<nonce>.<mac>,repository="<repo>",access=<access>.
struct TokenParts {
  std::string expires;
  std::string nonce;
  std::string mac;
  std::string repository;
  std::string access;
  // Rebuilds the bare token (same key order as the server sends).
  std::string Join() const;
};
// Parses a bare token exactly in the server's form; nullopt otherwise.
std::optional<TokenParts> ParseToken(const std::string& token);

// Flips one hex digit (0<->1, others -> '0' or '1') at `pos` of `hex`.
std::string FlipHex(std::string hex, size_t pos);

// The value of `session=` in the response's Set-Cookie header(s); "" if
// none. `attributes` gets the rest of that header line ("; Path=/; ...").
std::string SessionCookie(const HttpResponse& r, std::string* attributes = nullptr);

// Writes `content` to `path`; false on failure.
bool WriteFile(const std::string& path, const std::string& content);

// A `berth serve` for these tests, with its own data dir and log under a
// fresh temp dir. `extra` are flags after --listen/--data; an
// administrator "admin" with password kAdminPassword is added when
// `with_admin`.
inline constexpr char kAdminUser[] = "admin";
inline constexpr char kAdminPassword[] = "admin-secret-pw";
struct Server {
  int port = 0;
  std::string dir;
  std::unique_ptr<Process> process;
  RegistryClient client() const { return RegistryClient("127.0.0.1", port); }
};
absl::StatusOr<std::unique_ptr<Server>> StartServer(const std::string& name,
                                                    std::vector<std::string> extra,
                                                    bool with_admin = true);

// POST /v1/users/ with the docker login body (§2.3.1).
absl::StatusOr<HttpResponse> SignUp(const RegistryClient& c, const std::string& user,
                                    const std::string& password,
                                    const std::string& email);

// PUT /v1/repositories/<repo>/ with `auth` (Authorization value, "" for
// none), X-Docker-Token: true and an image list naming `ids`.
absl::StatusOr<HttpResponse> PutRepo(const RegistryClient& c, const std::string& repo,
                                     const std::string& auth,
                                     const std::vector<std::string>& ids);

// PUT /v1/repositories/<repo>/ as above; the X-Docker-Token of a 200
// answer, or an error naming the answer.
absl::StatusOr<std::string> WriteToken(const RegistryClient& c, const std::string& repo,
                                       const std::string& auth,
                                       const std::vector<std::string>& ids);

// GET /v1/repositories/<repo>/images with `auth` and X-Docker-Token: true;
// the read token of a 200 answer, or an error.
absl::StatusOr<std::string> ReadToken(const RegistryClient& c, const std::string& repo,
                                      const std::string& auth);

// "GET /path" style label plus status and body, for assertion messages.
std::string Show(const HttpResponse& r);

}  // namespace berth::testing

#endif  // BERTH_TESTS_AUTH_TESTUTIL_H_

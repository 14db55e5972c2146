// Authentication and authorisation of v1 requests (spec §1.2–§1.5, §2.0,
// §7.9): who is calling (anonymous, an account by Basic credentials, or a
// token/cookie grant) and what they may do.
//
// Thread-safe: called from every connection thread. The token secrets and
// recently verified passwords are cached under mu_ (secrets are refreshed
// from metadata when a token fails to verify, at most once a second; a
// verified password is trusted for `password_cache_ttl`, so a password
// change takes that long to reach every frontend).
#ifndef BERTH_FRONTEND_ACCESS_H_
#define BERTH_FRONTEND_ACCESS_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "frontend/auth/tokens.h"
#include "frontend/http_exchange.h"
#include "metadata/metadata_client.h"

namespace berth::frontend {

enum class AuthMode {
  kNone,   // standalone, auth = none: everything allowed (PY)
  kBasic,  // standalone, auth = basic
  kIndex,  // index mode: tokens on registry paths
};

struct AccessOptions {
  AuthMode mode = AuthMode::kNone;
  absl::Duration token_lifetime = absl::Seconds(3600);
  absl::Duration password_cache_ttl = absl::Seconds(30);
  bool signup = true;
};

struct Caller {
  bool anonymous = true;
  std::string username;     // account (Basic) callers
  bool admin = false;
  bool active = true;
  std::optional<auth::Grant> grant;  // token or cookie callers
  bool via_cookie = false;
};

// The outcome of a check that failed: the exact HTTP answer.
struct Denial {
  int status = 401;
  std::string message;
  std::string www_authenticate;  // "" = none
};

class AccessControl {
 public:
  AccessControl(AccessOptions options, meta::MetadataClient* metadata);

  const AccessOptions& options() const { return options_; }

  // Step 2 of the §2.0 order: who is calling. `registry_path` marks
  // /v1/images/... and /v1/repositories/.../tags... (index mode takes only
  // tokens and cookies there). A Denial for wrong credentials (never
  // anonymous, §7.9 rule 2); UNAVAILABLE statuses come back as 503 denials.
  absl::StatusOr<Caller> Authenticate(HttpExchange& ex, bool registry_path,
                                      Denial* denial);

  // May `caller` use `access` on repository `name` ("ns/repo")? `repo` is
  // the repository record if it exists (its private flag and owner).
  std::optional<Denial> CheckRepository(
      const Caller& caller, const std::string& name, auth::Access access,
      const meta::RepositoryRecord* repo) const;

  // May `caller` read image `id`? Consults the repositories listing it.
  // nullopt = yes; otherwise the answer to give (404 hides the image).
  absl::StatusOr<std::optional<Denial>> CheckImageRead(const Caller& caller,
                                                      const std::string& id);
  // May `caller` write image `id` (PUT json/layer/checksum)?
  absl::StatusOr<std::optional<Denial>> CheckImageWrite(const Caller& caller,
                                                       const std::string& id,
                                                       bool is_json);

  // May `caller` add existing image `id` to a repository's image list (a
  // list PUT or a tag) or name it as a parent? Only if no repository lists it yet, a public one
  // does, or the caller can read one that does: otherwise anybody who
  // learnt a private image's id could list it in their own repository and
  // read it through that repository's token.
  absl::StatusOr<bool> MayList(const Caller& caller, const std::string& id);

  // A token (and matching cookie value) for `name` with `access`.
  absl::StatusOr<std::string> IssueToken(const std::string& name,
                                         auth::Access access);
  absl::StatusOr<std::string> IssueCookie(const auth::Grant& grant);

  // The 401 answer for an anonymous or wrongly authenticated caller here.
  Denial Unauthenticated(bool registry_path) const;

 private:
  absl::StatusOr<std::vector<std::string>> Secrets(bool refresh);
  absl::StatusOr<meta::MetadataClient::PasswordCheck> CheckPassword(
      const std::string& username, const std::string& password);
  bool CanRead(const Caller& caller, const std::string& name,
               const meta::RepositoryRecord* repo) const;
  bool CanWrite(const Caller& caller, const std::string& name) const;

  const AccessOptions options_;
  meta::MetadataClient* const metadata_;

  std::mutex mu_;
  std::vector<std::string> secrets_;  // guarded by mu_
  absl::Time secrets_fetched_;        // guarded by mu_
  struct CachedLogin {
    meta::UserRecord user;
    absl::Time expires;
  };
  std::map<std::string, CachedLogin> logins_;  // guarded by mu_; key: sha256
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_ACCESS_H_

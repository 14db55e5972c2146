#include "frontend/access.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "common/sha256.h"
#include "spdlog/spdlog.h"

namespace berth::frontend {
namespace {

constexpr char kBasicChallenge[] = "Basic realm=\"berth\"";

Denial TokenDenial() { return {401, "Requires authorization", "Token"}; }
Denial Forbidden() { return {403, "Access denied", ""}; }
Denial Inactive() { return {403, "Account is not Active", ""}; }

std::string Namespace(const std::string& name) {
  return name.substr(0, name.find('/'));
}

bool Covers(auth::Access granted, auth::Access needed) {
  return needed == auth::Access::kRead || granted == needed;
}

}  // namespace

AccessControl::AccessControl(AccessOptions options,
                             meta::MetadataClient* metadata)
    : options_(options), metadata_(metadata) {}

Denial AccessControl::Unauthenticated(bool registry_path) const {
  if (options_.mode == AuthMode::kIndex && registry_path) return TokenDenial();
  return {401, "Requires authorization", kBasicChallenge};
}

absl::StatusOr<std::vector<std::string>> AccessControl::Secrets(bool refresh) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Re-read at least every 10 s even without a failed verification:
    // after `berthctl secret rotate` new tokens must soon use the new
    // secret, or a second rotation would end tokens issued meanwhile.
    const absl::Duration age = absl::Now() - secrets_fetched_;
    const bool fresh_enough = age < absl::Seconds(1);
    if (!secrets_.empty() && ((!refresh && age < absl::Seconds(10)) ||
                              fresh_enough)) {
      return secrets_;
    }
  }
  auto config = metadata_->EnsureTokenSecret();
  if (!config.ok()) return config.status();
  std::vector<std::string> secrets(config->token_secrets().begin(),
                                   config->token_secrets().end());
  if (secrets.empty()) return absl::UnavailableError("no token secret");
  std::lock_guard<std::mutex> lock(mu_);
  secrets_ = secrets;
  secrets_fetched_ = absl::Now();
  return secrets;
}

absl::StatusOr<meta::MetadataClient::PasswordCheck>
AccessControl::CheckPassword(const std::string& username,
                             const std::string& password) {
  const std::string key = Sha256Hex(absl::StrCat(username, "\n", password));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = logins_.find(key);
    if (it != logins_.end() && it->second.expires > absl::Now()) {
      meta::MetadataClient::PasswordCheck cached;
      cached.known = cached.matches = true;
      cached.user = it->second.user;
      return cached;
    }
  }
  auto check = metadata_->VerifyPassword(username, password);
  if (!check.ok()) return check.status();
  if (check->known && check->matches) {
    std::lock_guard<std::mutex> lock(mu_);
    if (logins_.size() > 10000) logins_.clear();  // bound the cache
    logins_[key] = {check->user, absl::Now() + options_.password_cache_ttl};
  }
  return check;
}

absl::StatusOr<Caller> AccessControl::Authenticate(HttpExchange& ex,
                                                   bool registry_path,
                                                   Denial* denial) {
  Caller caller;
  if (options_.mode == AuthMode::kNone) {
    caller.anonymous = false;
    caller.admin = true;  // PY standalone: every request is allowed
    return caller;
  }
  auth::Credentials creds =
      auth::ParseAuthorization(ex.header("Authorization").value_or(""));
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  switch (creds.kind) {
    case auth::Credentials::Kind::kMalformed:
      *denial = Unauthenticated(registry_path);
      return absl::PermissionDeniedError("malformed credentials");
    case auth::Credentials::Kind::kToken: {
      auto secrets = Secrets(false);
      if (!secrets.ok()) return secrets.status();
      auto grant = auth::VerifyToken(*secrets, creds, now);
      if (absl::IsPermissionDenied(grant.status())) {
        // Maybe issued under a secret this frontend has not seen yet.
        secrets = Secrets(true);
        if (!secrets.ok()) return secrets.status();
        grant = auth::VerifyToken(*secrets, creds, now);
      }
      if (!grant.ok()) {
        // "A request without a usable token but with a valid cookie is
        // authorised with the cookie's repository and access" (spec §1.5):
        // an expired or otherwise invalid token next to a valid cookie.
        std::string cookie =
            auth::CookieValue(ex.header("Cookie").value_or(""), "session");
        auto session = cookie.empty()
                           ? absl::StatusOr<auth::Grant>(
                                 absl::PermissionDeniedError("no cookie"))
                           : auth::VerifyCookie(*secrets, cookie, now);
        if (session.ok()) {
          caller.anonymous = false;
          caller.grant = *session;
          caller.via_cookie = true;
          if (auto refreshed = IssueCookie(*session); refreshed.ok()) {
            ex.AddResponseHeader("Set-Cookie",
                                 "session=" + *refreshed + "; Path=/; HttpOnly");
          }
          return caller;
        }
        *denial = TokenDenial();
        return absl::PermissionDeniedError(grant.status().message());
      }
      caller.anonymous = false;
      caller.grant = *grant;
      // A session cookie for the rest of the pull/push (spec §1.5).
      if (auto cookie = IssueCookie(*grant); cookie.ok()) {
        ex.AddResponseHeader("Set-Cookie",
                             "session=" + *cookie + "; Path=/; HttpOnly");
      }
      return caller;
    }
    case auth::Credentials::Kind::kBasic: {
      if (options_.mode == AuthMode::kIndex && registry_path) {
        *denial = TokenDenial();  // §7.9 rule 3
        return absl::PermissionDeniedError("Basic on a registry path");
      }
      auto check = CheckPassword(creds.username, creds.password);
      if (!check.ok()) return check.status();
      if (!check->known || !check->matches) {
        *denial = {401, "Wrong login/password", kBasicChallenge};
        return absl::PermissionDeniedError("wrong credentials");
      }
      caller.anonymous = false;
      caller.username = check->user.username();
      caller.admin = check->user.admin();
      caller.active = check->user.active();
      return caller;
    }
    case auth::Credentials::Kind::kNone:
      break;
  }
  // No usable Authorization: a session cookie, else anonymous.
  std::string cookie =
      auth::CookieValue(ex.header("Cookie").value_or(""), "session");
  if (!cookie.empty()) {
    auto secrets = Secrets(false);
    if (!secrets.ok()) return secrets.status();
    auto grant = auth::VerifyCookie(*secrets, cookie, now);
    if (grant.ok()) {
      caller.anonymous = false;
      caller.grant = *grant;
      caller.via_cookie = true;
      // Idle lifetime: each successful use extends the session.
      if (auto refreshed = IssueCookie(*grant); refreshed.ok()) {
        ex.AddResponseHeader("Set-Cookie",
                             "session=" + *refreshed + "; Path=/; HttpOnly");
      }
      return caller;
    }
  }
  if (options_.mode == AuthMode::kIndex && registry_path) {
    *denial = TokenDenial();
    return absl::PermissionDeniedError("registry path without a token");
  }
  return caller;
}

bool AccessControl::CanRead(const Caller& caller, const std::string& name,
                            const meta::RepositoryRecord* repo) const {
  if (repo == nullptr || !repo->is_private()) return true;
  if (caller.admin) return true;
  if (caller.grant) return caller.grant->repository == name;
  return !caller.anonymous && caller.active &&
         (Namespace(name) == caller.username ||
          repo->owner() == caller.username);
}

bool AccessControl::CanWrite(const Caller& caller,
                             const std::string& name) const {
  if (caller.admin) return true;
  if (caller.anonymous || !caller.active) return false;
  const std::string ns = Namespace(name);
  return ns != "library" && ns == caller.username;
}

std::optional<Denial> AccessControl::CheckRepository(
    const Caller& caller, const std::string& name, auth::Access access,
    const meta::RepositoryRecord* repo) const {
  if (options_.mode == AuthMode::kNone || caller.admin) return std::nullopt;
  if (caller.grant) {
    if (caller.grant->repository != name ||
        !Covers(caller.grant->access, access)) {
      return TokenDenial();
    }
    return std::nullopt;
  }
  if (!caller.anonymous && !caller.active) return Inactive();
  bool allowed = access == auth::Access::kRead ? CanRead(caller, name, repo)
                                               : CanWrite(caller, name);
  if (allowed) return std::nullopt;
  if (caller.anonymous) return Unauthenticated(false);
  return Forbidden();
}

absl::StatusOr<std::optional<Denial>> AccessControl::CheckImageRead(
    const Caller& caller, const std::string& id) {
  if (options_.mode == AuthMode::kNone || caller.admin) return std::nullopt;
  meta::GetImageRepositoriesRequest request;
  request.set_id(id);
  auto response = metadata_->GetImageRepositories(request);
  if (!response.ok()) return response.status();
  bool listed_private = false;
  for (const auto& repo : response->repositories()) {
    const bool token_scope = caller.grant && repo.name() == caller.grant->repository;
    // Index mode: a token reads only images of its own repository (§1.4.4).
    if (options_.mode == AuthMode::kIndex && caller.grant) {
      if (token_scope) return std::nullopt;
      continue;
    }
    if (!repo.is_private() || token_scope) return std::nullopt;
    meta::RepositoryRecord record;
    record.set_is_private(true);
    record.set_owner(repo.owner());
    if (!caller.grant && CanRead(caller, repo.name(), &record)) {
      return std::nullopt;
    }
    listed_private = true;
  }
  if (listed_private && !caller.grant) {
    // Readable only through a private repository (§7.9 rule 1).
    if (caller.anonymous) return Unauthenticated(true);
    return caller.active ? Forbidden() : Inactive();
  }
  return Denial{404, "Image not found", ""};
}

absl::StatusOr<bool> AccessControl::MayList(const Caller& caller,
                                            const std::string& id) {
  if (options_.mode == AuthMode::kNone || caller.admin) return true;
  meta::GetImageRepositoriesRequest request;
  request.set_id(id);
  auto response = metadata_->GetImageRepositories(request);
  if (!response.ok()) return response.status();
  if (response->repositories().empty()) return true;
  for (const auto& repo : response->repositories()) {
    if (!repo.is_private()) return true;
    if (caller.grant) {
      if (repo.name() == caller.grant->repository) return true;
      continue;
    }
    meta::RepositoryRecord record;
    record.set_is_private(true);
    record.set_owner(repo.owner());
    if (CanRead(caller, repo.name(), &record)) return true;
  }
  return false;
}

absl::StatusOr<std::optional<Denial>> AccessControl::CheckImageWrite(
    const Caller& caller, const std::string& id, bool is_json) {
  if (options_.mode == AuthMode::kNone || caller.admin) return std::nullopt;
  if (caller.grant) {
    if (caller.grant->access != auth::Access::kWrite) return TokenDenial();
    if (options_.mode != AuthMode::kIndex) return std::nullopt;
    // Index mode: the image must be in the token repository's list.
    meta::GetRepositoryRequest request;
    request.set_name(caller.grant->repository);
    auto response = metadata_->GetRepository(request);
    if (!response.ok()) return response.status();
    for (const auto& entry : response->repository().images()) {
      if (entry.id() == id) return std::nullopt;
    }
    if (is_json) {
      return Denial{400, "This image does not belong to the repository", ""};
    }
    return TokenDenial();
  }
  if (caller.anonymous) return Unauthenticated(true);
  if (!caller.active) return Inactive();
  return std::nullopt;  // any active account may upload (§2.0, basic)
}

absl::StatusOr<std::string> AccessControl::IssueToken(const std::string& name,
                                                      auth::Access access) {
  auto secrets = Secrets(false);
  if (!secrets.ok()) return secrets.status();
  auth::Grant grant{name, access,
                    absl::ToUnixSeconds(absl::Now() + options_.token_lifetime)};
  return auth::IssueToken(secrets->front(), grant, RandomHex(8));
}

absl::StatusOr<std::string> AccessControl::IssueCookie(
    const auth::Grant& grant) {
  auto secrets = Secrets(false);
  if (!secrets.ok()) return secrets.status();
  auth::Grant refreshed = grant;
  refreshed.expires = absl::ToUnixSeconds(absl::Now() + absl::Seconds(3600));
  return auth::IssueCookie(secrets->front(), refreshed, RandomHex(8));
}

}  // namespace berth::frontend

// Accounts (spec §2.3) and the index's token checks (§2.4.6).
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "frontend/http_util.h"
#include "frontend/names.h"
#include "frontend/registry.h"
#include "nlohmann/json.hpp"

namespace berth::frontend {
namespace {

bool ValidUsername(const std::string& u) {
  static const std::regex kRule("^[a-z0-9_]{4,30}$");
  return std::regex_match(u, kRule);
}

bool ValidEmail(const std::string& e) {
  size_t at = e.find('@');
  return at != std::string::npos && at > 0 && at + 1 < e.size() &&
         e.find('@', at + 1) == std::string::npos;
}

// Reads a string field; "" when absent; false when present but not a string.
bool StringField(const nlohmann::json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

}  // namespace

void Registry::Users(HttpExchange& ex, const Route& r, const Caller& caller) {
  const AuthMode mode = access_->options().mode;
  if (mode == AuthMode::kNone) {
    // auth = none: PY standalone behaviour (spec §2.3).
    if (r.endpoint == Endpoint::kUser) {
      return ex.Respond(204, NoCacheHeaders(), "");
    }
    if (ex.method() == "POST") {
      absl::StatusOr<std::string> body = ex.ReadBody(options_.max_json_size);
      if (!body.ok() ||
          nlohmann::json::parse(*body, nullptr, false).is_discarded()) {
        return ReplyError(ex, 400, "Error Decoding JSON");
      }
      return ReplyJson(ex, 201, JsonString("User Created"));
    }
    return ReplyJson(ex, 200, JsonString("OK"));
  }
  if (r.endpoint == Endpoint::kUsers && ex.method() == "GET") {
    // Login check: Basic required.
    if (caller.anonymous || caller.grant) {
      return Deny(ex, access_->Unauthenticated(false));
    }
    if (!caller.active) return ReplyError(ex, 403, "Account is not Active");
    return ReplyJson(ex, 200, JsonString("OK"));
  }
  absl::StatusOr<std::string> body = ex.ReadBody(options_.max_json_size);
  if (!body.ok()) return ReplyError(ex, 400, "Error Decoding JSON");
  auto json = nlohmann::json::parse(*body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return ReplyError(ex, 400, "Error Decoding JSON");
  }
  std::string username, password, email;
  if (!StringField(json, "username", &username) ||
      !StringField(json, "password", &password) ||
      !StringField(json, "email", &email)) {
    return ReplyError(ex, 400, "Error Decoding JSON");
  }
  if (r.endpoint == Endpoint::kUsers) {  // POST: sign up
    if (!access_->options().signup) {
      return ReplyError(ex, 401, "Sign-up disabled");
    }
    if (!ValidUsername(username)) {
      return ReplyError(ex, 400, "Invalid username (must match ^[a-z0-9_]{4,30}$)");
    }
    if (password.size() < 5) {
      return ReplyError(ex, 400, "Password too short (at least 5 characters)");
    }
    if (!ValidEmail(email)) return ReplyError(ex, 400, "Invalid email address");
    auto result = metadata_->CreateUser(username, password, email,
                                        /*admin=*/false, /*active=*/true,
                                        absl::ToUnixSeconds(absl::Now()));
    if (!result.ok()) return ReplyUnavailable(ex, result.status());
    if (result->error().reason() == USER_ALREADY_EXISTS) {
      // docker compares this body byte for byte (spec §1.9.2).
      return ReplyJson(ex, 400, "\"Username or email already exists\"");
    }
    if (result->error().reason() != REASON_UNSPECIFIED) {
      return ReplyError(ex, 400, result->error().message());
    }
    return ReplyJson(ex, 201, JsonString("User Created"));
  }
  // PUT /v1/users/<username>/: that user or an administrator.
  if (caller.anonymous || caller.grant) {
    return Deny(ex, access_->Unauthenticated(false));
  }
  if (!caller.active) return ReplyError(ex, 403, "Account is not Active");
  if (caller.username != r.username && !caller.admin) {
    return ReplyError(ex, 403, "Access denied");
  }
  if (!password.empty() && password.size() < 5) {
    return ReplyError(ex, 400, "Password too short (at least 5 characters)");
  }
  if (!email.empty() && !ValidEmail(email)) {
    return ReplyError(ex, 400, "Invalid email address");
  }
  auto result = metadata_->UpdateUser(r.username, password, email,
                                      std::nullopt, std::nullopt);
  if (!result.ok()) return ReplyUnavailable(ex, result.status());
  if (result->error().reason() == USER_NOT_FOUND) {
    return ReplyError(ex, 404, "User not found");
  }
  if (result->error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 400, result->error().message());
  }
  ex.Respond(204, NoCacheHeaders(), "");
}

void Registry::TokenCheck(HttpExchange& ex, const Route& r,
                          const Caller& caller) {
  const std::string name = absl::StrCat(r.ns, "/", r.repo);
  if (access_->options().mode != AuthMode::kNone &&
      (!caller.grant || caller.grant->repository != name)) {
    return Deny(ex, {401, "Requires authorization", "Token"});
  }
  meta::GetRepositoryRequest request;
  request.set_name(name);
  auto response = metadata_->GetRepository(request);
  if (!response.ok()) return ReplyUnavailable(ex, response.status());
  if (response->error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 404, "Repository not found");
  }
  ReplyJson(ex, 200, JsonString("OK"));
}

void Registry::LayerAccess(HttpExchange& ex, const Route& r,
                           const Caller& caller) {
  if (access_->options().mode != AuthMode::kNone && !caller.grant) {
    return Deny(ex, {401, "Requires authorization", "Token"});
  }
  if (!ValidImageId(r.image_id)) return ReplyError(ex, 404, "Invalid image ID");
  auto denial = access_->CheckImageRead(caller, r.image_id);
  if (!denial.ok()) return ReplyUnavailable(ex, denial.status());
  ReplyJson(ex, 200, denial->has_value() ? "{\"access\": false}"
                                          : "{\"access\": true}");
}

}  // namespace berth::frontend

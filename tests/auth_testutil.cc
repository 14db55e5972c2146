#include "tests/auth_testutil.h"

#include <fstream>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/conformance_util.h"

namespace berth::testing {

std::string Basic(const std::string& user, const std::string& password) {
  return "Basic " + absl::Base64Escape(user + ":" + password);
}

std::string TokenParts::Join() const {
  return absl::StrCat("signature=", expires, ".", nonce, ".", mac,
                      ",repository=\"", repository, "\",access=", access);
}

std::optional<TokenParts> ParseToken(const std::string& token) {
  static const std::regex kForm(
      R"re(^signature=([0-9]+)\.([0-9a-f]{16})\.([0-9a-f]{64}),repository="([^"]*)",access=(read|write|delete)$)re");
  std::smatch m;
  if (!std::regex_match(token, m, kForm)) return std::nullopt;
  return TokenParts{m[1], m[2], m[3], m[4], m[5]};
}

std::string FlipHex(std::string hex, size_t pos) {
  if (pos < hex.size()) hex[pos] = hex[pos] == '0' ? '1' : '0';
  return hex;
}

std::string SessionCookie(const HttpResponse& r, std::string* attributes) {
  for (const auto& [name, value] : r.headers) {
    if (!absl::EqualsIgnoreCase(name, "Set-Cookie")) continue;
    if (!absl::StartsWith(value, "session=")) continue;
    std::string v = value.substr(strlen("session="));
    size_t semi = v.find(';');
    if (attributes != nullptr) {
      *attributes = semi == std::string::npos ? "" : v.substr(semi);
    }
    return v.substr(0, semi);
  }
  return "";
}

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  return static_cast<bool>(out);
}

absl::StatusOr<std::unique_ptr<Server>> StartServer(const std::string& name,
                                                    std::vector<std::string> extra,
                                                    bool with_admin) {
  auto s = std::make_unique<Server>();
  s->dir = MakeTempDir("berth-" + name + "-");
  s->port = FreePort();
  if (with_admin) {
    const std::string pw = s->dir + "/admin-password";
    if (!WriteFile(pw, std::string(kAdminPassword) + "\n")) {
      return absl::InternalError("cannot write " + pw);
    }
    extra.insert(extra.end(), {"--admin-user", kAdminUser,
                               "--admin-password-file", pw});
  }
  absl::StatusOr<std::unique_ptr<Process>> p = StartServeWith(
      s->port, s->dir + "/data", s->dir + "/serve.log", extra);
  if (!p.ok()) return p.status();
  s->process = *std::move(p);
  return s;
}

absl::StatusOr<HttpResponse> SignUp(const RegistryClient& c, const std::string& user,
                                    const std::string& password,
                                    const std::string& email) {
  nlohmann::json body = {{"username", user},
                         {"password", password},
                         {"auth", ""},
                         {"email", email}};
  return c.Request("POST", "/v1/users/",
                   {{"Content-Type", "application/json; charset=utf-8"}},
                   body.dump());
}

absl::StatusOr<HttpResponse> PutRepo(const RegistryClient& c, const std::string& repo,
                                     const std::string& auth,
                                     const std::vector<std::string>& ids) {
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& id : ids) list.push_back({{"id", id}});
  HeaderVec h = {{"X-Docker-Token", "true"}, {"Content-Type", "application/json"}};
  if (!auth.empty()) h.emplace_back("Authorization", auth);
  return c.Request("PUT", "/v1/repositories/" + repo + "/", h, list.dump());
}

absl::StatusOr<std::string> WriteToken(const RegistryClient& c, const std::string& repo,
                                       const std::string& auth,
                                       const std::vector<std::string>& ids) {
  absl::StatusOr<HttpResponse> r = PutRepo(c, repo, auth, ids);
  if (!r.ok()) return r.status();
  std::optional<std::string> token = r->Header("X-Docker-Token");
  if (r->status != 200 || !token || token->empty()) {
    return absl::FailedPreconditionError("PUT repository " + repo + ": " + Show(*r));
  }
  return *token;
}

absl::StatusOr<std::string> ReadToken(const RegistryClient& c, const std::string& repo,
                                      const std::string& auth) {
  HeaderVec h = {{"X-Docker-Token", "true"}};
  if (!auth.empty()) h.emplace_back("Authorization", auth);
  absl::StatusOr<HttpResponse> r =
      c.Request("GET", "/v1/repositories/" + repo + "/images", h);
  if (!r.ok()) return r.status();
  std::optional<std::string> token = r->Header("X-Docker-Token");
  if (r->status != 200 || !token || token->empty()) {
    return absl::FailedPreconditionError("GET images of " + repo + ": " + Show(*r));
  }
  return *token;
}

std::string Show(const HttpResponse& r) {
  std::string out = absl::StrCat(r.status, " ");
  for (const auto& [k, v] : r.headers) {
    if (absl::StartsWithIgnoreCase(k, "WWW-Auth") || absl::StartsWithIgnoreCase(k, "X-Docker")) {
      absl::StrAppend(&out, k, ": ", v, "; ");
    }
  }
  absl::StrAppend(&out, r.body.size() > 300 ? r.body.substr(0, 300) + "..." : r.body);
  return out;
}

}  // namespace berth::testing

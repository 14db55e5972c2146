#include "tools/v1client/session.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace berth::v1client {

std::string Credentials::BasicHeader() const {
  return "Basic " + absl::Base64Escape(absl::StrCat(username, ":", password));
}

bool EncryptHeader::Supports(absl::string_view scheme) const {
  if (!flag) return false;
  for (const auto& s : schemes) {
    if (s == scheme) return true;
  }
  return false;
}

absl::StatusOr<EncryptHeader> ParseEncryptHeader(absl::string_view value) {
  std::vector<absl::string_view> parts = absl::StrSplit(value, ';');
  EncryptHeader h;
  std::string flag = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
  if (flag == "true") {
    h.flag = true;
  } else if (flag != "false") {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed X-Docker-Encrypt \"", value, "\""));
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view p = absl::StripAsciiWhitespace(parts[i]);
    if (absl::ConsumePrefix(&p, "scheme=")) h.schemes.emplace_back(p);
  }
  return h;
}

PingInfo ParsePing(const HttpResponse& r) {
  PingInfo info;
  info.version = r.Header("X-Docker-Registry-Version").value_or("");
  std::optional<std::string> sa = r.Header("X-Docker-Registry-Standalone");
  if (sa.has_value() && !sa->empty()) {
    std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*sa));
    info.standalone = v == "true" || v == "1";
  } else {
    nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
    if (body.is_object() && body.contains("standalone") &&
        body["standalone"].is_boolean()) {
      info.standalone = body["standalone"].get<bool>();
    }
  }
  if (std::optional<std::string> enc = r.Header("X-Docker-Encrypt")) {
    absl::StatusOr<EncryptHeader> h = ParseEncryptHeader(*enc);
    if (h.ok()) info.encrypt = *h;
  }
  return info;
}

std::string AuthorizationFor(CallKind kind, bool tls, bool standalone,
                             const Credentials& creds, bool basic_always,
                             const std::vector<std::string>& tokens) {
  if (tls && standalone) return creds.BasicHeader();
  if (kind == CallKind::kIndex) {
    return (basic_always || !creds.empty()) ? creds.BasicHeader() : "";
  }
  return "Token " + absl::StrJoin(tokens, ",");
}

absl::StatusOr<std::vector<Url>> ParseEndpoints(
    const std::vector<std::string>& header_values, const std::string& scheme) {
  std::vector<Url> out;
  for (const std::string& line : header_values) {
    for (absl::string_view ep : absl::StrSplit(line, ',', absl::SkipWhitespace())) {
      ep = absl::StripAsciiWhitespace(ep);
      if (absl::StrContains(ep, "/")) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad X-Docker-Endpoints entry \"", ep, "\""));
      }
      absl::StatusOr<Url> u = ParseUrl(absl::StrCat(scheme, "://", ep));
      if (!u.ok()) return u.status();
      u->path = "/v1/";
      out.push_back(*u);
    }
  }
  return out;
}

std::string DescribeAnswer(const HttpResponse& r) {
  nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
  std::string text;
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    text = body["error"].get<std::string>();
  } else if (body.is_string()) {
    text = body.get<std::string>();
  } else {
    text = r.body.substr(0, 200);
  }
  return text.empty() ? absl::StrCat("HTTP ", r.status)
                      : absl::StrCat("HTTP ", r.status, ": ", text);
}

absl::StatusOr<HttpResponse> Session::Do(HttpCall call) {
  call.timeout = options_.timeout;
  call.user_agent = options_.user_agent;
  call.ca_file = options_.ca_file;
  std::string cookie = jar_.CookieHeader(call.url.host, call.url.path);
  if (!cookie.empty()) call.headers.emplace_back("Cookie", cookie);
  bool has_encrypt = false;
  for (const auto& [k, v] : call.headers) {
    if (absl::EqualsIgnoreCase(k, "X-Docker-Encrypt")) has_encrypt = true;
  }
  // A per-image declaration (PUT json) replaces the capability.
  if (options_.encrypt_capability.has_value() && !has_encrypt) {
    call.headers.emplace_back("X-Docker-Encrypt", *options_.encrypt_capability);
  }
  absl::StatusOr<HttpResponse> r = Send(call);
  if (r.ok()) {
    for (const std::string& sc : r->HeaderValues("Set-Cookie")) {
      jar_.Store(call.url.host, call.url.path, sc);
    }
  }
  return r;
}

absl::Status Session::Ping() {
  HttpCall call;
  call.url = options_.index;
  call.url.path = "/v1/_ping";
  absl::StatusOr<HttpResponse> r = Do(call);
  if (!r.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "registry ", options_.index.Origin(), " is unreachable: ", r.status().message()));
  }
  if (r->status != 200) {
    return absl::UnavailableError(absl::StrCat(
        options_.index.Origin(), " is not a v1 registry (_ping answered ",
        DescribeAnswer(*r), ")"));
  }
  ping_ = ParsePing(*r);
  return absl::OkStatus();
}

absl::Status Session::Login() {
  if (options_.credentials.empty()) {
    return absl::InvalidArgumentError("login needs a username");
  }
  absl::StatusOr<HttpResponse> r = IndexCall("GET", "/v1/users/", {}, "", true);
  if (!r.ok()) return r.status();
  if (r->status == 200) return absl::OkStatus();
  if (r->status == 401) {
    return absl::UnauthenticatedError(absl::StrCat(
        "wrong username or password for ", options_.index.Origin()));
  }
  if (r->status == 403) {
    return absl::PermissionDeniedError(
        absl::StrCat("account is not active: ", DescribeAnswer(*r)));
  }
  return absl::UnknownError(absl::StrCat("login failed: ", DescribeAnswer(*r)));
}

absl::StatusOr<HttpResponse> Session::IndexCall(const std::string& method,
                                                const std::string& path,
                                                Headers headers,
                                                std::string body,
                                                bool basic_always) {
  HttpCall call;
  call.method = method;
  call.url = options_.index;
  call.url.path = path;
  std::string auth =
      AuthorizationFor(CallKind::kIndex, tls(), ping_.standalone,
                       options_.credentials, basic_always, grant_.tokens);
  if (!auth.empty()) call.headers.emplace_back("Authorization", auth);
  call.headers.emplace_back("X-Docker-Token", "true");
  if (!body.empty()) call.headers.emplace_back("Content-Type", "application/json");
  for (auto& h : headers) call.headers.push_back(std::move(h));
  call.body = std::move(body);
  return Do(call);
}

absl::Status Session::TakeGrant(const HttpResponse& r, bool token_required,
                                bool endpoints_required) {
  Grant g;
  g.tokens = r.HeaderValues("X-Docker-Token");
  if (token_required && g.tokens.empty()) {
    return absl::FailedPreconditionError(
        "Index response didn't contain an access token");
  }
  absl::StatusOr<std::vector<Url>> eps =
      ParseEndpoints(r.HeaderValues("X-Docker-Endpoints"), options_.index.scheme);
  if (!eps.ok()) return eps.status();
  g.endpoints = *eps;
  if (g.endpoints.empty()) {
    if (endpoints_required) {
      return absl::FailedPreconditionError(
          "Index response didn't contain any endpoints");
    }
    Url self = options_.index;
    self.path = "/v1/";
    g.endpoints.push_back(self);
  }
  grant_ = std::move(g);
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> Session::RegistryCall(
    const Url& endpoint, const std::string& method, const std::string& path,
    Headers headers, std::string body, BodySource source, BodySink sink,
    HeadFn on_head) {
  HttpCall call;
  call.method = method;
  call.url = endpoint;
  call.url.path = path;
  std::string auth =
      AuthorizationFor(CallKind::kRegistry, tls(), ping_.standalone,
                       options_.credentials, true, grant_.tokens);
  bool send_auth = true;
  for (int hop = 0;; ++hop) {
    call.headers = headers;
    if (send_auth && !auth.empty()) call.headers.emplace_back("Authorization", auth);
    call.body = body;
    call.source = source;
    call.sink = sink;
    call.on_head = on_head;
    absl::StatusOr<HttpResponse> r = Do(call);
    if (!r.ok() || method != "GET") return r;
    bool redirect = r->status == 301 || r->status == 302 || r->status == 303 ||
                    r->status == 307;
    std::optional<std::string> location = r->Header("Location");
    if (!redirect || !location.has_value()) return r;
    if (hop == 5) {
      return absl::UnavailableError(absl::StrCat("too many redirects from ", path));
    }
    Url next;
    if (absl::StartsWith(*location, "/")) {
      next = call.url;
      next.path = *location;
    } else {
      absl::StatusOr<Url> u = ParseUrl(*location);
      if (!u.ok()) return u.status();
      next = *u;
    }
    // docker keeps Authorization only between docker.com/docker.io hosts;
    // a redirect target must carry its own authorisation (§1.9.6).
    if (next.host != call.url.host || next.port != call.url.port) send_auth = false;
    call.url = next;
  }
}

}  // namespace berth::v1client

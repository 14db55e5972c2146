#include "frontend/auth/tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth::auth {
namespace {

std::string Hex(const unsigned char* data, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 15];
  }
  return out;
}

bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string TokenMacInput(const Grant& g, const std::string& nonce) {
  return absl::StrCat("docker-v1-token\n", g.repository, "\n",
                      AccessName(g.access), "\n", g.expires, "\n", nonce);
}

}  // namespace

const char* AccessName(Access access) {
  switch (access) {
    case Access::kRead:
      return "read";
    case Access::kWrite:
      return "write";
    case Access::kDelete:
      return "delete";
  }
  return "read";
}

std::optional<Access> ParseAccess(const std::string& name) {
  if (name == "read") return Access::kRead;
  if (name == "write") return Access::kWrite;
  if (name == "delete") return Access::kDelete;
  return std::nullopt;
}

std::string HmacSha256Hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
       &len);
  return Hex(mac, len);
}

Credentials ParseAuthorization(const std::string& header) {
  Credentials c;
  absl::string_view h = absl::StripAsciiWhitespace(header);
  if (h.empty()) return c;
  size_t space = h.find(' ');
  std::string scheme = absl::AsciiStrToLower(h.substr(0, space));
  absl::string_view rest =
      space == absl::string_view::npos ? "" : h.substr(space + 1);
  if (scheme == "basic") {
    std::string decoded;
    if (!absl::Base64Unescape(absl::StripAsciiWhitespace(rest), &decoded)) {
      c.kind = Credentials::Kind::kMalformed;
      return c;
    }
    size_t colon = decoded.find(':');
    if (colon == std::string::npos) {
      c.kind = Credentials::Kind::kMalformed;
      return c;
    }
    c.username = decoded.substr(0, colon);
    c.password = decoded.substr(colon + 1);
    // "Og==" (":") is docker's way of saying "no credentials" (§1.2).
    c.kind = c.username.empty() ? Credentials::Kind::kNone
                                : Credentials::Kind::kBasic;
    return c;
  }
  if (scheme == "token") {
    if (absl::StripAsciiWhitespace(rest).empty()) return c;  // anonymous
    static const std::regex kPair(
        R"re(([A-Za-z0-9_]+)=("([^"]*)"|[^",\s]*))re");
    std::string text(rest);
    bool sig = false, repo = false, acc = false;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kPair);
         it != std::sregex_iterator(); ++it) {
      std::string key = (*it)[1];
      std::string value = (*it)[3].matched ? (*it)[3].str() : (*it)[2].str();
      if (key == "signature" && !sig) {
        c.signature = value;
        sig = true;
      } else if (key == "repository" && !repo) {
        c.repository = value;
        repo = true;
      } else if (key == "access" && !acc) {
        c.access = value;
        acc = true;
      }
    }
    c.kind = Credentials::Kind::kToken;
    return c;
  }
  c.kind = Credentials::Kind::kMalformed;
  return c;
}

std::string IssueToken(const std::string& secret, const Grant& grant,
                       const std::string& nonce) {
  std::string mac = HmacSha256Hex(secret, TokenMacInput(grant, nonce));
  return absl::StrCat("signature=", grant.expires, ".", nonce, ".", mac,
                      ",repository=\"", grant.repository,
                      "\",access=", AccessName(grant.access));
}

absl::StatusOr<Grant> VerifyToken(const std::vector<std::string>& secrets,
                                  const Credentials& token, int64_t now) {
  std::optional<Access> access = ParseAccess(token.access);
  std::vector<std::string> parts = absl::StrSplit(token.signature, '.');
  Grant g;
  if (!access || token.repository.empty() || parts.size() != 3 ||
      !absl::SimpleAtoi(parts[0], &g.expires) || parts[1].size() != 16) {
    return absl::PermissionDeniedError("malformed token");
  }
  g.repository = token.repository;
  g.access = *access;
  const std::string input = TokenMacInput(g, parts[1]);
  bool valid = false;
  for (const std::string& secret : secrets) {
    valid |= ConstantTimeEqual(HmacSha256Hex(secret, input), parts[2]);
  }
  if (!valid) return absl::PermissionDeniedError("token signature invalid");
  if (now > g.expires) return absl::DeadlineExceededError("token expired");
  return g;
}

std::string IssueCookie(const std::string& secret, const Grant& grant,
                        const std::string& nonce) {
  std::string body = absl::StrCat(
      "v1.", grant.expires, ".", AccessName(grant.access), ".",
      absl::BytesToHexString(grant.repository), ".", nonce);
  return absl::StrCat(body, ".", HmacSha256Hex(secret, body));
}

absl::StatusOr<Grant> VerifyCookie(const std::vector<std::string>& secrets,
                                   const std::string& value, int64_t now) {
  std::vector<std::string> parts = absl::StrSplit(value, '.');
  Grant g;
  std::optional<Access> access;
  if (parts.size() != 6 || parts[0] != "v1" ||
      !absl::SimpleAtoi(parts[1], &g.expires) ||
      !(access = ParseAccess(parts[2])) || parts[3].size() % 2 != 0) {
    return absl::PermissionDeniedError("malformed session cookie");
  }
  for (char ch : parts[3]) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(ch))) {
      return absl::PermissionDeniedError("malformed session cookie");
    }
  }
  g.access = *access;
  g.repository = absl::HexStringToBytes(parts[3]);
  const std::string body = value.substr(0, value.rfind('.'));
  bool valid = false;
  for (const std::string& secret : secrets) {
    valid |= ConstantTimeEqual(HmacSha256Hex(secret, body), parts[5]);
  }
  if (!valid) return absl::PermissionDeniedError("session cookie invalid");
  if (now > g.expires) return absl::DeadlineExceededError("session expired");
  return g;
}

std::string CookieValue(const std::string& cookie_header,
                        const std::string& name) {
  for (absl::string_view part : absl::StrSplit(cookie_header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    size_t eq = part.find('=');
    if (eq != absl::string_view::npos && part.substr(0, eq) == name) {
      return std::string(part.substr(eq + 1));
    }
  }
  return "";
}

}  // namespace berth::auth

// Tokens (spec §1.4) and session cookies (§1.5): self-contained HMACs under
// the cluster secret, so every frontend validates what any frontend issued.
// Pure functions; the caller supplies the time and the secrets.
#ifndef BERTH_FRONTEND_AUTH_TOKENS_H_
#define BERTH_FRONTEND_AUTH_TOKENS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::auth {

enum class Access { kRead, kWrite, kDelete };

const char* AccessName(Access access);
std::optional<Access> ParseAccess(const std::string& name);

struct Grant {
  std::string repository;  // "<ns>/<repo>"
  Access access = Access::kRead;
  int64_t expires = 0;     // Unix seconds
};

// What an Authorization header carries (§1.4.2, §1.4.6).
struct Credentials {
  enum class Kind { kNone, kBasic, kToken, kMalformed };
  Kind kind = Kind::kNone;
  std::string username;  // Basic
  std::string password;  // Basic
  // Token fields (first occurrence of each key wins).
  std::string signature;
  std::string repository;
  std::string access;
};

// Empty Basic credentials ("Og==") and a bare "Token" are kNone
// (anonymous), as docker sends them without meaning a login.
Credentials ParseAuthorization(const std::string& header);

// The bare token of §1.4.1 (what X-Docker-Token carries).
std::string IssueToken(const std::string& secret, const Grant& grant,
                       const std::string& nonce);

// Checks a parsed token against every active secret (rotation keeps two).
// PERMISSION_DENIED for a bad MAC or malformed token, DEADLINE_EXCEEDED
// when expired.
absl::StatusOr<Grant> VerifyToken(const std::vector<std::string>& secrets,
                                  const Credentials& token, int64_t now);

// The value of the `session` cookie (§1.5).
std::string IssueCookie(const std::string& secret, const Grant& grant,
                        const std::string& nonce);
absl::StatusOr<Grant> VerifyCookie(const std::vector<std::string>& secrets,
                                   const std::string& value, int64_t now);

// Finds `name` in a Cookie header ("a=1; session=..."); "" if absent.
std::string CookieValue(const std::string& cookie_header,
                        const std::string& name);

// Lowercase hex HMAC-SHA256.
std::string HmacSha256Hex(const std::string& key, const std::string& data);

}  // namespace berth::auth

#endif  // BERTH_FRONTEND_AUTH_TOKENS_H_

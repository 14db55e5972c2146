#include "frontend/auth/encryption.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "frontend/auth/tokens.h"

namespace berth::auth {
namespace {

bool IsLowerHex(absl::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c <= ' ' || c >= 127 || absl::string_view("()<>@,;:\\\"/[]?={}")
                                        .find(c) != absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsSchemeName(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<EncryptHeader> ParseEncrypt(const std::string& value) {
  std::vector<absl::string_view> parts = absl::StrSplit(value, ';');
  EncryptHeader h;
  std::string flag = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
  if (flag == "true") {
    h.flag = true;
  } else if (flag != "false") {
    return absl::InvalidArgumentError("X-Docker-Encrypt flag is not true/false");
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view param = absl::StripAsciiWhitespace(parts[i]);
    size_t eq = param.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError("X-Docker-Encrypt parameter without =");
    }
    absl::string_view key = param.substr(0, eq), val = param.substr(eq + 1);
    if (key == "scheme") {
      if (!IsSchemeName(val)) {
        return absl::InvalidArgumentError("bad X-Docker-Encrypt scheme");
      }
      h.schemes.emplace_back(val);
    } else if (!IsToken(key) || !IsToken(val)) {
      return absl::InvalidArgumentError("bad X-Docker-Encrypt parameter");
    }
  }
  return h;
}

std::string CapabilityHeader(bool enabled) {
  return enabled ? absl::StrCat("true; scheme=", kEncryptionScheme) : "false";
}

bool ClientCanDecrypt(const std::optional<std::string>& header,
                      const std::string& scheme) {
  if (!header) return false;
  auto parsed = ParseEncrypt(*header);
  if (!parsed.ok() || !parsed->flag) return false;
  if (parsed->schemes.empty()) return true;
  for (const auto& s : parsed->schemes) {
    if (s == scheme) return true;
  }
  return false;
}

bool ValidSign(const std::string& value) {
  std::vector<absl::string_view> parts = absl::StrSplit(value, '$');
  if (parts.size() != 4 || parts[0] != "pbkdf2-sha256") return false;
  absl::string_view iter = parts[1];
  if (iter.empty() || iter.size() > 10 || iter[0] < '1' || iter[0] > '9') {
    return false;
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(iter, &n) || n < 10000) return false;
  for (char c : iter) {
    if (c < '0' || c > '9') return false;
  }
  return IsLowerHex(parts[2], 32) && IsLowerHex(parts[3], 64);
}

std::string MakeSign(const std::string& password, const std::string& salt_hex,
                     int iterations) {
  std::string salt = absl::HexStringToBytes(salt_hex);
  unsigned char dk[64];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(),
                    sizeof(dk), dk);
  std::string k_verify(reinterpret_cast<char*>(dk) + 32, 32);
  return absl::StrCat("pbkdf2-sha256$", iterations, "$", salt_hex, "$",
                      HmacSha256Hex(k_verify, "docker-v1-encrypt-verify"));
}

}  // namespace berth::auth

#include "metadata/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth::meta {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kKeyBytes = 32;
constexpr uint64_t kMaxMem = 256ull << 20;

bool Derive(const std::string& password, const std::string& salt,
            const ScryptParams& params, std::string* key) {
  key->assign(kKeyBytes, '\0');
  return EVP_PBE_scrypt(password.data(), password.size(),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        salt.size(), params.n, params.r, params.p, kMaxMem,
                        reinterpret_cast<unsigned char*>(key->data()),
                        key->size()) == 1;
}

}  // namespace

absl::StatusOr<std::string> HashPassword(const std::string& password,
                                         const ScryptParams& params) {
  if (password.empty()) return absl::InvalidArgumentError("empty password");
  std::string salt(kSaltBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()),
                 static_cast<int>(salt.size())) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  std::string key;
  if (!Derive(password, salt, params, &key)) {
    return absl::InternalError("EVP_PBE_scrypt failed");
  }
  return absl::StrCat("scrypt$", params.n, "$", params.r, "$", params.p, "$",
                      absl::BytesToHexString(salt), "$",
                      absl::BytesToHexString(key));
}

bool VerifyPassword(const std::string& password, const std::string& encoded) {
  std::vector<std::string> parts = absl::StrSplit(encoded, '$');
  if (parts.size() != 6 || parts[0] != "scrypt") return false;
  ScryptParams params;
  if (!absl::SimpleAtoi(parts[1], &params.n) ||
      !absl::SimpleAtoi(parts[2], &params.r) ||
      !absl::SimpleAtoi(parts[3], &params.p)) {
    return false;
  }
  // Refuse absurd costs from a corrupted record instead of burning CPU.
  if (params.n > (1u << 20) || params.r > 32 || params.p > 16) return false;
  std::string salt = absl::HexStringToBytes(parts[4]);
  std::string want = absl::HexStringToBytes(parts[5]);
  if (salt.size() != kSaltBytes || want.size() != kKeyBytes) return false;
  std::string key;
  if (!Derive(password, salt, params, &key)) return false;
  return CRYPTO_memcmp(key.data(), want.data(), kKeyBytes) == 0;
}

}  // namespace berth::meta

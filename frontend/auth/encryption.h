// The encrypted-image extension's headers (spec §6): X-Docker-Encrypt
// parsing and X-Docker-Sign validation. The registry never sees passwords
// or keys; it only checks syntax and compares verifiers.
#ifndef BERTH_FRONTEND_AUTH_ENCRYPTION_H_
#define BERTH_FRONTEND_AUTH_ENCRYPTION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::auth {

inline constexpr char kEncryptionScheme[] = "aes-256-gcm-chunked-v1";

struct EncryptHeader {
  bool flag = false;
  std::vector<std::string> schemes;  // from scheme= parameters, in order
};

// INVALID_ARGUMENT when the value does not match §6.2.
absl::StatusOr<EncryptHeader> ParseEncrypt(const std::string& value);

// The capability this server announces (§6.3).
std::string CapabilityHeader(bool enabled);

// §6.4 rule 6: may a request with this X-Docker-Encrypt header (absent =
// nullopt) download a layer encrypted with `scheme`?
bool ClientCanDecrypt(const std::optional<std::string>& header,
                      const std::string& scheme);

// X-Docker-Sign syntax (§6.2), iterations >= 10000.
bool ValidSign(const std::string& value);

// The §6.5 verifier for `password` (used by tests and clients).
std::string MakeSign(const std::string& password, const std::string& salt_hex,
                     int iterations);

}  // namespace berth::auth

#endif  // BERTH_FRONTEND_AUTH_ENCRYPTION_H_

// Password hashing for accounts (spec §2.3): salted scrypt through
// OpenSSL's EVP_PBE_scrypt. The proposer (the client library, before a
// CreateUser/UpdateUser command is built) hashes; the log, the records and
// the logs only ever see the encoded hash. Thread-safe (no shared state).
//
// Encoding: "scrypt$<N>$<r>$<p>$<salt hex>$<key hex>", 16-byte random salt,
// 32-byte key.
#ifndef BERTH_METADATA_PASSWORD_H_
#define BERTH_METADATA_PASSWORD_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace berth::meta {

struct ScryptParams {
  uint64_t n = 16384;  // CPU/memory cost (16 MiB with r = 8), ~50 ms
  uint64_t r = 8;
  uint64_t p = 1;
};

// INVALID_ARGUMENT for an empty password; INTERNAL if OpenSSL fails.
absl::StatusOr<std::string> HashPassword(const std::string& password,
                                         const ScryptParams& params = {});

// True iff `password` matches `encoded` (constant-time comparison). A
// malformed `encoded` never matches.
bool VerifyPassword(const std::string& password, const std::string& encoded);

}  // namespace berth::meta

#endif  // BERTH_METADATA_PASSWORD_H_

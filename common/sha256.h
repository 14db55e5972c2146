// SHA-256 through OpenSSL's EVP interface (uses SHA-NI where the CPU has it).
#ifndef BERTH_COMMON_SHA256_H_
#define BERTH_COMMON_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

struct evp_md_ctx_st;

namespace berth {

// Incremental hasher. Not thread-safe; one owner at a time.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t len);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // Returns the 64-character lowercase hex digest; the hasher is then reset.
  std::string HexDigest();

 private:
  evp_md_ctx_st* ctx_;
};

std::string Sha256Hex(absl::string_view data);

// True for exactly 64 lowercase hex digits.
bool IsSha256Hex(absl::string_view s);

}  // namespace berth

#endif  // BERTH_COMMON_SHA256_H_

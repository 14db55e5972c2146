// Client side of the encryption extension (spec §6): the password verifier
// sent as X-Docker-Sign (§6.5), per-image layer keys, and the
// aes-256-gcm-chunked-v1 layer format (§6.6) as streaming transforms.
//
// Everything here is single-owner: an encryptor/decryptor belongs to the one
// thread that feeds it.
#ifndef BERTH_TOOLS_V1CLIENT_CRYPTO_H_
#define BERTH_TOOLS_V1CLIENT_CRYPTO_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct evp_cipher_ctx_st;

namespace berth::v1client {

inline constexpr char kEncryptScheme[] = "aes-256-gcm-chunked-v1";
inline constexpr uint32_t kDefaultChunkSize = 1 << 20;
inline constexpr uint32_t kDefaultIterations = 100000;

// The parsed X-Docker-Sign value "pbkdf2-sha256$<iter>$<salt hex>$<verifier>".
struct SignParams {
  uint32_t iterations = 0;
  std::string salt;      // 16 raw bytes
  std::string verifier;  // 64 lowercase hex
};

absl::StatusOr<SignParams> ParseSign(absl::string_view header);

// Keys derived from one password and one (salt, iterations) pair. Deriving
// costs `iterations` PBKDF2 rounds, so a push or pull derives once per chain.
class ChainKeys {
 public:
  static absl::StatusOr<ChainKeys> Derive(absl::string_view password,
                                          absl::string_view salt,
                                          uint32_t iterations);
  // Verifies `password` against a server-provided X-Docker-Sign (constant
  // time). PERMISSION_DENIED "wrong password" on mismatch.
  static absl::StatusOr<ChainKeys> FromSign(absl::string_view password,
                                            absl::string_view sign_header);

  const std::string& sign() const { return sign_; }  // X-Docker-Sign value
  const std::string& verifier_hex() const { return verifier_hex_; }
  const std::string& master_key() const { return master_; }
  // K_layer(id): 32 raw bytes.
  std::string LayerKey(absl::string_view image_id) const;

 private:
  std::string master_;
  std::string verifier_hex_;
  std::string sign_;
};

// Raw PBKDF2-HMAC-SHA256 output (for tests against the §6.5 vector).
std::string Pbkdf2Sha256(absl::string_view password, absl::string_view salt,
                         uint32_t iterations, size_t length);

std::string ToHex(absl::string_view raw);
absl::StatusOr<std::string> FromHex(absl::string_view hex);

// Streaming encryption into the §6.6 body format. Feed plaintext with
// Update, then Finish; each call returns the ciphertext bytes ready so far.
class LayerEncryptor {
 public:
  LayerEncryptor(std::string layer_key, std::string image_id,
                 uint32_t chunk_size = kDefaultChunkSize);
  ~LayerEncryptor();
  LayerEncryptor(const LayerEncryptor&) = delete;
  LayerEncryptor& operator=(const LayerEncryptor&) = delete;

  absl::StatusOr<std::string> Update(absl::string_view plaintext);
  absl::StatusOr<std::string> Finish();
  // Ciphertext size for a plaintext of `n` bytes (header + tags included).
  static uint64_t CiphertextSize(uint64_t n, uint32_t chunk_size);

 private:
  absl::StatusOr<std::string> SealChunk(absl::string_view plain, bool last);

  std::string key_;
  std::string header_;  // "DKRENC01" + chunk size
  std::string aad_;     // header + id
  uint32_t chunk_size_;
  uint64_t index_ = 0;
  bool header_sent_ = false;
  bool finished_ = false;
  std::string pending_;  // plaintext not yet sealed (< chunk_size, or == when
                         // it might be the last chunk)
  evp_cipher_ctx_st* ctx_;
};

// Streaming decryption of the §6.6 format. Rejects a bad magic, chunk size
// out of range, any authentication failure and a missing final chunk
// (DATA_LOSS) — so a wrong key or a truncated/tampered body never yields
// output that Finish() accepts.
class LayerDecryptor {
 public:
  LayerDecryptor(std::string layer_key, std::string image_id);
  ~LayerDecryptor();
  LayerDecryptor(const LayerDecryptor&) = delete;
  LayerDecryptor& operator=(const LayerDecryptor&) = delete;

  absl::StatusOr<std::string> Update(absl::string_view ciphertext);
  absl::StatusOr<std::string> Finish();

 private:
  absl::StatusOr<std::string> OpenChunk(absl::string_view sealed, bool last);

  std::string key_;
  std::string id_;
  std::string aad_;
  uint32_t chunk_size_ = 0;
  uint64_t index_ = 0;
  bool have_header_ = false;
  bool saw_last_ = false;
  std::string pending_;
  evp_cipher_ctx_st* ctx_;
};

// One-shot helpers (tests, small layers).
absl::StatusOr<std::string> EncryptLayer(absl::string_view key,
                                         absl::string_view id,
                                         absl::string_view plaintext,
                                         uint32_t chunk_size = kDefaultChunkSize);
absl::StatusOr<std::string> DecryptLayer(absl::string_view key,
                                         absl::string_view id,
                                         absl::string_view ciphertext);

}  // namespace berth::v1client

#endif  // BERTH_TOOLS_V1CLIENT_CRYPTO_H_

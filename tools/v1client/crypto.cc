#include "tools/v1client/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/random.h"

namespace berth::v1client {
namespace {

constexpr char kMagic[] = "DKRENC01";
constexpr size_t kHeaderSize = 12;
constexpr size_t kTagSize = 16;
constexpr uint32_t kMinChunk = 1024;
constexpr uint32_t kMaxChunk = 16777216;
constexpr uint32_t kMinIterations = 10000;

std::string HmacSha256(absl::string_view key, absl::string_view msg) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out,
       &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Header(uint32_t chunk_size) {
  std::string h(kMagic, 8);
  for (int shift = 24; shift >= 0; shift -= 8) {
    h.push_back(static_cast<char>((chunk_size >> shift) & 0xff));
  }
  return h;
}

// 11-byte big-endian chunk index followed by the last-chunk flag.
std::string Nonce(uint64_t index, bool last) {
  std::string n(12, '\0');
  for (int i = 10; i >= 3; --i) {
    n[i] = static_cast<char>(index & 0xff);
    index >>= 8;
  }
  n[11] = last ? 1 : 0;
  return n;
}

const unsigned char* U(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string ToHex(absl::string_view raw) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

absl::StatusOr<std::string> FromHex(absl::string_view hex) {
  if (hex.size() % 2 != 0) return absl::InvalidArgumentError("odd hex length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError("not lowercase hex");
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string Pbkdf2Sha256(absl::string_view password, absl::string_view salt,
                         uint32_t iterations, size_t length) {
  std::string out(length, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    U(salt), static_cast<int>(salt.size()),
                    static_cast<int>(iterations), EVP_sha256(),
                    static_cast<int>(length),
                    reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

absl::StatusOr<SignParams> ParseSign(absl::string_view header) {
  std::vector<absl::string_view> parts = absl::StrSplit(header, '$');
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed X-Docker-Sign \"", header, "\""));
  };
  if (parts.size() != 4 || parts[0] != "pbkdf2-sha256") return bad();
  SignParams p;
  if (parts[1].empty() || parts[1][0] == '0' || parts[1].size() > 10 ||
      !absl::SimpleAtoi(parts[1], &p.iterations) ||
      p.iterations < kMinIterations) {
    return bad();
  }
  absl::StatusOr<std::string> salt = FromHex(parts[2]);
  absl::StatusOr<std::string> verifier = FromHex(parts[3]);
  if (!salt.ok() || salt->size() != 16 || !verifier.ok() ||
      verifier->size() != 32) {
    return bad();
  }
  p.salt = *salt;
  p.verifier = std::string(parts[3]);
  return p;
}

absl::StatusOr<ChainKeys> ChainKeys::Derive(absl::string_view password,
                                            absl::string_view salt,
                                            uint32_t iterations) {
  if (iterations < kMinIterations) {
    return absl::InvalidArgumentError(
        absl::StrCat("PBKDF2 iterations must be at least ", kMinIterations));
  }
  if (salt.size() != 16) return absl::InvalidArgumentError("salt must be 16 bytes");
  std::string dk = Pbkdf2Sha256(password, salt, iterations, 64);
  ChainKeys k;
  k.master_ = dk.substr(0, 32);
  k.verifier_hex_ = ToHex(HmacSha256(dk.substr(32), "docker-v1-encrypt-verify"));
  k.sign_ = absl::StrCat("pbkdf2-sha256$", iterations, "$", ToHex(salt), "$",
                         k.verifier_hex_);
  OPENSSL_cleanse(dk.data(), dk.size());
  return k;
}

absl::StatusOr<ChainKeys> ChainKeys::FromSign(absl::string_view password,
                                              absl::string_view sign_header) {
  absl::StatusOr<SignParams> p = ParseSign(sign_header);
  if (!p.ok()) return p.status();
  absl::StatusOr<ChainKeys> k = Derive(password, p->salt, p->iterations);
  if (!k.ok()) return k.status();
  if (k->verifier_hex_.size() != p->verifier.size() ||
      CRYPTO_memcmp(k->verifier_hex_.data(), p->verifier.data(),
                    p->verifier.size()) != 0) {
    return absl::PermissionDeniedError("wrong decryption password");
  }
  return k;
}

std::string ChainKeys::LayerKey(absl::string_view image_id) const {
  return HmacSha256(master_, absl::StrCat("docker-v1-layer-key\n", image_id));
}

// ---- encryption ----

LayerEncryptor::LayerEncryptor(std::string layer_key, std::string image_id,
                               uint32_t chunk_size)
    : key_(std::move(layer_key)),
      header_(Header(chunk_size)),
      aad_(header_ + image_id),
      chunk_size_(chunk_size),
      ctx_(EVP_CIPHER_CTX_new()) {}

LayerEncryptor::~LayerEncryptor() { EVP_CIPHER_CTX_free(ctx_); }

uint64_t LayerEncryptor::CiphertextSize(uint64_t n, uint32_t chunk_size) {
  uint64_t chunks = n == 0 ? 1 : (n + chunk_size - 1) / chunk_size;
  return kHeaderSize + n + chunks * kTagSize;
}

absl::StatusOr<std::string> LayerEncryptor::SealChunk(absl::string_view plain,
                                                      bool last) {
  std::string nonce = Nonce(index_++, last);
  std::string out(plain.size() + kTagSize, '\0');
  unsigned char* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  if (EVP_EncryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, U(key_), U(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx_, nullptr, &len, U(aad_), static_cast<int>(aad_.size())) != 1 ||
      EVP_EncryptUpdate(ctx_, o, &len, U(plain), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx_, o + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, kTagSize,
                          o + plain.size()) != 1) {
    return absl::InternalError("AES-256-GCM encryption failed");
  }
  return out;
}

absl::StatusOr<std::string> LayerEncryptor::Update(absl::string_view plaintext) {
  if (finished_) return absl::FailedPreconditionError("encryptor finished");
  if (chunk_size_ < kMinChunk || chunk_size_ > kMaxChunk) {
    return absl::InvalidArgumentError("chunk size out of range");
  }
  std::string out;
  if (!header_sent_) {
    out = header_;
    header_sent_ = true;
  }
  pending_.append(plaintext.data(), plaintext.size());
  // A full chunk is sealed only once more data follows it: until then it
  // might be the last one, which carries flag 1.
  size_t pos = 0;
  while (pending_.size() - pos > chunk_size_) {
    absl::StatusOr<std::string> c =
        SealChunk(absl::string_view(pending_).substr(pos, chunk_size_), false);
    if (!c.ok()) return c.status();
    out += *c;
    pos += chunk_size_;
  }
  pending_.erase(0, pos);
  return out;
}

absl::StatusOr<std::string> LayerEncryptor::Finish() {
  absl::StatusOr<std::string> out = Update("");
  if (!out.ok()) return out;
  absl::StatusOr<std::string> c = SealChunk(pending_, true);
  if (!c.ok()) return c.status();
  finished_ = true;
  pending_.clear();
  return *out + *c;
}

// ---- decryption ----

LayerDecryptor::LayerDecryptor(std::string layer_key, std::string image_id)
    : key_(std::move(layer_key)), id_(std::move(image_id)),
      ctx_(EVP_CIPHER_CTX_new()) {}

LayerDecryptor::~LayerDecryptor() { EVP_CIPHER_CTX_free(ctx_); }

absl::StatusOr<std::string> LayerDecryptor::OpenChunk(absl::string_view sealed,
                                                      bool last) {
  if (sealed.size() < kTagSize) {
    return absl::DataLossError("encrypted layer is truncated");
  }
  size_t n = sealed.size() - kTagSize;
  std::string nonce = Nonce(index_++, last);
  std::string out(n, '\0');
  unsigned char* o = reinterpret_cast<unsigned char*>(out.data());
  std::string tag(sealed.substr(n));
  int len = 0;
  if (EVP_DecryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, U(key_), U(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx_, nullptr, &len, U(aad_), static_cast<int>(aad_.size())) != 1 ||
      EVP_DecryptUpdate(ctx_, o, &len, U(sealed), static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx_, o + len, &len) != 1) {
    return absl::DataLossError(
        "encrypted layer failed authentication (wrong key, or the data was "
        "altered or truncated)");
  }
  return out;
}

absl::StatusOr<std::string> LayerDecryptor::Update(absl::string_view ciphertext) {
  if (saw_last_) return absl::FailedPreconditionError("decryptor finished");
  pending_.append(ciphertext.data(), ciphertext.size());
  if (!have_header_) {
    if (pending_.size() < kHeaderSize) return std::string();
    if (pending_.compare(0, 8, kMagic) != 0) {
      return absl::DataLossError("not an encrypted layer (bad magic)");
    }
    const unsigned char* h = U(pending_);
    chunk_size_ = (uint32_t{h[8]} << 24) | (uint32_t{h[9]} << 16) |
                  (uint32_t{h[10]} << 8) | h[11];
    if (chunk_size_ < kMinChunk || chunk_size_ > kMaxChunk) {
      return absl::DataLossError("encrypted layer has a bad chunk size");
    }
    aad_ = pending_.substr(0, kHeaderSize) + id_;
    pending_.erase(0, kHeaderSize);
    have_header_ = true;
  }
  std::string out;
  size_t sealed = size_t{chunk_size_} + kTagSize;
  size_t pos = 0;
  // A full sealed chunk is opened as "not last" only once more bytes follow.
  while (pending_.size() - pos > sealed) {
    absl::StatusOr<std::string> p =
        OpenChunk(absl::string_view(pending_).substr(pos, sealed), false);
    if (!p.ok()) return p.status();
    out += *p;
    pos += sealed;
  }
  pending_.erase(0, pos);
  return out;
}

absl::StatusOr<std::string> LayerDecryptor::Finish() {
  if (!have_header_) return absl::DataLossError("encrypted layer is truncated");
  absl::StatusOr<std::string> p = OpenChunk(pending_, true);
  if (!p.ok()) return p.status();
  saw_last_ = true;
  pending_.clear();
  return p;
}

absl::StatusOr<std::string> EncryptLayer(absl::string_view key,
                                         absl::string_view id,
                                         absl::string_view plaintext,
                                         uint32_t chunk_size) {
  LayerEncryptor e{std::string(key), std::string(id), chunk_size};
  absl::StatusOr<std::string> a = e.Update(plaintext);
  if (!a.ok()) return a;
  absl::StatusOr<std::string> b = e.Finish();
  if (!b.ok()) return b;
  return *a + *b;
}

absl::StatusOr<std::string> DecryptLayer(absl::string_view key,
                                         absl::string_view id,
                                         absl::string_view ciphertext) {
  LayerDecryptor d{std::string(key), std::string(id)};
  absl::StatusOr<std::string> a = d.Update(ciphertext);
  if (!a.ok()) return a;
  absl::StatusOr<std::string> b = d.Finish();
  if (!b.ok()) return b;
  return *a + *b;
}

}  // namespace berth::v1client

// The encrypted-image extension (spec §6, §7.9 rule 9) against real
// `berth serve` processes: capability headers, the declaration's status
// codes (§6.4 rules 1–2), the §6.5 vectors, and an image chain encrypted in
// the `aes-256-gcm-chunked-v1` format (§6.6) — encryptor and decryptor
// written here with OpenSSL EVP — pushed in index mode and pulled back,
// the layers decrypting to the original bytes. One server has the feature
// on (--auth index), one off (--encryption=false, --auth none).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/auth_testutil.h"
#include "tests/conformance_util.h"
#include "tests/harness/http.h"
#include "tests/registry_client.h"
#include "tests/test_images.h"

namespace berth::testing {
namespace {

constexpr char kScheme[] = "aes-256-gcm-chunked-v1";
constexpr char kCapability[] = "true; scheme=aes-256-gcm-chunked-v1";
constexpr char kVectorPassword[] = "correct horse battery staple";
constexpr char kVectorSalt[] = "000102030405060708090a0b0c0d0e0f";
constexpr char kVectorSign[] =
    "pbkdf2-sha256$100000$000102030405060708090a0b0c0d0e0f$"
    "353c15b4fcbb1f81468707da8227dc763dce1ff078e451c4b11f3718482bd05e";
constexpr char kNotAllowed[] =
    "Image is encrypted; send X-Docker-Encrypt: true to download it";

// ---------------------------------------------------------------------------
// §6.5 / §6.6, written from the spec text.

std::string Pbkdf2(const std::string& password, const std::string& salt, int iterations,
                   size_t len) {
  std::string out(len, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(),
                    static_cast<int>(len), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

struct Password {
  std::string dk;  // 64 bytes
  std::string sign;
  std::string master() const { return dk.substr(0, 32); }
  std::string verify() const { return dk.substr(32, 32); }
};

Password Derive(const std::string& password, const std::string& salt_hex, int iterations) {
  Password p;
  p.dk = Pbkdf2(password, absl::HexStringToBytes(salt_hex), iterations, 64);
  p.sign = absl::StrCat("pbkdf2-sha256$", iterations, "$", salt_hex, "$",
                        Hex(Hmac(p.verify(), "docker-v1-encrypt-verify")));
  return p;
}

// What a puller does with X-Docker-Sign: recompute the verifier from its
// password with the header's salt and count.
bool PasswordMatches(const std::string& password, const std::string& sign) {
  std::vector<std::string> f = absl::StrSplit(sign, '$');
  int iterations = 0;
  if (f.size() != 4 || f[0] != "pbkdf2-sha256" || !absl::SimpleAtoi(f[1], &iterations)) {
    return false;
  }
  return Derive(password, f[2], iterations).sign == sign;
}

std::string LayerKey(const Password& p, const std::string& id) {
  return Hmac(p.master(), "docker-v1-layer-key\n" + id);
}

std::string Nonce(uint64_t index, bool last) {
  std::string n(12, '\0');
  for (int i = 0; i < 8; ++i) n[10 - i] = static_cast<char>((index >> (8 * i)) & 0xff);
  n[11] = last ? 1 : 0;
  return n;
}

std::string Header(uint32_t chunk_size) {
  std::string h = "DKRENC01";
  for (int i = 3; i >= 0; --i) h.push_back(static_cast<char>((chunk_size >> (8 * i)) & 0xff));
  return h;
}

// One AES-256-GCM operation; nullopt when the tag does not verify.
std::optional<std::string> Gcm(bool encrypt, const std::string& key, const std::string& nonce,
                               const std::string& aad, const std::string& in,
                               std::string* tag) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::string out(in.size(), '\0');
  int len = 0;
  bool ok = ctx != nullptr;
  auto u = [](const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  if (encrypt) {
    ok = ok && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) == 1 &&
         EVP_EncryptInit_ex(ctx, nullptr, nullptr, u(key), u(nonce)) == 1 &&
         EVP_EncryptUpdate(ctx, nullptr, &len, u(aad), static_cast<int>(aad.size())) == 1 &&
         EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, u(in),
                           static_cast<int>(in.size())) == 1 &&
         EVP_EncryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &len) == 1;
    tag->assign(16, '\0');
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag->data()) == 1;
  } else {
    std::string t = *tag;
    ok = ok && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) == 1 &&
         EVP_DecryptInit_ex(ctx, nullptr, nullptr, u(key), u(nonce)) == 1 &&
         EVP_DecryptUpdate(ctx, nullptr, &len, u(aad), static_cast<int>(aad.size())) == 1 &&
         EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, u(in),
                           static_cast<int>(in.size())) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, t.data()) == 1 &&
         EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &len) == 1;
  }
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) return std::nullopt;
  return out;
}

std::string EncryptLayer(const std::string& key, const std::string& id,
                         const std::string& plaintext, uint32_t chunk_size = 1048576) {
  const std::string header = Header(chunk_size);
  const std::string aad = header + id;
  std::string body = header;
  const size_t n = plaintext.empty() ? 1 : (plaintext.size() + chunk_size - 1) / chunk_size;
  for (size_t i = 0; i < n; ++i) {
    std::string piece = plaintext.substr(i * chunk_size, chunk_size);
    std::string tag;
    std::optional<std::string> ct = Gcm(true, key, Nonce(i, i + 1 == n), aad, piece, &tag);
    body += ct.value_or("") + tag;
  }
  return body;
}

absl::StatusOr<std::string> DecryptLayer(const std::string& key, const std::string& id,
                                         const std::string& body) {
  if (body.size() < 12 || body.compare(0, 8, "DKRENC01") != 0) {
    return absl::InvalidArgumentError("bad magic");
  }
  uint32_t chunk_size = 0;
  for (int i = 8; i < 12; ++i) chunk_size = (chunk_size << 8) | static_cast<uint8_t>(body[i]);
  if (chunk_size < 1024 || chunk_size > 16777216) {
    return absl::InvalidArgumentError("chunk size out of range");
  }
  const std::string aad = body.substr(0, 12) + id;
  std::string plain;
  size_t pos = 12;
  for (uint64_t i = 0;; ++i) {
    const size_t remaining = body.size() - pos;
    const bool last = remaining <= chunk_size + 16;
    if (remaining < 16) return absl::InvalidArgumentError("missing final chunk");
    const size_t len = last ? remaining : chunk_size + 16;
    std::string tag = body.substr(pos + len - 16, 16);
    std::optional<std::string> p =
        Gcm(false, key, Nonce(i, last), aad, body.substr(pos, len - 16), &tag);
    if (!p) return absl::DataLossError(absl::StrCat("chunk ", i, " does not authenticate"));
    plain += *p;
    pos += len;
    if (last) return plain;
  }
}

TEST(EncryptionFormatTest, SpecVectorsAndChunkFormat) {
  // §6.5 test vector.
  const Password p = Derive(kVectorPassword, kVectorSalt, 100000);
  EXPECT_EQ(Hex(p.dk),
            "49d49c25f597846209f0d92e7770ab64e1c75e94b4ce6c509265ee67175d2a1e"
            "774b608062dc707de6ae4a581af6282218af5793bd94e935a75bb21f74f7848c");
  EXPECT_EQ(p.sign, kVectorSign);
  EXPECT_EQ(Hex(LayerKey(p, kSudoersId)),
            "cefff5f8e3d133f36f911b4d51b435ebd7322f7351f698c4a9cfb688ce69d4e9");
  EXPECT_TRUE(PasswordMatches(kVectorPassword, kVectorSign));
  EXPECT_FALSE(PasswordMatches("correct horse battery stapler", kVectorSign));

  // §6.6 round trips: empty, one partial chunk, exact multiple, several.
  const std::string key = LayerKey(p, kSudoersId);
  for (size_t size : {size_t{0}, size_t{1}, size_t{1023}, size_t{1024}, size_t{2048},
                      size_t{5000}}) {
    std::string plain(size, '\0');
    for (size_t i = 0; i < size; ++i) plain[i] = static_cast<char>(i * 7 + 3);
    std::string body = EncryptLayer(key, kSudoersId, plain, 1024);
    const size_t chunks = size == 0 ? 1 : (size + 1023) / 1024;
    EXPECT_EQ(body.size(), 12 + size + 16 * chunks) << size;
    auto back = DecryptLayer(key, kSudoersId, body);
    ASSERT_TRUE(back.ok()) << size << ": " << back.status();
    EXPECT_TRUE(*back == plain) << size;
  }
  // Tampering, truncation, reordering and substitution are detected.
  std::string plain(3000, 'x');
  std::string body = EncryptLayer(key, kSudoersId, plain, 1024);
  std::string flipped = body;
  flipped[100] ^= 1;
  EXPECT_FALSE(DecryptLayer(key, kSudoersId, flipped).ok());
  EXPECT_FALSE(DecryptLayer(key, kSudoersId, body.substr(0, 12 + 2 * (1024 + 16))).ok())
      << "dropping the final chunk must fail";
  std::string swapped = body.substr(0, 12) + body.substr(12 + 1040, 1040) +
                        body.substr(12, 1040) + body.substr(12 + 2080);
  EXPECT_FALSE(DecryptLayer(key, kSudoersId, swapped).ok());
  EXPECT_FALSE(DecryptLayer(key, kHelloId, body).ok()) << "another image's id";
  EXPECT_FALSE(DecryptLayer(LayerKey(p, kHelloId), kSudoersId, body).ok());
}

// ---------------------------------------------------------------------------
// Servers.

HttpResponse Call(const RegistryClient& c, const std::string& method,
                  const std::string& path, HeaderVec headers = {},
                  std::string body = "") {
  return Must(c.Request(method, path, std::move(headers), std::move(body)));
}

HeaderVec With(const std::string& token, HeaderVec more = {}) {
  HeaderVec h = {{"Authorization", "Token " + token}};
  h.insert(h.end(), more.begin(), more.end());
  return h;
}

class EncryptTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    on_.reset();
    off_.reset();
  }
  void SetUp() override {
    if (on_ == nullptr) {
      auto s = StartServer("encrypt-on", {"--auth", "index"});
      ASSERT_TRUE(s.ok()) << s.status();
      on_ = *std::move(s);
    }
    if (off_ == nullptr) {
      auto s = StartServer("encrypt-off", {"--encryption=false"}, /*with_admin=*/false);
      ASSERT_TRUE(s.ok()) << s.status();
      off_ = *std::move(s);
    }
  }
  // A write token of the administrator for admin/<repo> listing `ids`.
  std::string AdminToken(const std::string& repo, const std::vector<std::string>& ids) {
    auto t = WriteToken(on_->client(), "admin/" + repo, Basic(kAdminUser, kAdminPassword), ids);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.value_or("");
  }
  static std::unique_ptr<Server> on_;
  static std::unique_ptr<Server> off_;
};
std::unique_ptr<Server> EncryptTest::on_;
std::unique_ptr<Server> EncryptTest::off_;

// §6.3: the capability on _ping and on the index answers.
TEST_F(EncryptTest, CapabilityHeaders) {
  const RegistryClient c = on_->client();
  for (const char* path : {"/_ping", "/v1/_ping"}) {
    HttpResponse r = Call(c, "GET", path);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("X-Docker-Encrypt").value_or("<none>"), kCapability) << path;
    EXPECT_EQ(Call(c, "HEAD", path).Header("X-Docker-Encrypt").value_or("<none>"), kCapability);
  }
  auto put = PutRepo(c, "admin/cap", Basic(kAdminUser, kAdminPassword), {});
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->status, 200) << Show(*put);
  EXPECT_EQ(put->Header("X-Docker-Encrypt").value_or("<none>"), kCapability);
  HttpResponse list = Call(c, "GET", "/v1/repositories/admin/cap/images",
                           {{"X-Docker-Token", "true"}});
  EXPECT_EQ(list.status, 200) << Show(list);
  EXPECT_EQ(list.Header("X-Docker-Encrypt").value_or("<none>"), kCapability);
}

// §6.4 rules 1–2 and §7.9 rule 9, one broken rule at a time.
TEST_F(EncryptTest, DeclarationStatusCodes) {
  const RegistryClient c = on_->client();
  const Password pw = Derive("codes-password", "0f0e0d0c0b0a09080706050403020100", 10000);
  std::vector<TestImage> images;
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    auto img = MakeImage(absl::StrCat("encrypt/codes-", i), "", "synthetic_hello.tar");
    ASSERT_TRUE(img.ok()) << img.status();
    images.push_back(*img);
    ids.push_back(img->id);
  }
  const std::string token = AdminToken("codes", ids);
  ASSERT_FALSE(token.empty());
  auto put_json = [&](const TestImage& img, HeaderVec h) {
    return Call(c, "PUT", "/v1/images/" + img.id + "/json", With(token, std::move(h)), img.json);
  };
  const std::string declare = kCapability;
  const TestImage& a = images[0];
  EXPECT_JSON_ERROR(put_json(a, {{"X-Docker-Encrypt", "true; scheme=rot13"},
                                 {"X-Docker-Sign", pw.sign}}),
                    412, "Unsupported encryption scheme");
  EXPECT_JSON_ERROR(put_json(a, {{"X-Docker-Encrypt", "true"}, {"X-Docker-Sign", pw.sign}}), 412,
                    "Unsupported encryption scheme");
  // The first broken rule decides: unsupported scheme before the sign.
  EXPECT_JSON_ERROR(put_json(a, {{"X-Docker-Encrypt", "true; scheme=rot13"}}), 412,
                    "Unsupported encryption scheme");
  EXPECT_JSON_ERROR(put_json(a, {{"X-Docker-Encrypt", declare}}), 400,
                    "Missing or invalid X-Docker-Sign");
  const std::string v = pw.sign.substr(pw.sign.rfind('$') + 1);
  const std::string salt = "0f0e0d0c0b0a09080706050403020100";
  for (const std::string& bad : {
           absl::StrCat("pbkdf2-sha256$9999$", salt, "$", v),
           absl::StrCat("pbkdf2-sha256$010000$", salt, "$", v),
           absl::StrCat("pbkdf2-sha256$$", salt, "$", v),
           absl::StrCat("pbkdf2-sha256$10000$", absl::AsciiStrToUpper(salt), "$", v),
           absl::StrCat("pbkdf2-sha256$10000$", salt.substr(2), "$", v),
           absl::StrCat("pbkdf2-sha256$10000$", salt, "$", v.substr(1)),
           absl::StrCat("pbkdf2-sha1$10000$", salt, "$", v),
           absl::StrCat("pbkdf2-sha256$10000$", salt, "$", v, "$x"),
           std::string("")}) {
    EXPECT_JSON_ERROR(put_json(a, {{"X-Docker-Encrypt", declare}, {"X-Docker-Sign", bad}}), 400,
                      "Missing or invalid X-Docker-Sign");
  }
  // Rule 2: a sign without declaration true.
  EXPECT_JSON_ERROR(put_json(a, {{"X-Docker-Sign", pw.sign}}), 400,
                    "X-Docker-Sign requires X-Docker-Encrypt: true");
  EXPECT_JSON_ERROR(put_json(a, {{"X-Docker-Encrypt", "false"}, {"X-Docker-Sign", pw.sign}}), 400,
                    "X-Docker-Sign requires X-Docker-Encrypt: true");
  // §7.9 rule 9: an unparsable X-Docker-Encrypt on PUT json → 400.
  for (const std::string bad : {"maybe", "yes; scheme=aes-256-gcm-chunked-v1",
                                 "true; scheme", "true; scheme=AES-256-GCM-CHUNKED-V1",
                                 "true; =x", ""}) {
    HttpResponse r = put_json(a, {{"X-Docker-Encrypt", bad}, {"X-Docker-Sign", pw.sign}});
    EXPECT_EQ(r.status, 400) << "X-Docker-Encrypt '" << bad << "': " << Show(r);
  }
  // None of those stored anything: the image is still absent.
  EXPECT_JSON_ERROR(Call(c, "GET", "/v1/images/" + a.id + "/json", With(token)), 404,
                    "Image not found");
  // Accepted forms: exactly 10000 iterations; several schemes, one
  // supported (§7.9 rule 9); case-insensitive flag; other parameters.
  struct Ok {
    std::string encrypt;
    int image;
  };
  for (const Ok& ok : std::vector<Ok>{
           {declare, 1},
           {"true; scheme=rot13; scheme=aes-256-gcm-chunked-v1", 2},
           {"TRUE ;scheme=aes-256-gcm-chunked-v1", 3},
           {"true; level=9; scheme=aes-256-gcm-chunked-v1", 4}}) {
    const TestImage& img = images[ok.image];
    HttpResponse r = put_json(img, {{"X-Docker-Encrypt", ok.encrypt}, {"X-Docker-Sign", pw.sign}});
    EXPECT_EQ(r.status, 200) << "'" << ok.encrypt << "': " << Show(r);
    // Completing it shows the stored declaration.
    std::string layer = "ciphertext " + img.id;
    EXPECT_EQ(Call(c, "PUT", "/v1/images/" + img.id + "/layer", With(token), layer).status, 200);
    EXPECT_EQ(Call(c, "PUT", "/v1/images/" + img.id + "/checksum",
                   With(token, {{"X-Docker-Checksum-Payload", PayloadChecksum(img.json, layer)}}))
                  .status,
              200);
    HttpResponse json = Call(c, "GET", "/v1/images/" + img.id + "/json", With(token));
    EXPECT_EQ(json.Header("X-Docker-Encrypt").value_or(""), kCapability) << ok.encrypt;
    EXPECT_EQ(json.Header("X-Docker-Sign").value_or(""), pw.sign);
  }
  // A plain image: "false" (and absent) declarations; status false.
  HttpResponse plain = put_json(images[5], {{"X-Docker-Encrypt", "false"}});
  EXPECT_EQ(plain.status, 200) << Show(plain);

  // Parent rule: an encrypted parent's sign must be repeated byte for byte.
  const Password other = Derive("another-password", salt, 10000);
  // Children of images[1] (encrypted with pw.sign, complete).
  auto child_of = [&](const std::string& seed) {
    auto img = MakeImage(seed, images[1].id, "synthetic_hello.tar");
    EXPECT_TRUE(img.ok());
    return *img;
  };
  TestImage c1 = child_of("encrypt/child-other-sign");
  TestImage c2 = child_of("encrypt/child-same-sign");
  TestImage c3 = child_of("encrypt/child-plain");
  TestImage c4 = child_of("encrypt/child-other-iterations");
  const std::string t2 = AdminToken("codes", {c1.id, c2.id, c3.id, c4.id});
  auto put_child = [&](const TestImage& img, HeaderVec h) {
    return Call(c, "PUT", "/v1/images/" + img.id + "/json", With(t2, std::move(h)), img.json);
  };
  EXPECT_JSON_ERROR(put_child(c1, {{"X-Docker-Encrypt", declare}, {"X-Docker-Sign", other.sign}}),
                    400, "X-Docker-Sign does not match the parent image");
  EXPECT_EQ(put_child(c2, {{"X-Docker-Encrypt", declare}, {"X-Docker-Sign", pw.sign}}).status, 200);
  EXPECT_EQ(put_child(c3, {}).status, 200) << "a plain child of an encrypted parent is allowed";
  // Same password, other iteration count: a different sign string.
  const Password more = Derive("codes-password", salt, 10001);
  EXPECT_JSON_ERROR(put_child(c4, {{"X-Docker-Encrypt", declare}, {"X-Docker-Sign", more.sign}}),
                    400, "X-Docker-Sign does not match the parent image");
}

// §6.4 rule 1 applies "after the normal checks 1–9 of §2.6.2": a bad
// declaration on an image that is already complete is still 409 (docker's
// "already pushed" signal), and a missing parent is still reported as such.
TEST_F(EncryptTest, DeclarationChecksComeAfterTheNormalChecks) {
  const RegistryClient c = on_->client();
  const Password pw = Derive("order-password", kVectorSalt, 10000);
  auto done = MakeImage("encrypt/order-complete", "", "synthetic_hello.tar");
  auto orphan = MakeImage("encrypt/order-orphan", std::string(64, 'd'), "synthetic_hello.tar");
  ASSERT_TRUE(done.ok() && orphan.ok());
  const std::string token = AdminToken("order", {done->id, orphan->id});
  RegistryClient tc = c;
  tc.set_token(token);
  ASSERT_TRUE(PushComplete(tc, Image{done->id, done->json, done->layer}));
  HttpResponse r = Call(c, "PUT", "/v1/images/" + done->id + "/json",
                        With(token, {{"X-Docker-Encrypt", "true; scheme=rot13"},
                                     {"X-Docker-Sign", pw.sign}}),
                        done->json);
  EXPECT_JSON_ERROR(r, 409, "Image already exists");
  r = Call(c, "PUT", "/v1/images/" + done->id + "/json",
           With(token, {{"X-Docker-Encrypt", kCapability}}), done->json);
  EXPECT_JSON_ERROR(r, 409, "Image already exists");
  r = Call(c, "PUT", "/v1/images/" + orphan->id + "/json",
           With(token, {{"X-Docker-Encrypt", kCapability}}), orphan->json);
  EXPECT_JSON_ERROR(r, 400, "Image depends on a non existing parent");
}

// The must-show: an encrypted chain pushed (index mode, §6.7) and pulled
// back, each layer decrypting to the original bytes.
TEST_F(EncryptTest, EncryptedChainPushedAndPulledBack) {
  const RegistryClient c = on_->client();
  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  // scratch <- hello <- sudoers, all under the §6.5 vector password.
  std::vector<TestImage> images(chain->begin(), chain->begin() + 3);
  const Password pw = Derive(kVectorPassword, kVectorSalt, 100000);
  ASSERT_EQ(pw.sign, kVectorSign);
  std::map<std::string, std::string> ciphertext;
  for (const TestImage& i : images) {
    ciphertext[i.id] = EncryptLayer(LayerKey(pw, i.id), i.id, i.layer, 1024);
  }
  EXPECT_EQ(Hex(LayerKey(pw, kSudoersId)),
            "cefff5f8e3d133f36f911b4d51b435ebd7322f7351f698c4a9cfb688ce69d4e9");

  // §6.7 push: ping, PUT repository (Basic), per image probe / json with
  // declaration / encrypted layer / checksum of the ciphertext / tag, then
  // PUT images.
  HttpResponse ping = Call(c, "GET", "/v1/_ping");
  ASSERT_EQ(ping.Header("X-Docker-Encrypt").value_or(""), kCapability);
  auto reg = SignUp(c, "erin", "erin-pw-123", "erin@example.com");
  ASSERT_TRUE(reg.ok() && reg->status == 201);
  const std::string erin = Basic("erin", "erin-pw-123");
  nlohmann::json list = nlohmann::json::array();
  for (const TestImage& i : images) list.push_back({{"id", i.id}});
  list.back()["Tag"] = "latest";
  HttpResponse repo = Call(c, "PUT", "/v1/repositories/erin/secret/",
                           {{"Authorization", erin}, {"X-Docker-Token", "true"}}, list.dump());
  ASSERT_EQ(repo.status, 200) << Show(repo);
  const std::string token = repo.Header("X-Docker-Token").value_or("");
  const HeaderVec cap = {{"X-Docker-Encrypt", "true"}};
  for (const TestImage& i : images) {
    const std::string base = "/v1/images/" + i.id;
    HttpResponse probe = Call(c, "GET", base + "/json", With(token, cap));
    EXPECT_EQ(probe.status, 404) << Show(probe);
    HttpResponse j = Call(c, "PUT", base + "/json",
                          With(token, {{"X-Docker-Encrypt", kCapability},
                                       {"X-Docker-Sign", pw.sign},
                                       {"Content-Type", "application/json"}}),
                          i.json);
    ASSERT_EQ(j.status, 200) << Show(j);
    HttpResponse l = Must(RegistryClient(c).Request(
        "PUT", base + "/layer",
        With(token, {{"Transfer-Encoding", "chunked"},
                     {"Content-Type", "application/octet-stream"}}),
        ChunkedEncode(ciphertext[i.id], 777)));
    ASSERT_EQ(l.status, 200) << Show(l);
    HttpResponse cs = Call(c, "PUT", base + "/checksum",
                           With(token, {{"X-Docker-Checksum-Payload",
                                         PayloadChecksum(i.json, ciphertext[i.id])}}));
    ASSERT_EQ(cs.status, 200) << Show(cs);
  }
  HttpResponse tag = Call(c, "PUT", "/v1/repositories/erin/secret/tags/latest", With(token),
                          "\"" + std::string(kSudoersId) + "\"");
  ASSERT_EQ(tag.status, 200) << Show(tag);
  HttpResponse done = Call(c, "PUT", "/v1/repositories/erin/secret/images",
                           {{"Authorization", erin}, {"X-Docker-Token", "true"}}, "[]");
  ASSERT_EQ(done.status, 204) << Show(done);

  // §6.7 pull: GET images (anonymous, public) → read token; tags;
  // ancestry; per image root first: json (status headers, verify the
  // password) then layer with the capability, decrypt.
  HttpResponse li = Call(c, "GET", "/v1/repositories/erin/secret/images",
                         {{"X-Docker-Token", "true"}, {"X-Docker-Encrypt", "true"}});
  ASSERT_EQ(li.status, 200) << Show(li);
  EXPECT_EQ(li.Header("X-Docker-Encrypt").value_or(""), kCapability);
  const std::string read = li.Header("X-Docker-Token").value_or("");
  HttpResponse tags = Call(c, "GET", "/v1/repositories/erin/secret/tags", With(read, cap));
  ASSERT_EQ(tags.status, 200);
  EXPECT_EQ(nlohmann::json::parse(tags.body, nullptr, false),
            nlohmann::json({{"latest", kSudoersId}}));
  HttpResponse anc = Call(c, "GET", absl::StrCat("/v1/images/", kSudoersId, "/ancestry"),
                          With(read, cap));
  ASSERT_EQ(anc.status, 200);
  auto ancestry = nlohmann::json::parse(anc.body, nullptr, false);
  ASSERT_EQ(ancestry, nlohmann::json({kSudoersId, kHelloId, kScratchId}));
  for (auto it = ancestry.rbegin(); it != ancestry.rend(); ++it) {
    const std::string id = it->get<std::string>();
    const TestImage& original = *std::find_if(images.begin(), images.end(),
                                              [&](const TestImage& t) { return t.id == id; });
    const std::string& ct = ciphertext[id];
    const std::string base = "/v1/images/" + id;
    HttpResponse j = Call(c, "GET", base + "/json", With(read, cap));
    ASSERT_EQ(j.status, 200) << Show(j);
    EXPECT_EQ(j.body, original.json);
    EXPECT_EQ(j.Header("X-Docker-Encrypt").value_or(""), kCapability);
    const std::string sign = j.Header("X-Docker-Sign").value_or("");
    EXPECT_EQ(sign, kVectorSign);
    EXPECT_TRUE(PasswordMatches(kVectorPassword, sign));
    EXPECT_FALSE(PasswordMatches("wrong password", sign));
    EXPECT_EQ(j.Header("X-Docker-Size").value_or(""), std::to_string(ct.size()));
    EXPECT_EQ(j.Header("X-Docker-Checksum-Payload").value_or(""),
              PayloadChecksum(original.json, ct));
    EXPECT_FALSE(j.Header("X-Docker-Checksum").has_value())
        << "no TarSum for an encrypted image without a client TarSum: "
        << j.Header("X-Docker-Checksum").value_or("");
    // Rule 5 on HEAD json too, without the capability.
    HttpResponse hj = Call(c, "HEAD", base + "/json", With(read));
    EXPECT_EQ(hj.status, 200);
    EXPECT_EQ(hj.Header("X-Docker-Sign").value_or(""), kVectorSign);
    // Rule 6: no capability, "false", or a list without this scheme → 406.
    for (const HeaderVec& h : {HeaderVec{}, HeaderVec{{"X-Docker-Encrypt", "false"}},
                               HeaderVec{{"X-Docker-Encrypt", "true; scheme=rot13"}}}) {
      const std::string what = h.empty() ? "<absent>" : h[0].second;
      HttpResponse l = Call(c, "GET", base + "/layer", With(read, h));
      EXPECT_JSON_ERROR(l, 406, kNotAllowed);
      EXPECT_EQ(Call(c, "HEAD", base + "/layer", With(read, h)).status, 406) << what;
    }
    for (const std::string& capability : {std::string("true"), std::string(kCapability),
                                          std::string("true; scheme=rot13; scheme=") + kScheme}) {
      HttpResponse l = Call(c, "GET", base + "/layer",
                            With(read, {{"X-Docker-Encrypt", capability}}));
      ASSERT_EQ(l.status, 200) << capability << ": " << Show(l);
      EXPECT_EQ(l.Header("X-Docker-Encrypt").value_or(""), kCapability);
      EXPECT_EQ(l.Header("X-Docker-Sign").value_or(""), kVectorSign);
      EXPECT_TRUE(l.body == ct) << "ciphertext served as uploaded";
      auto plain = DecryptLayer(LayerKey(pw, id), id, l.body);
      ASSERT_TRUE(plain.ok()) << id << ": " << plain.status();
      EXPECT_TRUE(*plain == original.layer) << "decrypted layer differs from the original: " << id;
    }
    // Ranges apply to the ciphertext.
    HttpResponse part = Call(c, "GET", base + "/layer",
                             With(read, {{"X-Docker-Encrypt", "true"}, {"Range", "bytes=12-"}}));
    EXPECT_EQ(part.status, 206);
    EXPECT_TRUE(part.body == ct.substr(12));
    // Rule 7: no file list, no diff.
    EXPECT_JSON_ERROR(Call(c, "GET", base + "/files", With(read, cap)), 400, "Image is encrypted");
    EXPECT_JSON_ERROR(Call(c, "GET", base + "/diff", With(read, cap)), 400, "Image is encrypted");
  }
  // The sudoers layer decrypts to the testdata file itself.
  auto file = ReadTestdata(absl::StrCat(kSudoersId, "/layer.tar.gz"));
  ASSERT_TRUE(file.ok());
  HttpResponse l = Call(c, "GET", absl::StrCat("/v1/images/", kSudoersId, "/layer"),
                        With(read, cap));
  auto plain = DecryptLayer(LayerKey(pw, kSudoersId), kSudoersId, l.body);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(*plain == *file);
}

// §6.4 rules 3–4: no TarSum or file list is computed for an encrypted
// image — shown with a "ciphertext" that is in fact a readable tar, so a
// computed TarSum would appear; a client TarSum sent at confirm is kept.
TEST_F(EncryptTest, NoTarSumForEncryptedImages) {
  const RegistryClient c = on_->client();
  auto tar = ReadTestdata(absl::StrCat(kSudoersId, "/layer.tar"));
  ASSERT_TRUE(tar.ok()) << tar.status();
  auto enc = MakeImage("encrypt/tarsum-encrypted", "", absl::StrCat(kSudoersId, "/layer.tar"));
  auto enc2 = MakeImage("encrypt/tarsum-encrypted-client", "",
                        absl::StrCat(kSudoersId, "/layer.tar"));
  auto plain = MakeImage("encrypt/tarsum-plain", "", absl::StrCat(kSudoersId, "/layer.tar"));
  ASSERT_TRUE(enc.ok() && enc2.ok() && plain.ok());
  const std::string token = AdminToken("tarsum", {enc->id, enc2->id, plain->id});
  const Password pw = Derive("tarsum-password", kVectorSalt, 10000);
  const std::string client_tarsum =
      "tarsum+sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  auto push = [&](const TestImage& img, bool encrypted, const std::string& ts) {
    HeaderVec h;
    if (encrypted) h = {{"X-Docker-Encrypt", kCapability}, {"X-Docker-Sign", pw.sign}};
    ASSERT_EQ(Call(c, "PUT", "/v1/images/" + img.id + "/json", With(token, h), img.json).status,
              200);
    ASSERT_EQ(Call(c, "PUT", "/v1/images/" + img.id + "/layer", With(token), img.layer).status,
              200);
    HeaderVec cs = {{"X-Docker-Checksum-Payload", img.payload_checksum}};
    if (!ts.empty()) cs.emplace_back("X-Docker-Checksum", ts);
    ASSERT_EQ(Call(c, "PUT", "/v1/images/" + img.id + "/checksum", With(token, cs)).status, 200);
  };
  push(*plain, false, "");
  push(*enc, true, "");
  push(*enc2, true, client_tarsum);
  HttpResponse p = Call(c, "GET", "/v1/images/" + plain->id + "/json", With(token));
  EXPECT_TRUE(absl::StartsWith(p.Header("X-Docker-Checksum").value_or(""), "tarsum+sha256:"))
      << "control: the plain copy of the same tar gets a computed TarSum";
  EXPECT_EQ(p.Header("X-Docker-Encrypt").value_or(""), "false");
  EXPECT_FALSE(p.Header("X-Docker-Sign").has_value());
  EXPECT_EQ(Call(c, "GET", "/v1/images/" + plain->id + "/files", With(token)).status, 200);
  HttpResponse e = Call(c, "GET", "/v1/images/" + enc->id + "/json", With(token));
  EXPECT_EQ(e.status, 200);
  EXPECT_FALSE(e.Header("X-Docker-Checksum").has_value())
      << "computed a TarSum of an encrypted layer: " << e.Header("X-Docker-Checksum").value_or("");
  EXPECT_JSON_ERROR(Call(c, "GET", "/v1/images/" + enc->id + "/files", With(token)), 400,
                    "Image is encrypted");
  HttpResponse e2 = Call(c, "GET", "/v1/images/" + enc2->id + "/json", With(token));
  EXPECT_EQ(e2.Header("X-Docker-Checksum").value_or(""), client_tarsum);
  // The image list shows no checksum for the encrypted image without one.
  HttpResponse list = Call(c, "GET", "/v1/repositories/admin/tarsum/images",
                           {{"Authorization", Basic(kAdminUser, kAdminPassword)}});
  auto j = nlohmann::json::parse(list.body, nullptr, false);
  ASSERT_TRUE(j.is_array()) << list.body;
  for (const auto& entry : j) {
    if (entry.value("id", "") == enc->id) {
      EXPECT_FALSE(entry.contains("checksum")) << entry;
    }
    if (entry.value("id", "") == enc2->id) {
      EXPECT_EQ(entry.value("checksum", ""), client_tarsum);
    }
  }
}

// --encryption=false: no X-Docker-Encrypt anywhere (§7.9 rule 9), and the
// request headers are ignored. (§6.4 rule 1's first row — 412 "Image
// encryption is not supported by this registry" — contradicts rule 9's
// "ignores the header on requests"; the server follows rule 9.)
TEST_F(EncryptTest, DisabledFeatureSendsNoHeadersAndIgnoresRequests) {
  const RegistryClient c = off_->client();
  const Password pw = Derive("off-password", kVectorSalt, 10000);
  auto img = MakeImage("encrypt/off", "", absl::StrCat(kSudoersId, "/layer.tar"));
  auto img2 = MakeImage("encrypt/off-sign-only", "", "synthetic_hello.tar");
  ASSERT_TRUE(img.ok() && img2.ok());
  std::vector<HttpResponse> answers;
  answers.push_back(Call(c, "GET", "/_ping"));
  answers.push_back(Call(c, "GET", "/v1/_ping"));
  answers.push_back(*PutRepo(c, "off/repo", "", {img->id, img2->id}));
  HttpResponse j = Call(c, "PUT", "/v1/images/" + img->id + "/json",
                        {{"X-Docker-Encrypt", kCapability}, {"X-Docker-Sign", pw.sign}}, img->json);
  EXPECT_EQ(j.status, 200) << "declaration ignored: " << Show(j);
  answers.push_back(j);
  answers.push_back(Call(c, "PUT", "/v1/images/" + img->id + "/layer", {}, img->layer));
  answers.push_back(Call(c, "PUT", "/v1/images/" + img->id + "/checksum",
                         {{"X-Docker-Checksum-Payload", img->payload_checksum}}));
  HttpResponse sign_only = Call(c, "PUT", "/v1/images/" + img2->id + "/json",
                                {{"X-Docker-Sign", pw.sign}, {"X-Docker-Encrypt", "maybe"}},
                                img2->json);
  EXPECT_EQ(sign_only.status, 200) << "sign and unparsable declaration ignored: "
                                   << Show(sign_only);
  answers.push_back(Call(c, "GET", "/v1/repositories/off/repo/images", {{"X-Docker-Token", "true"}}));
  HttpResponse json = Call(c, "GET", "/v1/images/" + img->id + "/json");
  answers.push_back(json);
  HttpResponse layer = Call(c, "GET", "/v1/images/" + img->id + "/layer");
  EXPECT_EQ(layer.status, 200) << "stored as a plain image: " << Show(layer);
  EXPECT_TRUE(layer.body == img->layer);
  answers.push_back(layer);
  answers.push_back(Call(c, "HEAD", "/v1/images/" + img->id + "/layer",
                         {{"X-Docker-Encrypt", "true"}}));
  for (const HttpResponse& r : answers) {
    EXPECT_FALSE(r.Header("X-Docker-Encrypt").has_value()) << Show(r);
    EXPECT_FALSE(r.Header("X-Docker-Sign").has_value()) << Show(r);
  }
  EXPECT_TRUE(absl::StartsWith(json.Header("X-Docker-Checksum").value_or(""), "tarsum+sha256:"))
      << "treated as plain: TarSum computed";
  EXPECT_EQ(Call(c, "GET", "/v1/images/" + img->id + "/files").status, 200);
}

}  // namespace
}  // namespace berth::testing

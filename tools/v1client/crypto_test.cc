// The §6.5 password-verifier vector, K_layer, and the §6.6 chunked format
// (known-answer ciphertexts computed independently with Python's
// `cryptography` AESGCM; round trips; every kind of damage is rejected).
#include "tools/v1client/crypto.h"

#include <string>

#include "common/sha256.h"
#include "gtest/gtest.h"

namespace berth::v1client {
namespace {

constexpr char kPassword[] = "correct horse battery staple";
constexpr char kId[] = "46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457";

std::string Salt() { return *FromHex("000102030405060708090a0b0c0d0e0f"); }

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + 3) % 256);
  return s;
}

TEST(CryptoTest, SpecVectorDerivedKey) {
  EXPECT_EQ(ToHex(Pbkdf2Sha256(kPassword, Salt(), 100000, 64)),
            "49d49c25f597846209f0d92e7770ab64e1c75e94b4ce6c509265ee67175d2a1e"
            "774b608062dc707de6ae4a581af6282218af5793bd94e935a75bb21f74f7848c");
}

TEST(CryptoTest, SpecVectorSignAndLayerKey) {
  absl::StatusOr<ChainKeys> k = ChainKeys::Derive(kPassword, Salt(), 100000);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->sign(),
            "pbkdf2-sha256$100000$000102030405060708090a0b0c0d0e0f$"
            "353c15b4fcbb1f81468707da8227dc763dce1ff078e451c4b11f3718482bd05e");
  EXPECT_EQ(ToHex(k->LayerKey(kId)),
            "cefff5f8e3d133f36f911b4d51b435ebd7322f7351f698c4a9cfb688ce69d4e9");
}

TEST(CryptoTest, FromSignChecksThePassword) {
  const std::string sign =
      "pbkdf2-sha256$100000$000102030405060708090a0b0c0d0e0f$"
      "353c15b4fcbb1f81468707da8227dc763dce1ff078e451c4b11f3718482bd05e";
  absl::StatusOr<ChainKeys> right = ChainKeys::FromSign(kPassword, sign);
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_EQ(right->sign(), sign);
  absl::StatusOr<ChainKeys> wrong = ChainKeys::FromSign("Tr0ub4dor&3", sign);
  EXPECT_TRUE(absl::IsPermissionDenied(wrong.status())) << wrong.status();
}

TEST(CryptoTest, ParseSignRejectsMalformedValues) {
  const std::string v(64, 'a');
  const std::string salt(32, '0');
  EXPECT_TRUE(ParseSign("pbkdf2-sha256$10000$" + salt + "$" + v).ok());
  EXPECT_FALSE(ParseSign("pbkdf2-sha256$9999$" + salt + "$" + v).ok());   // < 10000
  EXPECT_FALSE(ParseSign("pbkdf2-sha256$010000$" + salt + "$" + v).ok());  // leading 0
  EXPECT_FALSE(ParseSign("pbkdf2-sha1$10000$" + salt + "$" + v).ok());
  EXPECT_FALSE(ParseSign("pbkdf2-sha256$10000$" + salt.substr(2) + "$" + v).ok());
  EXPECT_FALSE(ParseSign("pbkdf2-sha256$10000$" + salt + "$" + std::string(64, 'A')).ok());
  EXPECT_FALSE(ParseSign("").ok());
}

TEST(CryptoTest, KnownAnswerEmptyLayer) {
  std::string key = *FromHex("cefff5f8e3d133f36f911b4d51b435ebd7322f7351f698c4a9cfb688ce69d4e9");
  absl::StatusOr<std::string> c = EncryptLayer(key, kId, "", 1024);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(ToHex(*c), "444b52454e43303100000400c2df4e456084c56e538d54b90ccc3c7e");
  absl::StatusOr<std::string> p = DecryptLayer(key, kId, *c);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, "");
}

TEST(CryptoTest, KnownAnswerThreeChunks) {
  std::string key = *FromHex("cefff5f8e3d133f36f911b4d51b435ebd7322f7351f698c4a9cfb688ce69d4e9");
  absl::StatusOr<std::string> c = EncryptLayer(key, kId, Pattern(2500), 1024);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size(), 2560u);
  EXPECT_EQ(LayerEncryptor::CiphertextSize(2500, 1024), 2560u);
  EXPECT_EQ(Sha256Hex(*c), "80d9003c2cc174196d0bf22ee7d4541c0b66d32e9b280840395892b5f21651fe");
}

TEST(CryptoTest, StreamingRoundTripsAtChunkBoundaries) {
  std::string key(32, 'k');
  for (size_t n : {0, 1, 1023, 1024, 1025, 2048, 3 * 1024 + 17}) {
    std::string plain = Pattern(n);
    absl::StatusOr<std::string> oneshot = EncryptLayer(key, kId, plain, 1024);
    ASSERT_TRUE(oneshot.ok());
    EXPECT_EQ(oneshot->size(), LayerEncryptor::CiphertextSize(n, 1024)) << n;
    // Feeding odd-sized pieces gives the same bytes.
    LayerEncryptor enc(key, kId, 1024);
    std::string streamed;
    for (size_t pos = 0; pos < n; pos += 333) streamed += *enc.Update(plain.substr(pos, 333));
    streamed += *enc.Finish();
    EXPECT_EQ(streamed, *oneshot) << n;
    LayerDecryptor dec(key, kId);
    std::string back;
    for (size_t pos = 0; pos < streamed.size(); pos += 100) {
      absl::StatusOr<std::string> p = dec.Update(streamed.substr(pos, 100));
      ASSERT_TRUE(p.ok()) << p.status();
      back += *p;
    }
    absl::StatusOr<std::string> tail = dec.Finish();
    ASSERT_TRUE(tail.ok()) << n << " " << tail.status();
    EXPECT_EQ(back + *tail, plain) << n;
  }
}

TEST(CryptoTest, DamageIsRejected) {
  std::string key(32, 'k');
  std::string c = *EncryptLayer(key, kId, Pattern(3000), 1024);
  // Wrong key, wrong image id (aad).
  EXPECT_TRUE(absl::IsDataLoss(DecryptLayer(std::string(32, 'x'), kId, c).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecryptLayer(key, std::string(64, '0'), c).status()));
  // Truncated: the final chunk missing (the rest ends on a non-final chunk).
  EXPECT_TRUE(absl::IsDataLoss(DecryptLayer(key, kId, c.substr(0, 12 + 2 * 1040)).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecryptLayer(key, kId, c.substr(0, c.size() - 1)).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecryptLayer(key, kId, c.substr(0, 5)).status()));
  // A flipped bit.
  std::string flipped = c;
  flipped[100] ^= 1;
  EXPECT_TRUE(absl::IsDataLoss(DecryptLayer(key, kId, flipped).status()));
  // Two chunks swapped.
  std::string swapped = c.substr(0, 12) + c.substr(12 + 1040, 1040) + c.substr(12, 1040) +
                        c.substr(12 + 2080);
  EXPECT_TRUE(absl::IsDataLoss(DecryptLayer(key, kId, swapped).status()));
  // Bad magic, chunk size out of range.
  std::string magic = c;
  magic[0] = 'X';
  EXPECT_TRUE(absl::IsDataLoss(DecryptLayer(key, kId, magic).status()));
  std::string small = c;
  small[10] = 0;  // chunk size 0x000000
  small[11] = 0;
  EXPECT_TRUE(absl::IsDataLoss(DecryptLayer(key, kId, small).status()));
  // And the undamaged one decrypts.
  EXPECT_EQ(*DecryptLayer(key, kId, c), Pattern(3000));
}

}  // namespace
}  // namespace berth::v1client

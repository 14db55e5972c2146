#include "frontend/auth/encryption.h"

#include "gtest/gtest.h"

namespace berth::auth {
namespace {

TEST(EncryptionTest, SpecVectorOfSection65) {
  EXPECT_EQ(MakeSign("correct horse battery staple",
                     "000102030405060708090a0b0c0d0e0f", 100000),
            "pbkdf2-sha256$100000$000102030405060708090a0b0c0d0e0f$"
            "353c15b4fcbb1f81468707da8227dc763dce1ff078e451c4b11f3718482bd05e");
}

TEST(EncryptionTest, ParsesDeclarationsAndCapabilities) {
  auto h = ParseEncrypt("TRUE ; scheme=aes-256-gcm-chunked-v1; x=y");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->flag);
  ASSERT_EQ(h->schemes.size(), 1u);
  EXPECT_EQ(h->schemes[0], "aes-256-gcm-chunked-v1");
  EXPECT_FALSE(ParseEncrypt("false").value().flag);
  EXPECT_FALSE(ParseEncrypt("maybe").ok());
  EXPECT_FALSE(ParseEncrypt("true; scheme=AES").ok());
  EXPECT_FALSE(ParseEncrypt("true; scheme").ok());
  EXPECT_EQ(CapabilityHeader(true), "true; scheme=aes-256-gcm-chunked-v1");
  EXPECT_EQ(CapabilityHeader(false), "false");
}

TEST(EncryptionTest, ClientCapabilityRule) {
  const std::string s = kEncryptionScheme;
  EXPECT_FALSE(ClientCanDecrypt(std::nullopt, s));
  EXPECT_FALSE(ClientCanDecrypt(std::string("false"), s));
  EXPECT_TRUE(ClientCanDecrypt(std::string("true"), s));
  EXPECT_TRUE(ClientCanDecrypt(std::string("true; scheme=x; scheme=") + s, s));
  EXPECT_FALSE(ClientCanDecrypt(std::string("true; scheme=other"), s));
}

TEST(EncryptionTest, SignSyntax) {
  const std::string salt = "000102030405060708090a0b0c0d0e0f";
  const std::string ver(64, 'a');
  EXPECT_TRUE(ValidSign("pbkdf2-sha256$100000$" + salt + "$" + ver));
  EXPECT_TRUE(ValidSign("pbkdf2-sha256$10000$" + salt + "$" + ver));
  EXPECT_FALSE(ValidSign("pbkdf2-sha256$9999$" + salt + "$" + ver));
  EXPECT_FALSE(ValidSign("pbkdf2-sha256$010000$" + salt + "$" + ver));
  EXPECT_FALSE(ValidSign("pbkdf2-sha256$100000$" + salt + "$" + ver + "a"));
  EXPECT_FALSE(ValidSign("pbkdf2-sha256$100000$" + salt.substr(2) + "$" + ver));
  EXPECT_FALSE(ValidSign("pbkdf2-sha512$100000$" + salt + "$" + ver));
  EXPECT_FALSE(ValidSign("pbkdf2-sha256$100000$" + salt + "$" +
                         std::string(64, 'A')));
}

}  // namespace
}  // namespace berth::auth

#include "metadata/password.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace berth::meta {
namespace {

TEST(PasswordTest, HashIsSaltedAndVerifies) {
  auto a = HashPassword("s3cret-pw");
  auto b = HashPassword("s3cret-pw");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(absl::StartsWith(*a, "scrypt$16384$8$1$"));
  EXPECT_NE(*a, *b);  // different salts
  EXPECT_FALSE(absl::StrContains(*a, "s3cret-pw"));
  EXPECT_TRUE(VerifyPassword("s3cret-pw", *a));
  EXPECT_TRUE(VerifyPassword("s3cret-pw", *b));
  EXPECT_FALSE(VerifyPassword("s3cret-pX", *a));
  EXPECT_FALSE(VerifyPassword("", *a));
}

TEST(PasswordTest, MalformedHashesNeverMatch) {
  EXPECT_FALSE(HashPassword("").ok());
  EXPECT_FALSE(VerifyPassword("x", ""));
  EXPECT_FALSE(VerifyPassword("x", "x"));
  EXPECT_FALSE(VerifyPassword("x", "scrypt$16384$8$1$00$00"));
  EXPECT_FALSE(VerifyPassword("x", "scrypt$999999999$8$1$" +
                                       std::string(32, '0') + "$" +
                                       std::string(64, '0')));
}

}  // namespace
}  // namespace berth::meta
